"""Notebook parameters: parsed as papermill's CLI parses them, validated, injected as data.

papermill injects parameter *names* verbatim and escapes only double quotes in string
values, so a crafted name or value can run code in the kernel. workbench writes the
injected cell itself: names must be identifiers and not keywords, and every value is
written with ``repr`` of a type whose ``repr`` is a Python literal, checked to read back
equal with :func:`ast.literal_eval`. Values that cannot round-trip exactly (dates, sets,
NaN, objects) are refused, never turned into strings.
"""

from __future__ import annotations

import ast
import keyword
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from workbench.errors import BadParametersError

INJECTED_TAG = "injected-parameters"
PARAMETERS_TAG = "parameters"


@dataclass(frozen=True)
class Parameter:
    """A parameter declared in the notebook's ``parameters`` cell."""

    name: str
    type: str
    default: str
    help: str = ""


def parse_value(text: str) -> Any:
    """A ``-p NAME VALUE`` value, read exactly as papermill's CLI reads it.

    ``True``, ``False`` and ``None`` (those spellings only), then anything Python's ``int()``
    accepts (``010`` is 10, ``1_000`` is 1000), then anything ``float()`` accepts (``1e3``,
    ``0.5``; ``nan`` and ``inf`` are then refused by :func:`validate_parameters`); every other
    text is the string given, byte for byte (``no``, ``12:30``, ``[1, 2]``, ``a # b``, new
    lines). Lists and maps go through ``-y`` or ``-f``, as in papermill.
    """
    if text == "True":
        return True
    if text == "False":
        return False
    if text == "None":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


def parse_yaml_mapping(text: str, source: str = "-y") -> dict[str, Any]:
    """Parameters from a YAML mapping (``-y 'layers: [1, 2]'``, or a ``-f`` file's text), read by
    papermill's own loader: YAML 1.1 as PyYAML reads it, except that dates stay strings."""
    from papermill.iorw import NoDatesSafeLoader

    try:
        data = yaml.load(text, Loader=NoDatesSafeLoader)
    except yaml.YAMLError as exc:
        raise BadParametersError(f"{source} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadParametersError(f"{source} must hold a mapping of parameter names to values, e.g. 'layers: [1, 2]'")
    return data


def load_parameters_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parameters from a YAML mapping file (``-f params.yaml``), read as papermill reads it."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise BadParametersError(f"no parameters file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadParametersError(f"cannot read the parameters file {path}: {exc}") from exc
    return parse_yaml_mapping(text, str(path))


def _check_value(name: str, value: Any, path: str = "") -> None:
    where = f"{name}{path}"
    if value is None or isinstance(value, bool | str | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadParametersError(
                f"parameter {where} is {value!r}, which cannot be injected as a literal",
                hint="pass a finite number, or a string the notebook converts",
                parameter=name,
            )
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_value(name, item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str | int | float | bool) or key is None:
                raise BadParametersError(f"parameter {where} has a key of type {type(key).__name__}")
            _check_value(name, item, f"{path}[{key!r}]")
        return
    raise BadParametersError(
        f"parameter {where} is a {type(value).__name__} ({value!r}), which cannot be passed exactly",
        hint="pass it as a string (quote it in YAML, e.g. '2024-01-31') and convert it in the notebook",
        parameter=name,
    )


def validate_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Check names and values; return a plain dict. Raises :class:`BadParametersError`."""
    clean: dict[str, Any] = {}
    for name, value in parameters.items():
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise BadParametersError(
                f"parameter name {name!r} is not a Python identifier",
                hint="use letters, digits and underscores, not starting with a digit",
                parameter=repr(name),
            )
        if not name.isascii():
            raise BadParametersError(f"parameter name {name!r} must be ASCII", parameter=repr(name))
        _check_value(name, value)
        clean[name] = value
    return clean


def injected_source(parameters: Mapping[str, Any]) -> str:
    """The source of the injected cell; each value is checked to read back equal."""
    lines = ["# Parameters"]
    for name, value in validate_parameters(parameters).items():
        literal = repr(value)
        if ast.literal_eval(literal) != value or "\n" in literal:
            raise BadParametersError(f"parameter {name} does not survive injection exactly", parameter=name)
        lines.append(f"{name} = {literal}")
    return "\n".join(lines) + "\n"


def declared_parameters(nb: Any) -> list[Parameter]:
    """Parameters of the notebook's ``parameters`` cell (papermill's own inspection)."""
    from papermill.inspection import _infer_parameters

    return [
        Parameter(p.name, _type_name(p.inferred_type_name, p.default), p.default, p.help)
        for p in _infer_parameters(nb)
    ]


def _type_name(annotated: str, default: str) -> str:
    """The annotation papermill found, else the type of the default when it is a literal."""
    if annotated and annotated != "None":
        return annotated
    try:
        return type(ast.literal_eval(default)).__name__
    except (ValueError, SyntaxError):
        return "unknown"


def check_known(nb: Any, parameters: Mapping[str, Any], allow_new: bool) -> None:
    """Refuse names the notebook does not declare (before any kernel starts)."""
    if allow_new or not parameters:
        return
    declared = {p.name for p in declared_parameters(nb)}
    unknown = sorted(set(parameters) - declared)
    if unknown:
        known = ", ".join(sorted(declared)) or "none (the notebook has no cell tagged 'parameters')"
        raise BadParametersError(
            f"unknown parameter {unknown[0]!r}; the notebook declares: {known}",
            hint="fix the name, or pass --allow-new-params to inject it anyway",
            parameter=unknown[0],
        )


def inject(nb: Any, parameters: Mapping[str, Any]) -> Any:
    """Insert (or replace) the injected-parameters cell after the ``parameters`` cell."""
    import nbformat

    source = injected_source(parameters)
    cell = nbformat.v4.new_code_cell(source=source)
    cell.metadata["tags"] = [INJECTED_TAG]
    tags = [c.get("metadata", {}).get("tags", []) for c in nb.cells]
    injected = next((i for i, t in enumerate(tags) if INJECTED_TAG in t), None)
    declared = next((i for i, t in enumerate(tags) if PARAMETERS_TAG in t), None)
    if injected is not None:
        nb.cells[injected] = cell
    elif declared is not None:
        nb.cells.insert(declared + 1, cell)
    else:
        nb.cells.insert(0, cell)
    nb.metadata.setdefault("papermill", {})["parameters"] = dict(parameters)
    return nb


__all__ = [
    "Parameter",
    "check_known",
    "declared_parameters",
    "inject",
    "injected_source",
    "load_parameters_file",
    "parse_value",
    "parse_yaml_mapping",
    "validate_parameters",
]
