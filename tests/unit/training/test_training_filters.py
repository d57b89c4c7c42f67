"""The run filter language and ordering."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gyre.runtime.errors import InvalidArgument
from gyre.services.training.filters import parse_filter, parse_order_by, sort_key

ROW = {
    "metrics.val_auc": 0.93,
    "params.max_depth": 6,
    "params.loss": "log_loss",
    "labels.team": "energy",
    "state": "SUCCEEDED",
    "cause.kind": "NEW_DATA",
    "create_time": datetime(2026, 11, 29, 10, 0, tzinfo=UTC),
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("metrics.val_auc > 0.9 and params.max_depth = 6", True),
        ("metrics.val_auc > 0.95", False),
        ("metrics.val_auc >= 0.93 AND params.max_depth <= 6", True),
        ("params.max_depth != 6", False),
        ('params.loss = "log_loss"', True),
        ("labels.team = energy state = SUCCEEDED", True),  # juxtaposition is AND
        ("state = RUN_STATE_SUCCEEDED", True),
        ("state = failed OR labels.team = energy", True),
        ("NOT (state = SUCCEEDED)", False),
        ("-state = SUCCEEDED", False),
        ("cause.kind = TRIGGER_KIND_NEW_DATA", True),
        ("metrics.rmse < 1", False),  # a missing field matches no term...
        ("metrics.rmse != 1", False),  # ...not even a negative one
        ("metrics.rmse:*", False),
        ("metrics.val_auc:*", True),
        ("labels.team:erg", True),
        ('create_time > "2026-11-29T09:00:00Z"', True),
        ('create_time < "2026-11-29T09:00:00Z"', False),
    ],
)
def test_filter_terms(text: str, expected: bool) -> None:
    assert parse_filter(text)(ROW) is expected


@pytest.mark.parametrize(
    "text", ["metrics.auc >", "(state = SUCCEEDED", "state == SUCCEEDED", "= 3", "a > 1 )"]
)
def test_malformed_filters_are_invalid_argument(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_filter(text)
    assert info.value.reason == "INVALID_FILTER"


def test_order_by_numbers_then_missing_last() -> None:
    rows = [{"m": 0.5, "n": "b"}, {"n": "a"}, {"m": 0.9, "n": "c"}, {"m": 0.5, "n": "a"}]
    rows.sort(key=sort_key(parse_order_by("m desc, n", default="n")))
    assert [(r.get("m"), r["n"]) for r in rows] == [(0.9, "c"), (0.5, "a"), (0.5, "b"), (None, "a")]
    with pytest.raises(InvalidArgument):
        parse_order_by("m sideways", default="n")
