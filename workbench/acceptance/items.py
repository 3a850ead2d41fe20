"""The collection tree ``pytest --wb-acceptance`` builds from ``pyproject.toml``.

``pyproject.toml`` (:class:`AcceptanceFile`) -> one :class:`ModelGates` per model ->
one :class:`GateItem` per criterion. A model's version is looked up at collection (a
missing model is a collection error naming it) and scored once, when its first item
runs; each item then reads its criterion from that shared report.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from workbench.acceptance.config import Criterion, GateConfig, parse_gates
from workbench.acceptance.report import GateReport
from workbench.errors import WorkbenchError
from workbench.storage.model_records import ModelVersion


class AcceptanceFile(pytest.File):
    """The ``[tool.workbench.acceptance]`` table of a ``pyproject.toml``."""

    def collect(self) -> Iterator[ModelGates]:
        from workbench.config import read_tool_table

        try:
            gates = parse_gates(read_tool_table(self.path).get("acceptance", {}), self.path.parent)
        except WorkbenchError as exc:
            raise self.CollectError(f"acceptance gates in {self.path.name}: {exc}") from exc
        selected = self.config.getoption("wb_model")
        for name, gate in gates.items():
            if not selected or name in selected:
                yield ModelGates.from_parent(self, name=name, gate=gate)


class ModelGates(pytest.Collector):
    """The gates of one model; scores the selected version once for all its criteria."""

    def __init__(self, *, gate: GateConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate
        self.version: ModelVersion | None = None
        self._outcome: GateReport | WorkbenchError | None = None

    def collect(self) -> Iterator[GateItem]:
        from workbench.acceptance.plugin import selected_version, session_registry

        try:
            self.version = selected_version(session_registry(self.config), self.config, self.gate.model)
        except WorkbenchError as exc:
            raise self.CollectError(f"acceptance gates of model {self.gate.model!r}: {exc}") from exc
        for criterion in self.gate.criteria:
            yield GateItem.from_parent(self, name=criterion.id, criterion=criterion)

    def report(self) -> GateReport:
        """The gate report of the selected version, computed and stored on first use."""
        from workbench.acceptance.gates import evaluate
        from workbench.acceptance.plugin import session_registry

        if self._outcome is None:
            assert self.version is not None
            registry = session_registry(self.config)
            try:
                self._outcome = evaluate(registry, self.gate, self.version, trigger="pytest")
                registry.store.add_gate_result(self.version.name, self.version.version, self._outcome.to_record())
            except WorkbenchError as exc:
                self._outcome = exc
        if isinstance(self._outcome, WorkbenchError):
            raise self._outcome
        return self._outcome


class GateItem(pytest.Item):
    """One criterion of one model: passes when the version meets it."""

    def __init__(self, *, criterion: Criterion, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.criterion = criterion

    @property
    def gates(self) -> ModelGates:
        assert isinstance(self.parent, ModelGates)
        return self.parent

    def runtest(self) -> None:
        report = self.gates.report()
        result = report.result(self.criterion.id)
        self.user_properties += [
            ("model", report.model),
            ("version", report.version),
            ("criterion", result.description),
            ("threshold", result.threshold),
            ("observed", round(result.observed, 6)),
            ("interval", f"[{result.low:.4f}, {result.high:.4f}] at {result.level:.0%}"),
            ("holdout_sha256", report.holdout_sha256),
        ]
        if not result.passed:
            pytest.fail(report.failure_text(result), pytrace=False)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, WorkbenchError):
            version = self.gates.version
            where = f"{version.name} v{version.version}" if version else self.gates.gate.model
            return f"acceptance gates of {where} could not run: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"acceptance {self.gates.gate.model}: {self.criterion.describe()}"


__all__ = ["AcceptanceFile", "GateItem", "ModelGates"]
