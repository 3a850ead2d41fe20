"""The built front end ships in the package and matches its sources."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from workbench.dashboard.app import ASSETS, load_assets

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["src/main.js", "src/index.html", "src/dashboard.css", "package-lock.json"]


def test_the_built_assets_are_in_the_package_and_built_from_the_current_sources() -> None:
    assets = load_assets()
    assert set(assets) == set(ASSETS)
    banner = re.match(rb"/\* workbench dashboard, built from sources sha256:([0-9a-f]{64}) \*/", assets["dashboard.js"])
    assert banner is not None
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((ROOT / "extensions" / "dashboard" / name).read_bytes())
    assert banner.group(1).decode() == digest.hexdigest(), "the front end changed: run `make dashboard`"
    source = ROOT / "extensions" / "dashboard" / "src"
    assert assets["index.html"] == (source / "index.html").read_bytes()
    assert assets["dashboard.css"] == (source / "dashboard.css").read_bytes()


def test_the_page_has_no_inline_script_or_style() -> None:
    page = load_assets()["index.html"].decode()
    assert re.findall(r"<script[^>]*>", page) == ['<script src="static/dashboard.js" defer>']
    assert "style=" not in page and "<style" not in page and "on" + "load=" not in page


def test_the_front_end_never_parses_data_as_html() -> None:
    script = (ROOT / "extensions" / "dashboard" / "src" / "main.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", ".html(", "eval("):
        assert sink not in script, sink
