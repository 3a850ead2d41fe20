"""Holdouts of the example project, named in its pyproject.toml as ``holdouts:NAME``."""

from pathlib import Path
from typing import Any

import pandas as pd


def flowers() -> tuple[Any, Any]:
    """The held-out flowers: features and species."""
    frame = pd.read_csv(Path(__file__).with_name("data") / "flowers.csv")
    return frame.drop(columns=["species"]), frame["species"]
