import pytest

from workbench.errors import InvalidNameError
from workbench.names import validate_name

HOSTILE = [
    "", "..", "../etc/passwd", "a/b", "a\\b", "%2e%2e", "a\x00b", "a\nb", "a b", "-rf",
    ".hidden", "x" * 129, "name#frag", "name?q", "a;b", "*", "prefix:*", "é", "a..b",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_name(name, "model name")


@pytest.mark.parametrize("name", ["churn", "churn-v2", "fraud_model.1", "A", "9lives"])
def test_ordinary_names_pass_unchanged(name: str) -> None:
    assert validate_name(name) == name


def test_non_strings_are_refused() -> None:
    with pytest.raises(InvalidNameError, match="must be a string"):
        validate_name(3)
