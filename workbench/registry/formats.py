"""Model formats, chosen by model type, looked up in the ``workbench.formats`` entry points.

A format turns a model into bytes and back. It records at save time what a safe load
needs (``format_info``) and refuses at load time anything that was not recorded: the
skops format trusts exactly the types that were listed when the model was registered,
and the joblib format (pickle, which runs code by design) loads only with an explicit,
logged ``allow_pickle=True``. Loading is reached only after the artifact's SHA-256 has
been checked (:meth:`workbench.storage.model_store.ModelStore.verified_artifact`).
"""

from __future__ import annotations

import io
import logging
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import RegistryError, UnsafeModelError
from workbench.plugins import PluginRegistry
from workbench.storage.model_records import ModelVersion

log = logging.getLogger("workbench.registry")


@dataclass(frozen=True)
class Saved:
    """A serialized model and what its format needs recorded to load it safely."""

    data: bytes
    format_info: dict[str, Any] = field(default_factory=dict)
    library_versions: dict[str, str] = field(default_factory=dict)


class ModelFormat(ABC):
    """One way to store a model. Higher ``priority`` wins when several accept a model."""

    name: str = ""
    priority: int = 0

    @abstractmethod
    def accepts(self, model: object) -> bool:
        """Whether this format can store ``model`` faithfully."""

    @abstractmethod
    def dump(self, model: object) -> Saved:
        """Serialize ``model``; raise a :class:`WorkbenchError` when it cannot."""

    @abstractmethod
    def inspect(self, data: bytes) -> dict[str, Any]:
        """The ``format_info`` to record for bytes from elsewhere, read without loading them."""

    @abstractmethod
    def load(self, data: bytes, version: ModelVersion, *, allow_pickle: bool = False) -> Any:
        """Rebuild the model from verified bytes, refusing with :class:`UnsafeModelError`
        anything that ``version.format_info`` (or ``allow_pickle``) does not allow."""


class SkopsFormat(ModelFormat):
    """scikit-learn estimators and pipelines, via skops: no code runs unless trusted.

    At save time the types skops does not trust by default are recorded; at load time
    exactly that list is trusted and skops refuses any other type before constructing
    anything, so a file altered to smuggle in a new type fails loudly.
    """

    name = "skops"
    priority = 100

    def accepts(self, model: object) -> bool:
        if "sklearn" not in sys.modules:  # nothing can be an estimator yet; stay cheap
            return False
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator)

    def dump(self, model: object) -> Saved:
        import skops
        import skops.io as sio
        from skops.io.exceptions import UnsupportedTypeException

        try:
            data = sio.dumps(model)
        except (UnsupportedTypeException, TypeError) as exc:
            raise RegistryError(
                f"skops cannot store this {type(model).__name__}: {exc}",
                hint="register it with format='joblib' (loading it will then need allow_pickle=True)",
            ) from exc
        return Saved(data, self.inspect(data), {"skops": skops.__version__})

    def inspect(self, data: bytes) -> dict[str, Any]:
        import zipfile

        import skops.io as sio

        try:
            return {"trusted_types": sorted(sio.get_untrusted_types(data=data))}
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise UnsafeModelError(f"not a readable skops artifact: {exc}") from exc

    def load(self, data: bytes, version: ModelVersion, *, allow_pickle: bool = False) -> Any:
        import zipfile

        import skops.io as sio
        from skops.io.exceptions import UntrustedTypesFoundException

        trusted = version.format_info.get("trusted_types", [])
        if not isinstance(trusted, list) or not all(isinstance(t, str) for t in trusted):
            raise UnsafeModelError(
                f"{version.name} v{version.version} has a malformed trusted-types record", model=version.name
            )
        try:
            return sio.loads(data, trusted=trusted)
        except zipfile.BadZipFile as exc:
            raise UnsafeModelError(
                f"{version.name} v{version.version} is recorded as skops but is not a skops file; refused",
                model=version.name,
                version=version.version,
            ) from exc
        except UntrustedTypesFoundException as exc:
            extra = sorted(set(sio.get_untrusted_types(data=data)) - set(trusted))
            raise UnsafeModelError(
                f"{version.name} v{version.version} contains types that were not trusted when it was "
                f"registered: {', '.join(extra)}; refused before loading",
                model=version.name,
                version=version.version,
                types=extra,
            ) from exc


class JoblibFormat(ModelFormat):
    """Any picklable object, via joblib. Pickle runs code on load: an explicit opt-in only."""

    name = "joblib"
    priority = 0

    def accepts(self, model: object) -> bool:
        return True

    def dump(self, model: object) -> Saved:
        import joblib

        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        return Saved(buffer.getvalue(), {}, {"joblib": joblib.__version__})

    def inspect(self, data: bytes) -> dict[str, Any]:
        return {}

    def load(self, data: bytes, version: ModelVersion, *, allow_pickle: bool = False) -> Any:
        if not allow_pickle:
            raise UnsafeModelError(
                f"{version.name} v{version.version} is stored with joblib (pickle), which can run "
                "arbitrary code when loaded; it was not loaded",
                hint="pass allow_pickle=True only if you trust whoever registered it",
                model=version.name,
                version=version.version,
            )
        import joblib

        log.warning(
            "loading %s v%s with pickle (allow_pickle=True); sha256 %s verified",
            version.name,
            version.version,
            version.sha256,
        )
        return joblib.load(io.BytesIO(data))


FORMATS: PluginRegistry[type[ModelFormat]] = PluginRegistry("workbench.formats", "model format")


def get_format(name: str) -> ModelFormat:
    """An instance of the format called ``name``; raises :class:`PluginNotFoundError`."""
    return FORMATS.get(name)()


def choose_format(model: object) -> ModelFormat:
    """The highest-priority installed format that accepts ``model``."""
    formats = sorted((get_format(n) for n in FORMATS.names()), key=lambda f: -f.priority)
    for candidate in formats:
        if candidate.accepts(model):
            return candidate
    return get_format("joblib")


__all__ = ["FORMATS", "JoblibFormat", "ModelFormat", "Saved", "SkopsFormat", "choose_format", "get_format"]
