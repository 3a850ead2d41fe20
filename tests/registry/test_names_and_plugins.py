"""Hostile names never reach a key or a path; formats come from entry points; the module functions
use the configured store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import RedisServer
from workbench.config import load_settings
from workbench.errors import InvalidNameError
from workbench.registry import FORMATS, Registry
from workbench.storage.local.models import LocalModelStore

TRAVERSAL = [
    "",
    ".",
    "..",
    "../escape",
    "..%2fescape",
    "%2e%2e",
    "a/b",
    "/etc/passwd",
    "a\\b",
    "C:\\models",
    "a\x00b",
    "a\nb",
    "a\rb",
    " lead",
    "trail ",
    "a;b",
    "a?b",
    "a#b",
    "a:b",
    "*",
    "a*",
    "[ab]",
    "a..b",
    ".hidden",
    "-flag",
    "é",
    "ａ",  # noqa: RUF001 - a full-width letter that looks like "a"
    "x" * 129,
]


@pytest.mark.parametrize("name", TRAVERSAL, ids=repr)
def test_unsafe_names_are_refused_everywhere(registry: Registry, model: Any, name: str, tmp_path: Path) -> None:
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    calls = [
        lambda: registry.register(model, name),
        lambda: registry.load_model(name),
        lambda: registry.load_model(name, version=1),
        lambda: registry.model_versions(name),
        lambda: registry.record_stage(name, 1, "production"),
        lambda: registry.rollback(name),
        lambda: registry.history(name),
    ]
    for call in calls:
        with pytest.raises(InvalidNameError):
            call()
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before
    assert registry.models() == []


def test_artifact_lookups_accept_only_digests(tmp_path: Path) -> None:
    from workbench.errors import IntegrityError

    store = LocalModelStore(tmp_path / "registry")
    with pytest.raises(IntegrityError, match="not a SHA-256"):
        store.read_artifact("../../registry.sqlite3")
    store.close()


def test_formats_are_entry_point_plugins() -> None:
    assert {"skops", "joblib"} <= set(FORMATS.names())


def test_module_functions_use_the_configured_store(
    model: Any, monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    import workbench as wb

    assert wb.register(model, "churn", stage="production").version == 1
    assert wb.load_model("churn").predict([[0.0] * 6]).shape == (1,)
    assert (load_settings().home / "registry" / "registry.sqlite3").is_file()
    monkeypatch.setenv("WORKBENCH_STORE", redis_server.url(prefix="moduletest"))
    assert wb.models() == []
    assert wb.register(model, "churn").version == 1
    assert [v.version for v in wb.model_versions("churn")] == [1]
    wb.promote("churn", 1, "production")
    assert wb.registry.default_registry().get("churn", stage="production").version == 1


def test_importing_the_registry_stays_cheap() -> None:
    code = (
        "import sys, workbench as wb; wb.register; wb.registry; wb.ModelVersion; "
        "print(','.join(m for m in ('sklearn', 'skops', 'redis', 'numpy', 'joblib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""
