"""Parameters: names validated, values injected as data (no papermill string escaping)."""

import ast
import datetime
import math

import pytest
import yaml

from workbench.errors import BadParametersError
from workbench.jobs.params import injected_source, parse_value, parse_yaml_mapping, validate_parameters

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


PAPERMILL_CASES = [
    "line1\nline2", "release 2 # final", "010", "no", "on", "off", "yes", "12:30", "1e3", "3", "0.5", "-7",
    "1_000", " 42 ", "0x1F", "0o17", "true", "True", "False", "None", "null", "~", "[1, 2]", "{a: 1}",
    "a: b: c", "'quoted'", "", "2024-01-31", "nan", "inf", "+1.5E-3", ".5", "007", "hello world",
]


@pytest.mark.parametrize("text", PAPERMILL_CASES)
def test_cli_values_are_read_exactly_as_papermill_reads_them(text: str) -> None:
    from papermill.cli import _resolve_type

    expected = _resolve_type(text)
    got = parse_value(text)
    assert type(got) is type(expected)
    assert got == expected or (isinstance(got, float) and math.isnan(got) and math.isnan(expected))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("line1\nline2", "line1\nline2"), ("release 2 # final", "release 2 # final"), ("010", 10),
        ("no", "no"), ("on", "on"), ("12:30", "12:30"), ("1e3", 1000.0), ("[1, 2]", "[1, 2]"), ("true", "true"),
        ("True", True), ("None", None), ("", ""),
    ],
)
def test_the_cases_of_the_issue_table(text: str, value: object) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_yaml_mappings_read_as_papermill_reads_them() -> None:
    from papermill.iorw import NoDatesSafeLoader

    text = "layers: [1, 2]\nday: 2024-01-31\nflag: no\nmode: '010'"
    assert parse_yaml_mapping(text) == yaml.load(text, Loader=NoDatesSafeLoader)
    assert parse_yaml_mapping(text)["day"] == "2024-01-31"
    with pytest.raises(BadParametersError, match="mapping"):
        parse_yaml_mapping("[1, 2]")


def test_a_date_object_is_refused_not_stringified() -> None:
    with pytest.raises(BadParametersError, match="quote it"):
        validate_parameters({"day": datetime.date(2024, 1, 31)})


def test_not_finite_numbers_papermill_would_pass_are_refused() -> None:
    with pytest.raises(BadParametersError, match="cannot be injected"):
        validate_parameters({"x": parse_value("nan")})
