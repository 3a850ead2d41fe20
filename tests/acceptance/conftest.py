"""The example project copied into a pytester folder, and models of known quality for it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from workbench.registry import Registry, default_registry

EXAMPLE = Path(__file__).with_name("example_project")


@pytest.fixture(scope="session")
def cancer_split() -> tuple[Any, Any, Any, Any]:
    """The breast cancer data split as the example's gate splits it (test_size 0.3, seed 0)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    return X_train, X_test, y_train, y_test


def logistic(split: tuple[Any, Any, Any, Any], C: float) -> Any:
    """Scaled logistic regression: C=1 clears the example's gates; C=0.01 has (macro) recall 0.93,
    interval [0.88, 0.97], 0.03 below C=1's; C=0.001 has recall 0.84, below its threshold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, _, y_train, _ = split
    return make_pipeline(StandardScaler(), LogisticRegression(C=C)).fit(X_train, y_train)


@pytest.fixture(scope="session")
def strong(cancer_split: tuple[Any, Any, Any, Any]) -> Any:
    return logistic(cancer_split, 1.0)


@pytest.fixture(scope="session")
def borderline(cancer_split: tuple[Any, Any, Any, Any]) -> Any:
    return logistic(cancer_split, 0.01)


@pytest.fixture(scope="session")
def weak(cancer_split: tuple[Any, Any, Any, Any]) -> Any:
    return logistic(cancer_split, 0.001)


@pytest.fixture(scope="session")
def flowers_model() -> Any:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return LogisticRegression(max_iter=1000).fit(X, y)


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    """The example project in pytester's folder (also the working directory)."""
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True)
    return pytester.path


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example project as the working directory, for tests that do not run pytest inside."""
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLE, folder)
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def registry() -> Registry:
    """The registry the example project's gates read (the test's WORKBENCH_HOME)."""
    return default_registry()
