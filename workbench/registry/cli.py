"""``workbench models | rollback | export | import``: parse, call the registry, print."""

from __future__ import annotations

import argparse
from typing import Any


def _registry() -> Any:
    from workbench.registry.api import default_registry

    return default_registry()


def _models(args: argparse.Namespace) -> int:
    registry = _registry()
    if args.version is not None:
        if not args.name:
            from workbench.errors import ModelNotFoundError

            raise ModelNotFoundError("--version needs a model name: workbench models NAME --version N")
        print(registry.get(args.name, version=args.version))
        return 0
    table = registry.model_versions(args.name) if args.name else registry.models()
    print(table if table else "no models registered")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    version = _registry().rollback(args.name)
    print(f"{version.name} v{version.version} is back in production")
    return 0


def _export(args: argparse.Namespace) -> int:
    from workbench.registry.transfer import export_version

    path = export_version(_registry(), args.name, args.version, args.path)
    print(f"exported {args.name} v{args.version} to {path}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from workbench.registry.transfer import import_version

    version = import_version(_registry(), args.path, trust=args.trust, name=args.name)
    print(f"imported {args.path} as {version.name} v{version.version} ({version.stage})")
    return 0


def add_commands(subparsers: Any) -> None:
    """Add the registry's subcommands to the ``workbench`` parser."""
    models = subparsers.add_parser("models", help="list models, or the versions of one model")
    models.add_argument("name", nargs="?", help="a model name: list its versions")
    models.add_argument("--version", type=int, help="show this version of the model in detail (metrics, lineage)")
    models.set_defaults(func=_models)

    rollback = subparsers.add_parser("rollback", help="put back the previous production version")
    rollback.add_argument("name")
    rollback.set_defaults(func=_rollback)

    export = subparsers.add_parser("export", help="write one model version to a file")
    export.add_argument("name")
    export.add_argument("version", type=int)
    export.add_argument("path")
    export.set_defaults(func=_export)

    importer = subparsers.add_parser("import", help="register a model version from an exported file")
    importer.add_argument("path")
    importer.add_argument("--name", help="register under this name instead of the exported one")
    importer.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help="a type the artifact may contain beyond skops' defaults (repeatable)",
    )
    importer.set_defaults(func=_import)


__all__ = ["add_commands"]
