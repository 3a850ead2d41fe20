"""``pytest --wb-acceptance`` and the acceptance marker, run with pytester on the example project."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.stages import in_production
from workbench.registry import Registry

pytestmark = pytest.mark.timeout(120)


def test_example_project_gates_run_with_no_test_file(
    pytester: pytest.Pytester, project: Path, registry: Registry, strong: Any, flowers_model: Any
) -> None:
    registry.register(strong, "cancer")
    registry.register(flowers_model, "flowers")
    registry.register(flowers_model, "flowers-fn")
    result = pytester.runpytest("--wb-acceptance", "-v")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(
        [
            "*pyproject.toml::cancer::precision PASSED*",
            "*pyproject.toml::cancer::recall-vs-production PASSED*",
            "*pyproject.toml::flowers::precision[[]2[]] PASSED*",
            "*pyproject.toml::flowers::recall_macro@long-petals PASSED*",
            "*pyproject.toml::flowers-fn::f1_macro PASSED*",
        ]
    )
    (stored,) = registry.gate_results("cancer", 1)
    assert stored["passed"] and stored["trigger"] == "pytest"
    assert [r["id"] for r in stored["results"]] == [
        "precision",
        "recall",
        "precision-vs-production",
        "recall-vs-production",
    ]


def test_without_the_option_the_plugin_collects_nothing(pytester: pytest.Pytester, project: Path) -> None:
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_failing_gate_reports_what_failed_also_in_junit(
    pytester: pytest.Pytester, project: Path, registry: Registry, strong: Any, weak: Any
) -> None:
    registry.register(strong, "cancer")
    registry.register(weak, "cancer")
    junit = project / "report.xml"
    result = pytester.runpytest("--wb-acceptance", "--wb-model", "cancer", f"--junitxml={junit}")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*acceptance gate failed: model cancer version 2 (dev)",
            "*criterion  recall (macro) >= 0.85",
            "*threshold  0.85 (lower bound of the interval)",
            "*observed   0.8422",
            "*interval   [[]0.7*, 0.9*[]] at 95% (500 bootstrap resamples, seed 7)",
            "*holdout sklearn:breast_cancer (test part 0.3, seed 0): 171 rows, sha256 *",
            "*confusion matrix (rows: true class, columns: predicted class)",
            "*true 0  45      19",
            "*true 1  2       105",
        ]
    )
    (failure,) = ET.parse(junit).getroot().iter("failure")
    assert "observed   0.8422" in (failure.text or "") and "true 1  2       105" in (failure.text or "")
    properties = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert properties["model"] == "cancer" and properties["version"] == "2"


def test_the_confidence_rule_fails_a_borderline_model_every_time(
    pytester: pytest.Pytester, registry: Registry, borderline: Any
) -> None:
    registry.register(borderline, "cancer")
    gate = '[tool.workbench.acceptance.cancer]\nholdout = "sklearn:breast_cancer"\ntest_size = 0.3\nrecall = 0.9\n'
    pytester.makepyprojecttoml(gate)
    pytester.runpytest("--wb-acceptance").assert_outcomes(passed=1)  # observed 0.928 >= 0.9
    pytester.makepyprojecttoml(gate + "confidence = 0.95\n")
    outputs = []
    for _ in range(2):
        result = pytester.runpytest("--wb-acceptance")
        result.assert_outcomes(failed=1)
        reported = [line for line in result.outlines if line.lstrip().startswith(("observed", "interval"))]
        outputs.append(reported[:2])  # under CI=true pytest repeats the full message in its summary
    assert (
        outputs[0]
        == outputs[1]
        == ["  observed   0.9282", "  interval   [0.8841, 0.9670] at 95% (1000 bootstrap resamples, seed 0)"]
    )


def test_no_worse_than_production_compares_on_the_same_resamples(
    pytester: pytest.Pytester, project: Path, registry: Registry, strong: Any, borderline: Any
) -> None:
    in_production(registry, registry.register(strong, "cancer"))
    registry.register(borderline, "cancer")
    result = pytester.runpytest("--wb-acceptance", "--wb-model", "cancer", "-v")
    result.assert_outcomes(passed=2, failed=2)  # above the thresholds, below production by more than 0.02
    result.stdout.fnmatch_lines(
        [
            "*cancer::precision-vs-production FAILED*",
            "*cancer::recall-vs-production FAILED*",
            "*criterion  recall (macro) no worse than production (tolerance 0.02)",
            "*observed   -0.0297",
            "*note       difference to production v1 (0.9579)",
        ]
    )
    # judged against itself, production passes
    pytester.runpytest("--wb-acceptance", "--wb-model", "cancer", "--wb-stage", "production").assert_outcomes(passed=4)


def test_a_changed_holdout_fails_every_criterion_of_its_model(
    pytester: pytest.Pytester, project: Path, registry: Registry, flowers_model: Any
) -> None:
    registry.register(flowers_model, "flowers")
    table = project / "data" / "flowers.csv"
    lines = table.read_text().splitlines()
    lines[1] = lines[1].replace("4.9", "4.8", 1)
    table.write_text("\n".join(lines) + "\n")
    result = pytester.runpytest("--wb-acceptance", "--wb-model", "flowers")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*acceptance gates of flowers v1 could not run: "
            "holdout data/flowers.csv of 'flowers' changed: its SHA-256 is *"
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_missing_model_is_a_clear_collection_error(
    pytester: pytest.Pytester, project: Path, registry: Registry, flowers_model: Any
) -> None:
    registry.register(flowers_model, "flowers")
    result = pytester.runpytest("--wb-acceptance")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting pyproject.toml*",
            "acceptance gates of model 'cancer': no model named 'cancer' (list what exists with *)",
            "ERROR pyproject.toml::cancer",
            "ERROR pyproject.toml::flowers-fn",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str() and "Traceback" not in result.stdout.str()
    pytester.runpytest("--wb-acceptance", "--continue-on-collection-errors").assert_outcomes(passed=3, errors=2)


def test_a_bad_gate_table_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.workbench.acceptance.churn]\nholdout = "sklearn:iris"\nrecal = 0.9\n')
    result = pytester.runpytest("--wb-acceptance")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*gates of 'churn': unknown key 'recal'*"])


def test_marker_and_fixtures_in_a_hand_written_test(
    pytester: pytest.Pytester, project: Path, registry: Registry, strong: Any, weak: Any
) -> None:
    registry.register(strong, "cancer")
    registry.register(weak, "cancer")
    pytester.makepyfile(
        test_gates="""
        import pytest

        @pytest.mark.acceptance(model="cancer", version=1, recall=0.9)
        def test_strong(wb_model_version, wb_holdout, wb_metrics):
            assert wb_model_version.version == 1
            assert wb_holdout().n_samples == 171
            scores = wb_metrics()
            assert scores["recall"] > 0.9 and scores.confusion[1][1] == 103
            low, high = scores.interval("recall")
            assert low < scores["recall"] < high

        @pytest.mark.acceptance(model="cancer", precision=0.95, recall=None, no_worse_than=None)
        def test_newest(wb_model, wb_metrics):
            assert wb_metrics(wb_model("cancer", version=2))["recall"] < 0.9

        @pytest.mark.acceptance("plain")
        def test_no_gates_only_fixtures(wb_model_version):
            assert (wb_model_version.name, wb_model_version.version) == ("plain", 1)

        @pytest.mark.parametrize("wb_store", ["memory", "local"], indirect=True)
        def test_fresh_store(wb_store):
            assert wb_store.list_names() == []
        """
    )
    registry.register(strong, "plain")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*test_newest FAILED*", "*acceptance gate failed: model cancer version 2 (dev)"])


def test_plugin_load_imports_nothing_heavy() -> None:
    heavy = ("numpy", "sklearn", "pandas", "redis", "IPython")
    code = f"import sys, workbench.acceptance.plugin; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_gates_are_collected_beside_testpaths(pytester: pytest.Pytester, registry: Registry, strong: Any) -> None:
    registry.register(strong, "cancer")
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n\n'
        '[tool.workbench.acceptance.cancer]\nholdout = "sklearn:breast_cancer"\nrecall = 0.9\n'
    )
    pytester.mkdir("tests").joinpath("test_unit.py").write_text("def test_unit():\n    pass\n")
    pytester.runpytest().assert_outcomes(passed=1)
    result = pytester.runpytest("--wb-acceptance", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*pyproject.toml::cancer::recall PASSED*"])


def test_a_tampered_model_is_refused_before_it_is_loaded(
    pytester: pytest.Pytester, project: Path, registry: Registry, flowers_model: Any
) -> None:
    from workbench.storage.local.models import LocalModelStore  # imported now: pytester runs reload modules

    version = registry.register(flowers_model, "flowers")
    store = registry.store
    assert isinstance(store, LocalModelStore)
    artifact = store.artifacts / version.sha256[:2] / version.sha256
    data = bytearray(artifact.read_bytes())
    data[100] ^= 1
    artifact.write_bytes(bytes(data))  # one flipped bit, as a bad disk or an attacker would
    result = pytester.runpytest("--wb-acceptance", "--wb-model", "flowers")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*flowers v1 could not run: model artifact of flowers v1 does not match its SHA-256*"])
