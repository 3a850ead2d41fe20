"""The ``workbench`` pytest plugin (entry point ``pytest11``): acceptance gates as tests.

Loaded into every pytest run where workbench is installed, it does nothing until asked:
``--wb-acceptance`` collects the gates of ``pyproject.toml``, the ``acceptance`` marker
checks gates after a hand-written test, and the ``wb_*`` fixtures work on request.
Importing it imports neither numpy, scikit-learn nor a store client.

Fixtures: ``wb_store`` (the configured store; parametrize it indirectly with
``"memory"`` or ``"local"`` for a fresh one), ``wb_model(name, stage=, version=)``,
``wb_model_version``, ``wb_holdout(source=None, ...)`` and ``wb_metrics(model=None,
holdout=None)``; without arguments they follow the test's acceptance marker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from workbench.acceptance.config import GateConfig
    from workbench.acceptance.holdout import Holdout
    from workbench.acceptance.items import AcceptanceFile
    from workbench.acceptance.scores import Scores
    from workbench.registry.api import Registry
    from workbench.storage.model_records import ModelVersion
    from workbench.storage.model_store import ModelStore

_REGISTRY = pytest.StashKey["Registry"]()
_PYPROJECT = pytest.StashKey["Path | None"]()
_TARGET_KEYS = ("model", "version", "stage")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("workbench", "workbench acceptance gates")
    group.addoption(
        "--wb-acceptance",
        action="store_true",
        dest="wb_acceptance",
        help="collect the acceptance gates of [tool.workbench.acceptance] in pyproject.toml",
    )
    group.addoption("--wb-store", dest="wb_store", metavar="URL", help="store to read models from (default: settings)")
    group.addoption(
        "--wb-model",
        dest="wb_model",
        action="append",
        default=[],
        metavar="NAME",
        help="only this model's gates (repeatable)",
    )
    group.addoption("--wb-version", dest="wb_version", type=int, metavar="N", help="judge version N (default: newest)")
    group.addoption("--wb-stage", dest="wb_stage", metavar="STAGE", help="judge the newest version at STAGE")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "acceptance(model, **gates): run the model's acceptance gates (pyproject's, overridden by these keys) "
        "after the test; configures the wb_* fixtures",
    )
    if not config.getoption("wb_acceptance"):
        return
    from workbench.config import find_pyproject

    inipath = config.inipath
    pyproject = inipath if inipath is not None and inipath.name == "pyproject.toml" else find_pyproject(config.rootpath)
    config.stash[_PYPROJECT] = pyproject
    if pyproject is not None and not any(_covers(arg, pyproject, config) for arg in config.args):
        config.args.append(str(pyproject))


def _covers(arg: str, pyproject: Path, config: pytest.Config) -> bool:
    """Whether collecting ``arg`` reaches ``pyproject`` by itself (a folder above it, or the file)."""
    path = Path(config.invocation_params.dir, arg.split("::")[0]).resolve()
    return path == pyproject or (path.is_dir() and pyproject.is_relative_to(path))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> AcceptanceFile | None:
    if file_path.name != "pyproject.toml" or not parent.config.getoption("wb_acceptance"):
        return None
    if file_path != parent.config.stash.get(_PYPROJECT, None):
        return None
    from workbench.acceptance.items import AcceptanceFile

    return AcceptanceFile.from_parent(parent, path=file_path)


def session_registry(config: pytest.Config) -> Registry:
    """The registry of ``--wb-store`` or the settings, opened once per pytest session."""
    if _REGISTRY not in config.stash:
        from workbench.config import load_settings
        from workbench.registry.api import Registry
        from workbench.storage import open_storage

        settings = load_settings(cwd=config.rootpath)
        storage = open_storage(settings, url=config.getoption("wb_store") or settings.store)
        config.stash[_REGISTRY] = Registry(storage.models)
        config.add_cleanup(storage.close)
    return config.stash[_REGISTRY]


def selected_version(
    registry: Registry, config: pytest.Config, name: str, *, version: int | None = None, stage: str | None = None
) -> ModelVersion:
    """The version under test: given, else ``--wb-version``, else newest at ``--wb-stage``, else newest."""
    version = version if version is not None else config.getoption("wb_version")
    stage = stage if stage is not None else config.getoption("wb_stage")
    return registry.get(name, version=version, stage=None if version is not None else stage)


def _marker(node: pytest.Item) -> dict[str, Any]:
    marker = node.get_closest_marker("acceptance")
    if marker is None:
        return {}
    found = dict(marker.kwargs)
    if marker.args:
        found.setdefault("model", marker.args[0])
    return found


def _marker_gate(node: pytest.Item) -> GateConfig | None:
    """The gates of the marked model: pyproject's, with the marker's keys over them (None: none)."""
    from workbench.acceptance.config import gate_for
    from workbench.errors import AcceptanceError

    keys = _marker(node)
    if "model" not in keys:
        raise AcceptanceError(
            "this needs the model under test: mark the test @pytest.mark.acceptance(model='NAME', ...)"
        )
    overrides = {k: v for k, v in keys.items() if k not in _TARGET_KEYS}
    return gate_for(keys["model"], node.config.rootpath, need_criteria=False, **overrides)


def _item_registry(item: pytest.Item) -> Registry:
    """The registry over the test's own ``wb_store`` when it has one, else the session's."""
    from workbench.registry.api import Registry

    store = getattr(item, "funcargs", {}).get("wb_store")
    return Registry(store) if store is not None else session_registry(item.config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a test marked ``acceptance`` passes, judge its model against the gates."""
    result = yield
    if item.get_closest_marker("acceptance") is None:
        return result
    from workbench.acceptance.gates import evaluate

    gate = _marker_gate(item)
    if gate is None or not gate.criteria:
        return result
    keys = _marker(item)
    registry = _item_registry(item)
    target = selected_version(registry, item.config, gate.model, version=keys.get("version"), stage=keys.get("stage"))
    report = evaluate(registry, gate, target, trigger="pytest")
    registry.store.add_gate_result(target.name, target.version, report.to_record())
    if not report.passed:
        pytest.fail("\n\n".join(report.failure_text(r) for r in report.failures), pytrace=False)
    return result


