"""``%datamart``: the listing as a result object; bad usage is a one-line UsageError."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from workbench import datamart


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "workbench")
    yield ip
    InteractiveShell.clear_instance()


def test_datamart_lists_datasets_and_versions(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    first = datamart.put("churn", pd.DataFrame({"a": [1, 2]}), description="raw")
    second = datamart.put("churn", pd.DataFrame({"a": [3]}))
    listing = shell.run_line_magic("datamart", "-o")
    assert list(listing) == [second]
    assert second.version in capsys.readouterr().out
    versions = shell.run_line_magic("datamart", "-o -q churn")
    assert list(versions) == [first, second]
    assert capsys.readouterr().out == ""
    assert shell.run_line_magic("datamart", "churn") is None


@pytest.mark.parametrize(
    ("line", "message"),
    [("nope", "no dataset named 'nope'"), ("../x", "is not allowed"), ("--bogus", "unrecognized arguments"),
     ("a b", "unrecognized arguments")],
)
def test_bad_usage_is_a_usage_error(shell: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        shell.run_line_magic("datamart", line)
