"""Promotion to production passes through the gates: ``wb.promote`` and ``workbench promote``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import workbench as wb
from tests.stages import in_production
from workbench import cli
from workbench.acceptance import GateReport, load_gates
from workbench.errors import GateFailedError, HoldoutError
from workbench.registry import Registry


def promote(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["promote", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_refuses_a_model_below_its_gates_and_accepts_one_above(
    capsys: pytest.CaptureFixture[str], example: Path, registry: Registry, strong: Any, weak: Any
) -> None:
    registry.register(weak, "cancer")
    registry.register(strong, "cancer")
    code, out, err = promote(capsys, "cancer", "1", "--to", "production")
    assert (code, out) == (1, "")
    assert err.startswith("workbench: error: cancer v1 fails 1 of 4 acceptance criteria:\n")
    assert "  - recall (macro) >= 0.85: observed 0.8422, 95% interval [0.7" in err and "--force" in err
    assert registry.get("cancer", version=1).stage == "dev"
    assert promote(capsys, "cancer", "2", "--to", "production") == (
        0,
        "cancer v2 is now production (acceptance gates passed)\n",
        "",
    )
    event = registry.history("cancer")[-1]
    assert (event.version, event.gate, event.forced) == (2, "passed", False)
    assert [r["passed"] for r in registry.gate_results("cancer", 1)] == [False]
    assert [(r["passed"], r["trigger"]) for r in registry.gate_results("cancer", 2)] == [(True, "promote")]
    shown = GateReport.from_record(registry.gate_results("cancer", 1)[0])
    assert str(shown).startswith("acceptance gates of cancer v1 (dev): FAILED (1 of 4 criteria)")
    assert sorted(load_gates()) == ["cancer", "flowers", "flowers-fn"]


def test_force_promotes_anyway_and_the_history_says_so(
    capsys: pytest.CaptureFixture[str], example: Path, registry: Registry, weak: Any
) -> None:
    registry.register(weak, "cancer")
    code, out, _ = promote(capsys, "cancer", "1", "--to", "production", "--force")
    assert (code, out) == (
        0,
        "cancer v1 is now production (acceptance gates failed; promoted with --force, recorded in the history)\n",
    )
    event = registry.history("cancer")[-1]
    assert (event.to_stage, event.gate, event.forced) == ("production", "failed", True) and event.by
    assert [r["passed"] for r in registry.gate_results("cancer", 1)[0]["results"]] == [True, False, True, True]


def test_the_python_api_takes_the_same_gate(example: Path, registry: Registry, strong: Any, borderline: Any) -> None:
    wb.register(strong, "cancer", stage="production")  # through the gates, as the history shows
    registry.register(borderline, "cancer")
    with pytest.raises(GateFailedError) as info:
        wb.promote("cancer", 2, "production")
    assert (info.value.model, info.value.version) == ("cancer", 2)
    assert info.value.failures == [
        "precision (macro) no worse than production (tolerance 0.02): observed -0.0077, 95% interval "
        "[-0.0447, 0.0303], lower bound vs threshold -0.02 (difference to production v1 (0.9551))",
        "recall (macro) no worse than production (tolerance 0.02): observed -0.0297, 95% interval "
        "[-0.0703, 0.0023], lower bound vs threshold -0.02 (difference to production v1 (0.9579))",
    ]
    assert registry.get("cancer", stage="production").version == 1
    assert wb.promote("cancer", 2, "staging").stage == "staging"  # only production is gated
    assert wb.promote("cancer", 2, "production", force=True).stage == "production"
    assert [(e.to_stage, e.gate, e.forced) for e in registry.history("cancer")] == [
        ("production", "passed", False),
        ("staging", None, False),
        ("production", "failed", True),
    ]


def test_a_gate_that_cannot_run_refuses_unless_forced(example: Path, registry: Registry, flowers_model: Any) -> None:
    registry.register(flowers_model, "flowers")
    (example / "data" / "flowers.csv").write_text("sepal_length,species\n1.0,0\n")
    with pytest.raises(HoldoutError, match="changed: its SHA-256 is"):
        wb.promote("flowers", 1, "production")
    assert wb.promote("flowers", 1, "production", force=True).stage == "production"
    assert registry.history("flowers")[-1].gate == "error"
    (stored,) = registry.gate_results("flowers", 1)
    assert not stored["passed"] and "changed" in stored["error"]


def test_models_without_gates_promote_as_before(registry: Registry, strong: Any) -> None:
    registry.register(strong, "churn")
    assert wb.promote("churn", 1, "production").stage == "production"
    assert registry.history("churn")[-1].gate == "none"
    assert registry.gate_results("churn", 1) == []


def test_a_challenger_passes_the_same_gates_before_it_takes_traffic(
    capsys: pytest.CaptureFixture[str], example: Path, registry: Registry, strong: Any, weak: Any
) -> None:
    in_production(registry, registry.register(strong, "cancer"))
    registry.register(weak, "cancer")
    code, out, err = promote(capsys, "cancer", "2", "--to", "challenger", "--weight", "0.1")
    assert (code, out) == (1, "") and "cancer v2 fails" in err
    assert registry.get("cancer", version=2).stage == "dev"
    code, out, _ = promote(capsys, "cancer", "2", "--to", "challenger", "--weight", "0.1", "--force")
    assert (code, out) == (
        0,
        "cancer v2 is now challenger, taking 0.1 of the traffic "
        "(acceptance gates failed; promoted with --force, recorded in the history)\n",
    )
    event = registry.history("cancer")[-1]
    assert (event.to_stage, event.gate, event.forced, event.weight) == ("challenger", "failed", True, 0.1)
