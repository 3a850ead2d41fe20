"""Performance baselines: save a :class:`~workbench.timing.Timing` under a name, and
check a later one against it so a notebook under nbval or papermill fails on a
regression instead of quietly getting slower.

Baselines live as JSON files in ``<home>/baselines/``; names are validated before they
become file names.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from workbench.config import load_settings
from workbench.errors import BaselineNotFoundError, ConfigError, PerformanceRegression
from workbench.formatting import format_time
from workbench.fsutil import atomic_write_bytes
from workbench.names import validate_name
from workbench.timing import Timing

SCHEMA_VERSION = 1


def parse_tolerance(text: str) -> float:
    """``"10%"`` or ``"0.1"`` -> 0.1."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ConfigError(f"tolerance {text!r} is not a number", hint="write it as 10% or 0.1") from None
    if not 0 <= value < 100:
        raise ConfigError(f"tolerance {text!r} must be between 0% and 10000%")
    return value


@dataclass(frozen=True)
class BaselineCheck:
    """The outcome of comparing a measurement with its baseline."""

    name: str
    baseline_median: float
    median: float
    tolerance: float

    @property
    def ratio(self) -> float:
        return self.median / self.baseline_median

    @property
    def passed(self) -> bool:
        return self.ratio <= 1 + self.tolerance

    def __str__(self) -> str:
        verdict = "within" if self.passed else "beyond"
        return (
            f"baseline {self.name!r}: {format_time(self.median)} vs {format_time(self.baseline_median)} "
            f"({self.ratio:.3g}x), {verdict} the {self.tolerance:.0%} tolerance"
        )


class BaselineStore:
    """Named baselines in a folder (default: ``<workbench home>/baselines``)."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else load_settings().home / "baselines"

    def _path(self, name: str) -> Path:
        return self.folder / f"{validate_name(name, 'baseline name')}.json"

    def save(self, name: str, timing: Timing) -> Path:
        path = self._path(name)
        payload = {"schema": SCHEMA_VERSION, "name": name, "timing": timing.to_dict()}
        atomic_write_bytes(path, json.dumps(payload, indent=2).encode())
        return path

    def load(self, name: str) -> Timing:
        path = self._path(name)
        try:
            payload = json.loads(path.read_text())
        except FileNotFoundError:
            known = ", ".join(self.names()) or "none"
            raise BaselineNotFoundError(
                f"no baseline named {name!r} in {self.folder} (saved: {known})",
                hint="save one first with %wtime --save-baseline NAME stmt",
                baseline=name,
            ) from None
        except (json.JSONDecodeError, OSError) as exc:
            raise ConfigError(f"baseline file {path} cannot be read: {exc}", hint="save it again") from exc
        return Timing.from_dict(payload["timing"])

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json"))

    def check(self, name: str, timing: Timing, tolerance: float) -> BaselineCheck:
        """Compare medians; raise :class:`PerformanceRegression` when slower beyond ``tolerance``."""
        base = self.load(name)
        result = BaselineCheck(name, base.median, timing.median, tolerance)
        if not result.passed:
            raise PerformanceRegression(
                str(result), baseline=name, ratio=result.ratio, tolerance=tolerance
            )
        return result


__all__ = ["BaselineCheck", "BaselineStore", "parse_tolerance"]
