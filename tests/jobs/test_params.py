"""Parameters: names validated, values injected as data (no papermill string escaping)."""

import ast
import datetime

import pytest

from workbench.errors import BadParametersError
from workbench.jobs.params import injected_source, parse_value, validate_parameters

HOSTILE_NAMES = [
    "x\nimport os", "x=1;y", "1x", "class", "a b", "", "x)", "é", "__import__('os')", "x\u2028y", "x#",
]

HOSTILE_VALUES = [
    'plain',
    '"; import os; open("pwned", "w") #',
    "'; import os; open('pwned', 'w') #",
    '\\"; open("pwned", "w") #',
    "ends with a backslash \\",
    'line one\nopen("pwned", "w")',
    "carriage\rreturn",
    "unicode line\u2028separator and\u2029paragraph",
    "tab\tand nul \x00 and bell \x07",
    '"""triple"""',
    "'''triple'''",
    "emoji 🚀 and accents é",
    "{x} {{y}} %(z)s",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_refused(name: str) -> None:
    with pytest.raises(BadParametersError):
        validate_parameters({name: 1})


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_string_values_round_trip_through_the_injected_source(value: str) -> None:
    source = injected_source({"value": value})
    tree = ast.parse(source)
    assert len(tree.body) == 1  # one assignment, nothing else to run
    namespace: dict[str, object] = {}
    exec(compile(tree, "<injected>", "exec"), {}, namespace)
    assert namespace["value"] == value


@pytest.mark.parametrize(
    "value",
    [0, -3, 2**70, 0.1, 1e-300, True, None, [1, "a", [2.5]], {"k": [1, 2], "n": None}],
)
def test_data_values_round_trip(value: object) -> None:
    namespace: dict[str, object] = {}
    exec(injected_source({"v": value}), {}, namespace)
    assert namespace["v"] == value
    assert type(namespace["v"]) is type(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (datetime.date(2024, 1, 31), "quote it in YAML"),
        ({1, 2}, "set"),
        (float("nan"), "cannot be injected"),
        (float("inf"), "cannot be injected"),
        (object(), "cannot be passed exactly"),
        ([1, datetime.datetime(2024, 1, 1)], r"v\[1\]"),
    ],
)
def test_values_that_cannot_round_trip_are_refused(value: object, message: str) -> None:
    with pytest.raises(BadParametersError, match=message):
        validate_parameters({"v": value})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3), ("0.5", 0.5), ("true", True), ("null", None), ("None", None), ("[1, 2]", [1, 2]),
        ("hello", "hello"), ("a: b: c", "a: b: c"), ("'quoted'", "quoted"), ("", ""),
    ],
)
def test_cli_values_parse_like_papermill(text: str, value: object) -> None:
    assert parse_value(text) == value


def test_a_yaml_date_is_refused_not_stringified() -> None:
    with pytest.raises(BadParametersError, match="quote it"):
        validate_parameters({"day": parse_value("2024-01-31")})
