"""wb.parallel on a real local cluster of 2 engines: faithful to scikit-learn, data sent once."""

from __future__ import annotations

import json
import math
import pickle
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from joblib import Parallel, delayed
from scipy.stats import randint
from sklearn.datasets import make_classification
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV, cross_val_score
from sklearn.tree import DecisionTreeClassifier

from workbench import parallel
from workbench.errors import ClusterError, RemoteTaskError

pytestmark = pytest.mark.timeout(120)

GRID = {"max_depth": [2, 4, None], "min_samples_leaf": [1, 10]}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[parallel.Cluster]:
    with parallel.Cluster.start(2, profile_dir=tmp_path_factory.mktemp("profile"), timeout=60) as started:
        yield started


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=1500, n_features=12, random_state=0)


def assert_same_results(ours: GridSearchCV, theirs: GridSearchCV) -> None:
    assert sorted(ours.cv_results_) == sorted(theirs.cv_results_)
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(ours.cv_results_[key], theirs.cv_results_[key])
    assert ours.best_params_ == theirs.best_params_
    assert ours.best_score_ == theirs.best_score_


def test_grid_search_equals_scikit_learn(cluster: parallel.Cluster, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    cv = KFold(4, shuffle=True, random_state=3)
    ours = parallel.search(DecisionTreeClassifier(random_state=0), GRID, X, y, cv=cv, progress=False)
    theirs = GridSearchCV(DecisionTreeClassifier(random_state=0), GRID, cv=cv).fit(X, y)
    assert type(ours) is GridSearchCV
    assert_same_results(ours, theirs)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.parallel_report_.fits == 6 * 4


def test_randomized_search_equals_scikit_learn(
    cluster: parallel.Cluster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    dists = {"max_depth": randint(1, 12), "min_samples_split": randint(2, 30)}
    ours = parallel.search(
        DecisionTreeClassifier(random_state=0), dists, X, y, cv=3, n_iter=7, random_state=5, progress=False
    )
    theirs = RandomizedSearchCV(
        DecisionTreeClassifier(random_state=0), dists, n_iter=7, cv=3, random_state=5
    ).fit(X, y)
    assert type(ours) is RandomizedSearchCV
    assert_same_results(ours, theirs)


def test_data_goes_to_each_engine_once(cluster: parallel.Cluster) -> None:
    X, y = make_classification(n_samples=6000, n_features=20, random_state=1)
    ours = parallel.search(DecisionTreeClassifier(random_state=0), GRID, X, y, cv=3, progress=False)
    report = ours.parallel_report_
    data_size = X.nbytes + y.nbytes
    assert report.bytes_pushed == 2 * data_size
    # what travels besides: small task payloads and each fold's indices a few times
    assert report.bytes_sent < 2 * data_size + 0.5 * report.tasks * data_size / 4
    assert report.bytes_naive > report.tasks * data_size
    assert "MiB" in str(report)


def test_progress_bar_shows_fits_and_best_score(
    cluster: parallel.Cluster, data: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    X, y = data
    ours = parallel.search(DecisionTreeClassifier(random_state=0), GRID, X, y, cv=3)
    err = capsys.readouterr().err
    assert "18/18" in err
    assert f"best={ours.best_score_:.4g}" in err


def test_unequal_lengths_fail_with_scikit_learns_error_before_any_task(
    cluster: parallel.Cluster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    sent = len(cluster.client.history)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        parallel.search(DecisionTreeClassifier(), GRID, X, y[:-5], progress=False)
    assert len(cluster.client.history) == sent


def test_unknown_parameter_fails_with_scikit_learns_error_before_any_task(
    cluster: parallel.Cluster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    sent = len(cluster.client.history)
    with pytest.raises(ValueError, match="Invalid parameter 'max_dept' for estimator DecisionTreeClassifier"):
        parallel.search(DecisionTreeClassifier(), {"max_dept": [1, 2]}, X, y, progress=False)
    with pytest.raises(ValueError, match="Invalid parameter 'n_neighbors'"):
        parallel.search(
            DecisionTreeClassifier(), {"max_depth": randint(1, 5), "n_neighbors": [1]}, X, y, n_iter=2
        )
    assert len(cluster.client.history) == sent


def test_failing_fit_follows_error_score(cluster: parallel.Cluster, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    grid = {"max_depth": [2, -1]}  # -1 is refused by DecisionTreeClassifier.fit
    with warnings.catch_warnings(record=True) as ours_warned:
        warnings.simplefilter("always")
        ours = parallel.search(DecisionTreeClassifier(random_state=0), grid, X, y, cv=3, progress=False)
    with warnings.catch_warnings(record=True) as theirs_warned:
        warnings.simplefilter("always")
        theirs = GridSearchCV(DecisionTreeClassifier(random_state=0), grid, cv=3).fit(X, y)
    assert FitFailedWarning in {w.category for w in ours_warned}
    assert [str(w.message) for w in ours_warned] == [str(w.message) for w in theirs_warned]
    assert_same_results(ours, theirs)
    assert math.isnan(ours.cv_results_["mean_test_score"][1])


def test_error_score_raise_shows_engine_and_remote_traceback(
    cluster: parallel.Cluster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    with pytest.raises(RemoteTaskError) as caught:
        parallel.search(
            DecisionTreeClassifier(), {"max_depth": [-1]}, X, y, cv=2, error_score="raise", progress=False
        )
    error = caught.value
    assert error.engine_id in cluster.engine_ids
    assert f"on engine {error.engine_id}" in str(error)
    assert error.ename == "InvalidParameterError"
    assert "max_depth" in error.evalue
    assert "_fit_and_score" in error.remote_traceback
    assert (error.fits[0]["candidate"], error.fits[0]["params"]) == (0, {"max_depth": -1})
    assert error.fits[0]["split"] in (0, 1)
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.engine_id, again.remote_traceback) == (
        RemoteTaskError,
        error.engine_id,
        error.remote_traceback,
    )


def test_backend_runs_scikit_learn_n_jobs_code_on_the_cluster(
    cluster: parallel.Cluster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    serial = cross_val_score(DecisionTreeClassifier(random_state=0), X, y, cv=4)
    with parallel.backend(cluster) as be:
        remote = cross_val_score(DecisionTreeClassifier(random_state=0), X, y, cv=4, n_jobs=2)
        squares = Parallel(n_jobs=2)(delayed(pow)(i, 2) for i in range(300))
    np.testing.assert_array_equal(serial, remote)
    assert squares == [i * i for i in range(300)]
    assert be.stats.fits == 4 + 300
    assert be.stats.tasks < 4 + 300  # tiny tasks are batched


def test_status_lists_engines_with_their_memory(cluster: parallel.Cluster) -> None:
    status = cluster.status()
    assert [e.id for e in status.engines] == cluster.engine_ids
    assert all(e.rss_bytes and e.rss_bytes > 10 * 2**20 for e in status.engines)
    text = str(status)
    assert "2 engines" in text and "MiB" in text
    assert "<table>" in status._repr_html_()


def test_connection_files_are_private_and_the_controller_listens_on_loopback(cluster: parallel.Cluster) -> None:
    assert cluster.security_dir is not None
    files = list(cluster.security_dir.glob(f"*{cluster.cluster_id}*.json"))
    assert len(files) >= 3  # client and engine connection files, cluster file
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    [client_file] = cluster.security_dir.glob(f"ipcontroller-{cluster.cluster_id}-client.json")
    assert json.loads(client_file.read_text())["interface"] == "tcp://127.0.0.1"


def test_connect_by_connection_file_and_disconnect_leaves_the_cluster_running(
    cluster: parallel.Cluster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    assert cluster.security_dir is not None
    [client_file] = cluster.security_dir.glob(f"ipcontroller-{cluster.cluster_id}-client.json")
    X, y = data
    with parallel.Cluster.connect(connection_file=client_file, timeout=20) as other:
        assert sorted(other.engine_ids) == sorted(cluster.engine_ids)
        assert not other.owned
        assert parallel.active_cluster() is other
        ours = parallel.search(DecisionTreeClassifier(random_state=0), GRID, X, y, cv=3, progress=False)
        assert ours.parallel_report_.engines == 2
    assert parallel.active_cluster() is None
    assert len(cluster.engine_ids) == 2


def test_connect_to_nothing_is_a_cluster_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="cannot connect"):
        parallel.Cluster.connect(connection_file=tmp_path / "missing.json", timeout=2)


def test_search_without_a_cluster_says_how_to_start_one(
    data: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.parallel import cluster as cluster_module

    X, y = data
    monkeypatch.setattr(cluster_module, "_active", None)  # as in a session that started none
    with pytest.raises(ClusterError, match="no cluster is running") as caught:
        parallel.search(DecisionTreeClassifier(), GRID, X, y)
    assert "%cluster start" in str(caught.value)
