"""Holdout datasets for the gates: where they come from, and a hash that notices a change.

Sources, as written in a gate's ``holdout``:

- ``sklearn:NAME`` a dataset bundled with scikit-learn (no download): breast_cancer,
  iris, wine, digits;
- a ``.csv`` or ``.parquet`` path (relative to the project's ``pyproject.toml``) whose
  ``target`` column holds the labels;
- ``package.module:function`` returning ``(X, y)``; the project folder is importable;
- ``datamart:NAME@VERSION`` (or ``datamart:NAME``, the newest version) a dataset of the
  configured datamart whose ``target`` column holds the labels.

The hash is of the data, not of a file: column names, shape and values, so re-saving
the same table keeps it, and any changed cell changes it.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.acceptance.config import GateConfig
from workbench.errors import DatamartError, HoldoutError, InvalidNameError, MissingDependencyError, StorageError

BUNDLED = ("breast_cancer", "iris", "wine", "digits")
_FUNCTION = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")


@dataclass(frozen=True)
class Holdout:
    """Features ``X`` and labels ``y`` of a holdout, its ``source`` and data ``sha256``."""

    source: str
    X: Any
    y: Any
    sha256: str

    @property
    def n_samples(self) -> int:
        return len(self.y)


def data_sha256(X: Any, y: Any) -> str:
    """SHA-256 of a dataset's content: column names, shape, then values (numbers as float64)."""
    import numpy as np

    digest = hashlib.sha256()
    names = [str(c) for c in X.columns] if hasattr(X, "columns") else []
    features, labels = np.asarray(X), np.asarray(y)
    digest.update(json.dumps({"columns": names, "X": features.shape, "y": labels.shape}).encode())
    for array in (features, labels):
        if array.dtype.kind in "biuf":
            digest.update(np.ascontiguousarray(array, dtype="<f8").tobytes())
        else:
            digest.update("\x1f".join(map(str, array.ravel().tolist())).encode())
    return digest.hexdigest()


def _bundled(name: str) -> tuple[Any, Any]:
    if name not in BUNDLED:
        raise HoldoutError(
            f"sklearn:{name} is not a dataset bundled with scikit-learn",
            hint=f"use one of {', '.join('sklearn:' + b for b in BUNDLED)}, a file or pkg.module:function",
        )
    from sklearn import datasets

    loader = getattr(datasets, f"load_{name}")
    return loader(return_X_y=True, as_frame=True)  # type: ignore[no-any-return]


def _table(path: Path, target: str | None, source: str) -> tuple[Any, Any]:
    import pandas as pd

    if target is None:
        raise HoldoutError(f"holdout {source} is a table: name its label column with target = '...'")
    try:
        if path.suffix == ".csv":
            frame = pd.read_csv(path)
        else:
            try:
                import pyarrow  # noqa: F401
            except ImportError as exc:
                raise MissingDependencyError(
                    "reading a Parquet holdout needs pyarrow", hint="pip install 'workbench[parquet]'"
                ) from exc
            frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise HoldoutError(f"cannot read holdout {source}: {exc}") from exc
    if target not in frame.columns:
        raise HoldoutError(
            f"holdout {source} has no column {target!r}; its columns: {', '.join(map(str, frame.columns))}"
        )
    return frame.drop(columns=[target]), frame[target]


def _function(spec: str, root: Path) -> tuple[Any, Any]:
    module_name, _, attribute = spec.partition(":")
    added = str(root) not in sys.path
    if added:
        sys.path.append(str(root))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HoldoutError(f"cannot import {module_name!r} for holdout {spec}: {exc}") from exc
    finally:
        if added:
            sys.path.remove(str(root))
    function = getattr(module, attribute, None)
    if not callable(function):
        raise HoldoutError(f"holdout {spec}: {module_name} has no function {attribute!r}")
    result = function()
    if not isinstance(result, tuple) or len(result) != 2:
        raise HoldoutError(f"holdout {spec} must return (X, y), not {type(result).__name__}")
    return result


def _datamart(spec: str, target: str | None, source: str) -> tuple[Any, Any]:
    from workbench import datamart

    if target is None:
        raise HoldoutError(f"holdout {source} is a table: name its label column with target = '...'")
    name, at, version = spec.partition("@")
    if at and not version:
        raise HoldoutError(f"holdout {source} names no version after '@'", hint="write datamart:NAME@VERSION")
    try:
        frame = datamart.get(name, version or None)
    except (DatamartError, InvalidNameError, StorageError) as exc:
        raise HoldoutError(f"cannot read holdout {source}: {exc.message}", hint=exc.hint or None) from exc
    if target not in frame.columns:
        raise HoldoutError(
            f"holdout {source} has no column {target!r}; its columns: {', '.join(map(str, frame.columns))}"
        )
    return frame.drop(columns=[target]), frame[target]


def read_source(source: str, *, root: Path, target: str | None = None) -> tuple[Any, Any]:
    """``(X, y)`` of a holdout source (see the module docstring for the forms it takes)."""
    if source.startswith("datamart:"):
        return _datamart(source.removeprefix("datamart:"), target, source)
    if source.startswith("sklearn:"):
        return _bundled(source.removeprefix("sklearn:"))
    path = Path(source)
    if path.suffix in (".csv", ".parquet"):
        full = path if path.is_absolute() else root / path
        if not full.is_file():
            raise HoldoutError(f"holdout file {source} does not exist (looked for {full})")
        return _table(full, target, source)
    if _FUNCTION.fullmatch(source):
        return _function(source, root)
    raise HoldoutError(
        f"cannot tell what holdout {source!r} is",
        hint="write sklearn:NAME, a path ending .csv or .parquet, pkg.module:function, or datamart:NAME@VERSION",
    )


def _split(X: Any, y: Any, test_size: float, seed: int) -> tuple[Any, Any]:
    """The test part of a stratified split, as ``train_test_split(..., stratify=y)`` makes it."""
    from sklearn.model_selection import train_test_split

    _, X_test, _, y_test = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    return X_test, y_test


def load_holdout(gate: GateConfig) -> Holdout:
    """The holdout of a gate, checked against its pinned ``holdout_sha256`` when it has one."""
    X, y = read_source(gate.holdout, root=gate.root, target=gate.target)
    source = gate.holdout
    if gate.test_size is not None:
        X, y = _split(X, y, gate.test_size, gate.split_seed)
        source = f"{source} (test part {gate.test_size:g}, seed {gate.split_seed})"
    if len(X) != len(y) or len(y) == 0:
        raise HoldoutError(f"holdout {source} has {len(X)} rows of features and {len(y)} labels", model=gate.model)
    sha = data_sha256(X, y)
    if gate.holdout_sha256 is not None and sha != gate.holdout_sha256:
        raise HoldoutError(
            f"holdout {source} of {gate.model!r} changed: its SHA-256 is {sha}, the gate pins {gate.holdout_sha256}",
            hint="find out why the data changed; if on purpose, set holdout_sha256 to the new value",
            model=gate.model,
            expected=gate.holdout_sha256,
            actual=sha,
        )
    return Holdout(source=source, X=X, y=y, sha256=sha)


__all__ = ["BUNDLED", "Holdout", "data_sha256", "load_holdout", "read_source"]