@pytest.fixture
def wb_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """The configured store; ``indirect`` parametrization with ``"memory"`` or ``"local"`` gives a fresh one."""
    kind = getattr(request, "param", None)
    if kind is None:
        return session_registry(request.config).store
    from workbench.storage.local.models import LocalModelStore
    from workbench.storage.memory.models import MemoryModelStore

    if kind == "memory":
        return MemoryModelStore()
    if kind == "local":
        store = LocalModelStore(tmp_path_factory.mktemp("wb-store"))
        request.addfinalizer(store.close)
        return store
    raise pytest.UsageError(f"wb_store can be made fresh as 'memory' or 'local', not {kind!r}")


def _target(request: pytest.FixtureRequest, store: ModelStore, name: str | None, **where: Any) -> ModelVersion:
    from workbench.errors import AcceptanceError
    from workbench.registry.api import Registry

    keys = _marker(request.node) if isinstance(request.node, pytest.Item) else {}
    name = name or keys.get("model")
    if not name:
        raise AcceptanceError("name the model, or mark the test @pytest.mark.acceptance(model='NAME')")
    if name == keys.get("model"):
        where = {k: where.get(k) if where.get(k) is not None else keys.get(k) for k in ("version", "stage")}
    return selected_version(Registry(store), request.config, name, **where)


@pytest.fixture
def wb_model(request: pytest.FixtureRequest, wb_store: ModelStore) -> Callable[..., Any]:
    """``wb_model("churn", stage="staging")``: a model from the store, verified and safely loaded."""
    from workbench.registry.api import Registry

    def load(name: str | None = None, *, stage: str | None = None, version: int | None = None) -> Any:
        return Registry(wb_store).load_version(_target(request, wb_store, name, stage=stage, version=version))

    return load


@pytest.fixture
def wb_model_version(request: pytest.FixtureRequest, wb_store: ModelStore) -> ModelVersion:
    """The registry entry of the marked test's model version (name, version, stage, metrics)."""
    return _target(request, wb_store, None)


@pytest.fixture
def wb_holdout(request: pytest.FixtureRequest) -> Callable[..., Holdout]:
    """``wb_holdout()`` the marked model's holdout; ``wb_holdout("sklearn:iris")`` any other."""
    from workbench.acceptance.config import parse_gate
    from workbench.acceptance.holdout import load_holdout
    from workbench.errors import AcceptanceError

    def load(source: str | None = None, **options: Any) -> Holdout:
        if source is None:
            assert isinstance(request.node, pytest.Item)
            gate = _marker_gate(request.node)
            if gate is None:
                raise AcceptanceError("no holdout: give holdout= in the acceptance marker or in pyproject.toml")
            return load_holdout(gate)
        table = {"holdout": source, **options}
        return load_holdout(parse_gate("holdout", table, {}, request.config.rootpath, need_criteria=False))

    return load


@pytest.fixture
def wb_metrics(wb_model: Callable[..., Any], wb_holdout: Callable[..., Holdout]) -> Callable[..., Scores]:
    """``wb_metrics(model=None, holdout=None)``: scores with bootstrap intervals (default: the marked model)."""
    from workbench.acceptance.scores import score

    def compute(model: Any = None, holdout: Holdout | None = None, *, bootstrap: int = 1000, seed: int = 0) -> Scores:
        data = holdout if holdout is not None else wb_holdout()
        return score(model if model is not None else wb_model(), data.X, data.y, bootstrap=bootstrap, seed=seed)

    return compute
