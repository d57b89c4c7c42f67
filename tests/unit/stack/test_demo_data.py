"""The demo's data: the bundled default, any CSV in time order, and the errors that
tell a user what to change."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gyre.stack.demo import DemoDataError, load_csv, load_default


def test_default_is_the_bundled_breast_cancer_data_ordered_by_mean_texture() -> None:
    data = load_default()
    assert len(data.frame) == 569
    assert data.target == "diagnosis"
    assert set(data.frame["diagnosis"]) == {"malignant", "benign"}
    assert len(data.features) == 30
    assert all(" " not in c for c in data.features)
    assert data.frame["mean_texture"].is_monotonic_increasing
    # Both classes in version 1 (a model can learn), many more malignant cases later.
    assert 0.1 < (data.first["diagnosis"] == "malignant").mean() < 0.25
    assert (data.later["diagnosis"] == "malignant").mean() > 0.5
    assert data.first_rows == 284
    assert len(data.first) + len(data.later) == 569


def test_versions_share_a_prefix_so_version_2_appends(tmp_path: Path) -> None:
    data = load_default()
    v1, v2 = data.write_versions(tmp_path)
    first, every = v1.read_bytes(), v2.read_bytes()
    assert every.startswith(first)
    assert len(pd.read_csv(v2)) == 569


def _csv(tmp_path: Path, rows: int = 300, **extra: list[object]) -> Path:
    frame = pd.DataFrame(
        {
            "when": list(range(rows, 0, -1)),
            "x": [float(i) for i in range(rows)],
            "label": ["a" if i % 3 else "b" for i in range(rows)],
            **extra,
        }
    )
    path = tmp_path / "my data.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_time_column_orders_the_replay_and_is_not_a_feature(tmp_path: Path) -> None:
    data = load_csv(_csv(tmp_path), target="label", time_column="when", first_share=0.6)
    assert data.frame["when"].is_monotonic_increasing
    assert data.features == ["x"]
    assert data.first_rows == 180
    assert data.name == "my-data"
    records = data.feature_records(data.later.head(2))
    assert records == [{"x": 119.0}, {"x": 118.0}]
    assert data.labels(data.later.head(3)) == ["a", "a", "b"]  # x = 119, 118, 117


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "nope"}, "has no column 'nope'"),
        ({"target": "label", "time_column": "nope"}, "no column 'nope' for --time-column"),
        ({"target": "label", "time_column": "label"}, "must be different columns"),
        ({"target": "label", "first_share": 0.95}, r"within \[0.1, 0.9\]"),
        ({"target": "label", "first_share": 0.3}, "90 rows in dataset version 1 and 210 after"),
        ({"target": "label", "first_share": 0.7}, "needs at least 150 and 100"),
    ],
)
def test_bad_arguments_say_what_to_change(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(DemoDataError, match=message):
        load_csv(_csv(tmp_path), **kwargs)  # type: ignore[arg-type]


def test_bad_files_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(DemoDataError, match="no such file"):
        load_csv(tmp_path / "missing.csv", target="label")
    with pytest.raises(DemoDataError, match="the demo needs at least 250"):
        load_csv(_csv(tmp_path, rows=50), target="label")
    constant = _csv(tmp_path, label_const=["z"] * 300)
    with pytest.raises(DemoDataError, match="has a single value"):
        load_csv(constant, target="label_const")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DemoDataError, match="could not be read as CSV"):
        load_csv(empty, target="label")


def test_column_names_become_identifiers_and_ids_are_lowercase(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "my date": list(range(300)),
            "1 day": [i % 7 for i in range(300)],
            "nsw price": [i / 300 for i in range(300)],
            "the class": ["UP" if i % 2 else "DOWN" for i in range(300)],
        }
    )
    path = tmp_path / "Nan_Feat 2!.csv"
    frame.to_csv(path, index=False)
    data = load_csv(path, target="the class", time_column="my date")
    assert data.target == "the_class"
    assert data.time_column == "my_date"
    assert data.features == ["c1_day", "nsw_price"]
    assert "columns renamed" in data.order_note
    assert data.name == "nan-feat-2"
    assert not data.numeric_target


def test_a_table_with_no_features_is_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"t": range(300), "y": ["a", "b"] * 150})
    path = tmp_path / "only.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DemoDataError, match="no feature columns"):
        load_csv(path, target="y", time_column="t")


def test_the_task_must_be_learnable_from_version_1(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": range(300), "y": ["a"] * 200 + ["b"] * 100, "v": range(300)})
    path = tmp_path / "late-class.csv"
    frame.to_csv(path, index=False)
    data = load_csv(path, target="y")
    with pytest.raises(DemoDataError, match="has a single class of 'y'"):
        data.check_task("classification")
    with pytest.raises(DemoDataError, match="needs a numeric target"):
        data.check_task("regression")
    load_csv(path, target="v").check_task("regression")


def test_a_time_column_of_mixed_types_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    rows = [f"{i},{i % 2},{i}" for i in range(298)] + ["soon,1,1", "later,0,2"]
    path.write_text("t,y,x\n" + "\n".join(rows) + "\n")
    with pytest.raises(DemoDataError, match="cannot be ordered"):
        load_csv(path, target="y", time_column="t")


def test_a_text_time_column_is_ordered_as_dates(tmp_path: Path) -> None:
    days = pd.date_range("2024-01-01", periods=300, freq="D")
    frame = pd.DataFrame(
        {"day": [d.strftime("%Y-%m-%d") for d in days][::-1], "x": range(300), "y": [0, 1] * 150}
    )
    path = tmp_path / "dates.csv"
    frame.to_csv(path, index=False)
    data = load_csv(path, target="y", time_column="day")
    assert data.frame["day"].tolist()[:2] == ["2024-01-01", "2024-01-02"]
    assert data.frame["x"].tolist()[:2] == [299, 298]
