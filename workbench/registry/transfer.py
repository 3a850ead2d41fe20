"""Moving a version between registries as one file: ``workbench export`` / ``workbench import``.

The file is a zip holding ``workbench-model.json`` (the version's metadata) and
``artifact`` (its bytes). An imported file is treated as coming from a stranger: its
artifact must match its recorded SHA-256, its metadata is checked like user input, and
its trusted-types list is ignored: the types are read again from the artifact (without
loading it) and each one must be named by the importer, or the import is refused.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

from workbench.errors import IntegrityError, InvalidMetadataError, UnsafeModelError
from workbench.fsutil import atomic_write_bytes
from workbench.names import validate_name
from workbench.registry.api import Registry, check_metadata
from workbench.registry.formats import get_format
from workbench.storage.model_records import ModelVersion
from workbench.storage.model_store import sha256_hex

EXPORT_SCHEMA = 1
MANIFEST = "workbench-model.json"
ARTIFACT = "artifact"
MAX_IMPORT_BYTES = 4 * 1024**3
_REEXPORT = "import only files written by `workbench export`; export the version again"


def export_version(registry: Registry, name: str, version: int, path: str | os.PathLike[str]) -> Path:
    """Write ``version`` of ``name`` (artifact verified first) to a zip file at ``path``."""
    import io

    found = registry.get(name, version=version)
    data = registry.store.verified_artifact(found)
    manifest = {"schema": EXPORT_SCHEMA, "name": found.name, "version": found.version, "record": found.to_record()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
        archive.writestr(ARTIFACT, data)
    target = Path(path)
    atomic_write_bytes(target, buffer.getvalue())
    return target


def _read(archive: zipfile.ZipFile, member: str) -> bytes:
    try:
        info = archive.getinfo(member)
    except KeyError as exc:
        raise InvalidMetadataError(f"not a workbench export: {member!r} is missing", hint=_REEXPORT) from exc
    if info.file_size > MAX_IMPORT_BYTES:
        raise InvalidMetadataError(f"{member!r} declares {info.file_size} bytes, over the import limit")
    return archive.read(member)


def import_version(
    registry: Registry, path: str | os.PathLike[str], *, trust: Iterable[str] = (), name: str | None = None
) -> ModelVersion:
    """Register the version in an exported file as the next version of its name (stage dev).

    ``trust`` names the non-default types the artifact may contain (skops); any other is
    refused with :class:`UnsafeModelError`. Nothing is deserialized during the import.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(_read(archive, MANIFEST))
            data = _read(archive, ARTIFACT)
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidMetadataError(f"{os.fspath(path)!r} is not a workbench export: {exc}", hint=_REEXPORT) from exc
    if not isinstance(manifest, dict) or manifest.get("schema") != EXPORT_SCHEMA:
        raise InvalidMetadataError(f"{os.fspath(path)!r} has an unknown export schema", hint=_REEXPORT)
    record = manifest.get("record")
    if not isinstance(record, dict):
        raise InvalidMetadataError(f"{os.fspath(path)!r} has no metadata record", hint=_REEXPORT)
    target = validate_name(name if name is not None else manifest.get("name"), "model name")
    try:
        draft = ModelVersion.from_record(target, 1, "dev", record)
    except TypeError as exc:
        raise InvalidMetadataError(f"{os.fspath(path)!r} has malformed metadata: {exc}") from exc
    if sha256_hex(data) != draft.sha256 or len(data) != draft.size:
        raise IntegrityError(f"the artifact in {os.fspath(path)!r} does not match its recorded SHA-256 and size")
    fmt = get_format(draft.format)
    format_info = fmt.inspect(data)
    untrusted = sorted(set(format_info.get("trusted_types", [])) - set(trust))
    if untrusted:
        raise UnsafeModelError(
            f"{os.fspath(path)!r} contains types that are not trusted by default: {', '.join(untrusted)}",
            hint="import it with --trust TYPE for each type, only if you trust whoever exported it",
            types=untrusted,
        )
    metrics, params, tags = check_metadata(draft.metrics, draft.params, draft.tags)
    clean = ModelVersion.from_record(
        target,
        1,
        "dev",
        {
            **draft.to_record(),
            "metrics": metrics,
            "params": params,
            "tags": tags,
            "format_info": format_info,
            "extra_artifacts": {},  # not exported; an import carries the model itself only
        },
    )
    number = registry.store.add_version(target, clean.to_record(), "dev", data)
    return registry.store.get_version(target, number)


__all__ = ["export_version", "import_version"]
