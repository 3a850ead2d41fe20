import inspect
import pickle

import pytest

from workbench import errors


def error_classes() -> list[type[errors.WorkbenchError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.WorkbenchError)
    ]


def test_every_error_class_is_exported() -> None:
    aliases = {"StoreError", "StoreUnavailableError"}  # the 0.1 names of the storage errors
    assert {cls.__name__ for cls in error_classes()} == set(errors.__all__) - aliases
    assert all(getattr(errors, name) in error_classes() for name in aliases)


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_errors_pickle_with_their_fields(cls: type[errors.WorkbenchError]) -> None:
    original = cls("it broke", hint="do this", model="churn", version=3)
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is cls
    assert str(copy) == "it broke (do this)"
    assert copy.model == "churn"
    assert copy.version == 3


def test_default_hint_is_part_of_the_message() -> None:
    err = errors.PerformanceRegression("3x slower")
    assert "save a new baseline" in str(err)
