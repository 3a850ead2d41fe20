from pathlib import Path

import pytest

from workbench.baselines import BaselineStore, parse_tolerance
from workbench.errors import BaselineNotFoundError, ConfigError, InvalidNameError, PerformanceRegression
from workbench.timing import Timing


def timing(median: float) -> Timing:
    return Timing("f()", [median] * 5, loops=10)


def test_save_then_check_within_and_beyond_tolerance(isolated_environment: Path) -> None:
    store = BaselineStore()
    path = store.save("predict", timing(1.0))
    assert path.parent == isolated_environment / "baselines"
    assert store.check("predict", timing(1.05), 0.10).passed
    with pytest.raises(PerformanceRegression, match=r"1.2x.*beyond the 10% tolerance") as info:
        store.check("predict", timing(1.2), 0.10)
    assert info.value.ratio == pytest.approx(1.2)


def test_unknown_baseline_lists_the_saved_ones(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    store.save("alpha", timing(1.0))
    with pytest.raises(BaselineNotFoundError, match="saved: alpha"):
        store.load("beta")


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".."])
def test_baseline_names_cannot_escape_the_folder(tmp_path: Path, name: str) -> None:
    store = BaselineStore(tmp_path / "b")
    with pytest.raises(InvalidNameError):
        store.save(name, timing(1.0))
    assert not any(tmp_path.rglob("*.json"))


def test_corrupt_baseline_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ConfigError, match="save it again"):
        BaselineStore(tmp_path).load("x")


@pytest.mark.parametrize(("text", "value"), [("10%", 0.1), ("0.25", 0.25), (" 5 % ", 0.05)])
def test_tolerance_forms(text: str, value: float) -> None:
    assert parse_tolerance(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["ten", "-5%", ""])
def test_bad_tolerance(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_tolerance(text)
