"""Feature drift: the population stability index of live inputs against the registration profile.

The reference is the feature profile kept with each version at registration
(:func:`workbench.registry.evaluation.profile`). Profiles written since drift checks
exist carry, per feature, interior bin ``edges`` (deciles of the evaluation data) and the
reference ``shares`` of rows in each bin, counted exactly as live rows are counted here.
Older profiles only have quantiles; their quantile values are used as edges and the
differences of the quantile levels as shares, which is close but not exact when the
feature has many ties.

PSI = sum over bins of (live share - reference share) * ln(live share / reference share),
shares floored at :data:`SHARE_FLOOR`; missing values (NaN) form a bin of their own
when either side has any. Read below 0.1 as stable, 0.1-0.25 as a moderate shift, above
0.25 as a large one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

SHARE_FLOOR = 1e-4
"""Smallest share used in the PSI sum, so an empty bin on one side gives a large but finite term."""


def reference_bins(profile: Mapping[str, Any], feature: str) -> tuple[list[float], list[float], float] | None:
    """Interior bin edges, reference shares per bin (one more than edges) and missing share of ``feature``.

    ``None`` when the profile has no usable numbers for it (not profiled, or skipped).
    """
    entry = profile.get("features", {}).get(feature)
    if not isinstance(entry, Mapping):
        return None
    missing = float(entry.get("missing", 0.0))
    bins = entry.get("bins")
    if isinstance(bins, Mapping):
        return [float(e) for e in bins["edges"]], [float(s) for s in bins["shares"]], missing
    levels, quantiles = profile.get("levels"), entry.get("quantiles")
    if not isinstance(levels, list) or not isinstance(quantiles, list) or not len(levels) == len(quantiles) >= 3:
        return None
    edges: list[float] = []
    shares: list[float] = [0.0]
    for i in range(1, len(quantiles) - 1):
        shares[-1] += float(levels[i]) - float(levels[i - 1])
        if not edges or quantiles[i] > edges[-1]:
            edges.append(float(quantiles[i]))
            shares.append(0.0)
    shares[-1] += float(levels[-1]) - float(levels[-2])
    return edges, shares, missing


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """The population stability index of ``actual`` shares against ``expected`` ones (same bins)."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(float(e), SHARE_FLOOR), max(float(a), SHARE_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def feature_psi(profile: Mapping[str, Any], names: Sequence[str], rows: Sequence[Sequence[float]]) -> dict[str, float]:
    """PSI of each profiled feature over ``rows`` (columns in the order of ``names``); empty without rows."""
    import numpy as np

    if not rows:
        return {}
    array = np.asarray(rows, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != len(names):
        return {}
    result: dict[str, float] = {}
    for index, name in enumerate(names):
        reference = reference_bins(profile, name)
        if reference is None:
            continue
        edges, shares, missing = reference
        column = array[:, index]
        finite = column[np.isfinite(column)]
        live_missing = 1.0 - finite.size / column.size
        counts = np.bincount(np.searchsorted(np.asarray(edges), finite, side="right"), minlength=len(shares))
        live = [float(c) / finite.size * (1.0 - live_missing) for c in counts] if finite.size else [0.0] * len(shares)
        expected = [s * (1.0 - missing) for s in shares]
        if missing > 0 or live_missing > 0:
            expected.append(missing)
            live.append(live_missing)
        result[name] = psi(expected, live)
    return result


__all__ = ["SHARE_FLOOR", "feature_psi", "psi", "reference_bins"]
