from pathlib import Path

import pytest

from workbench.config import load_settings
from workbench.errors import ConfigError


def write_pyproject(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pyproject.toml"
    path.write_text(body)
    return path


def test_default_home_is_beside_the_nearest_pyproject(tmp_path: Path) -> None:
    write_pyproject(tmp_path / "proj", "[project]\nname = 'x'\n")
    nested = tmp_path / "proj" / "notebooks"
    nested.mkdir()
    settings = load_settings(cwd=nested, environ={})
    assert settings.home == (tmp_path / "proj" / ".workbench").resolve()
    assert settings.store == "local"
    assert settings.sources["home"] == "default"


def test_pyproject_beats_default_and_is_relative_to_its_folder(tmp_path: Path) -> None:
    write_pyproject(tmp_path / "proj", "[tool.workbench]\nhome = 'state'\nstore = 'redis://127.0.0.1:6379/0'\n")
    settings = load_settings(cwd=tmp_path / "proj", environ={})
    assert settings.home == (tmp_path / "proj" / "state").resolve()
    assert settings.store == "redis://127.0.0.1:6379/0"


def test_environment_beats_pyproject_and_argument_beats_environment(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "[tool.workbench]\nhome = 'from-file'\nstore = 'file-store'\n")
    env = {"WORKBENCH_HOME": str(tmp_path / "from-env"), "WORKBENCH_STORE": "env-store"}
    settings = load_settings(cwd=tmp_path, environ=env)
    assert settings.home == (tmp_path / "from-env").resolve()
    assert settings.store == "env-store"
    settings = load_settings(cwd=tmp_path, environ=env, home=tmp_path / "arg", store="arg-store")
    assert settings.home == (tmp_path / "arg").resolve()
    assert settings.store == "arg-store"
    assert settings.sources == {"home": "argument", "store": "argument"}


def test_sections_of_the_tool_table_are_available(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "[tool.workbench.acceptance.churn]\nprecision = 0.9\n")
    settings = load_settings(cwd=tmp_path, environ={})
    assert settings.section("acceptance")["churn"]["precision"] == 0.9
    assert settings.section("missing") == {}


def test_broken_pyproject_names_the_file(tmp_path: Path) -> None:
    path = write_pyproject(tmp_path, "[tool.workbench\nhome = 1\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_settings(cwd=tmp_path, environ={})


def test_wrong_type_in_pyproject_is_refused(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "[tool.workbench]\nhome = 3\n")
    with pytest.raises(ConfigError, match="must be a string"):
        load_settings(cwd=tmp_path, environ={})
