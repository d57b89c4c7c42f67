"""The demo's data: a real table, ordered in time, cut into what was known at first and
what the world sends later.

The default is scikit-learn's bundled Wisconsin breast-cancer data (569 real patients,
30 numeric features; Street, Wolberg & Mangasarian 1993, UCI), which ships inside the
``scikit-learn`` wheel, so the demo needs no download. It has no time column, so it is
replayed as a population shift: rows ordered by ``mean_texture`` (the spread of grey
levels in the cell images), as if screening moved toward patients with coarser tissue,
among whom malignant tumours are more common (16 % in the first half, 58 % after).
Any CSV works too (``--csv FILE --target COL``); with ``--time-column COL`` its rows
are replayed in that column's order and the column is not a feature (a model must not
learn the calendar).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd  # type: ignore[import-untyped]

__all__ = [
    "DEFAULT_FIRST_SHARE",
    "DemoData",
    "DemoDataError",
    "load_csv",
    "load_default",
]

#: Share of the rows (in time order) known at the start: dataset version 1.
DEFAULT_FIRST_SHARE: Final = 0.5
# Enough rows for the data registry's train/validation/test splits and a test set the
# validation gate accepts (20 rows by default): version 1 is split 70/15/15.
MIN_FIRST_ROWS: Final = 150
# One monitoring window of traffic (the demo's windows hold at least 100 rows).
MIN_LATER_ROWS: Final = 100
_SAFE_NAME: Final = re.compile(r"[^0-9A-Za-z_]+")
# Resource ids (datasets, models, triggers, experiments): lowercase letters, digits, "-".
_ID_CHARS: Final = re.compile(r"[^a-z0-9]+")


class DemoDataError(ValueError):
    """The data cannot drive the demo (the message says why and what to change)."""


@dataclass(frozen=True)
class DemoData:
    """A table in replay order and how the demo uses it.

    Attributes:
        name: Short name of the data, used in resource names (``breast-cancer``).
        description: Where the data comes from, for the dataset's metadata.
        frame: Every row, in replay (time) order.
        target: Label column.
        features: Columns the model reads (every column but the target and time column).
        time_column: Column the rows were ordered by and left out of the features, if any.
        order_note: How the rows were ordered, for the narration.
        first_rows: Rows ``[0, first_rows)`` are dataset version 1; the rest is the
            later data: prediction traffic, then part of dataset version 2.
    """

    name: str
    description: str
    frame: pd.DataFrame
    target: str
    features: list[str]
    time_column: str | None
    order_note: str
    first_rows: int
    source: str = ""

    def check_task(self, task: str) -> None:
        """Refuse a table the task cannot learn from, before anything is created.

        Raises:
            DemoDataError: regression on a non-numeric target; classification with a
                single class in dataset version 1.
        """
        if task == "regression":
            if not self.numeric_target:
                raise DemoDataError(
                    f"--task regression needs a numeric target; {self.target!r} is not"
                )
            return
        classes = self.first[self.target].nunique()
        if classes < 2:
            raise DemoDataError(
                f"dataset version 1 (the first {self.first_rows} rows in replay order) has a "
                f"single class of {self.target!r}; a classifier needs two: raise --first-share"
                " or order the rows differently"
            )

    @property
    def numeric_target(self) -> bool:
        """Whether the target holds numbers (what a regression needs)."""
        return bool(pd.api.types.is_numeric_dtype(self.frame[self.target]))

    @property
    def first(self) -> pd.DataFrame:
        """Dataset version 1: what was known before the model went live."""
        return self.frame.iloc[: self.first_rows]

    @property
    def later(self) -> pd.DataFrame:
        """The data that arrives after: served as traffic, labelled, then committed."""
        return self.frame.iloc[self.first_rows :]

    def write_versions(self, directory: Path) -> tuple[Path, Path]:
        """Write version 1 (the first rows) and version 2 (every row) as CSV files.

        Version 2 starts with version 1's bytes, so the data registry's content-defined
        chunks are shared and only the appended rows are uploaded.
        """
        directory.mkdir(parents=True, exist_ok=True)
        v1 = directory / f"{self.name}-v1.csv"
        v2 = directory / f"{self.name}-v2.csv"
        self.first.to_csv(v1, index=False)
        self.frame.to_csv(v2, index=False)
        return v1, v2

    def feature_records(self, rows: pd.DataFrame) -> list[dict[str, Any]]:
        """``rows`` as prediction inputs: one dict of feature -> Python scalar per row."""
        records: list[dict[str, Any]] = rows[self.features].to_dict("records")
        return records

    def labels(self, rows: pd.DataFrame) -> list[Any]:
        """The ground truth of ``rows`` as Python scalars (what feedback sends)."""
        return [_native(v) for v in rows[self.target].tolist()]


def _time_order(column: pd.Series, name: str, source: str) -> Any:
    """Row positions in ``column``'s order: numbers as numbers, text parsed as dates
    (ISO 8601 and the like), stably.

    Raises:
        DemoDataError: values that are neither all numbers nor all dates, or empty ones.
    """
    key: pd.Series = column
    if column.isna().any():
        raise DemoDataError(f"{source}: --time-column {name!r} has empty values")
    if not pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_datetime64_any_dtype(
        column
    ):
        key = pd.to_numeric(column, errors="coerce")
        if key.isna().any():
            key = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
        if key.isna().any():
            bad = column[key.isna()].iloc[0]
            raise DemoDataError(
                f"{source}: the values of --time-column {name!r} cannot be ordered: they are "
                f"neither all numbers nor all dates (e.g. {bad!r})"
            )
    return key.reset_index(drop=True).sort_values(kind="stable").index.to_numpy()


def _identifier(name: str) -> str:
    """``name`` as an identifier: runs of other characters become ``_``, and a leading
    digit gets a ``c`` prefix (``"1 day"`` → ``"c1_day"``)."""
    out = _SAFE_NAME.sub("_", name.strip()).strip("_") or "column"
    return f"c{out}" if out[0].isdigit() else out


def _native(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _check(frame: pd.DataFrame, target: str, first_share: float, source: str) -> int:
    if target not in frame.columns:
        raise DemoDataError(
            f"{source} has no column {target!r} (columns: {', '.join(map(str, frame.columns))})"
        )
    minimum = MIN_FIRST_ROWS + MIN_LATER_ROWS
    if len(frame) < minimum:
        raise DemoDataError(f"{source} has {len(frame)} rows; the demo needs at least {minimum}")
    if frame[target].isna().any():
        raise DemoDataError(f"{source}: the target column {target!r} has empty values")
    if frame[target].nunique() < 2:
        raise DemoDataError(f"{source}: the target column {target!r} has a single value")
    if not 0.1 <= first_share <= 0.9:
        raise DemoDataError(f"the first share must be within [0.1, 0.9], got {first_share}")
    first = int(len(frame) * first_share)
    if first < MIN_FIRST_ROWS or len(frame) - first < MIN_LATER_ROWS:
        raise DemoDataError(
            f"{source}: --first-share {first_share:g} puts {first} rows in dataset version 1 "
            f"and {len(frame) - first} after; the demo needs at least {MIN_FIRST_ROWS} and "
            f"{MIN_LATER_ROWS}"
        )
    return first


def load_default(*, first_share: float = DEFAULT_FIRST_SHARE) -> DemoData:
    """scikit-learn's bundled breast-cancer data, ordered by ``mean_texture``.

    Column names are made identifiers (``mean radius`` → ``mean_radius``) and the
    target is the diagnosis as text (``malignant`` / ``benign``).

    Raises:
        DemoDataError: scikit-learn is not installed.
    """
    try:
        from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - scikit-learn comes with the stack
        raise DemoDataError(
            "the default demo data ships with scikit-learn; install it or pass --csv FILE"
        ) from exc
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.rename(columns=lambda c: _identifier(str(c)))
    names = list(bunch.target_names)
    frame["diagnosis"] = [names[int(i)] for i in bunch.target]
    frame = frame.sort_values("mean_texture", kind="stable").reset_index(drop=True)
    first = _check(frame, "diagnosis", first_share, "the breast-cancer data")
    return DemoData(
        name="breast-cancer",
        description=(
            "Wisconsin diagnostic breast cancer (569 patients, 30 features; Street, Wolberg "
            "& Mangasarian 1993), bundled with scikit-learn"
        ),
        frame=frame,
        target="diagnosis",
        features=[c for c in frame.columns if c != "diagnosis"],
        time_column=None,
        order_note=(
            "no time column: replayed as a population shift, ordered by mean_texture "
            "(screening moves toward patients with coarser tissue)"
        ),
        first_rows=first,
        source="sklearn.datasets.load_breast_cancer",
    )


def load_csv(
    path: Path,
    *,
    target: str,
    time_column: str | None = None,
    first_share: float = DEFAULT_FIRST_SHARE,
) -> DemoData:
    """A CSV file, replayed in ``time_column`` order when given, else in file order.

    Raises:
        DemoDataError: the file cannot be read, or lacks the target / time column, or
            has too few rows or a constant target.
    """
    source = str(path)
    try:
        frame = pd.read_csv(path, low_memory=False)
    except FileNotFoundError as exc:
        raise DemoDataError(f"{source}: no such file") from exc
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DemoDataError(f"{source} could not be read as CSV: {exc}") from exc
    # Model inputs are named after columns, and ONNX / Triton tensor names must be
    # identifiers: "nsw price" becomes "nsw_price" (the demo writes its own CSVs).
    renamed = {c: _identifier(str(c)) for c in frame.columns}
    renamed = {old: new for old, new in renamed.items() if old != new}
    if len(set(map(_identifier, map(str, frame.columns)))) != len(frame.columns):
        raise DemoDataError(f"{source}: column names collide once made identifiers")
    if renamed:
        frame = frame.rename(columns=renamed)
        target = renamed.get(target, target)
        time_column = renamed.get(time_column, time_column) if time_column else None
    if time_column is not None:
        if time_column not in frame.columns:
            raise DemoDataError(
                f"{source} has no column {time_column!r} for --time-column "
                f"(columns: {', '.join(map(str, frame.columns))})"
            )
        if time_column == target:
            raise DemoDataError("--time-column and --target must be different columns")
        order = _time_order(frame[time_column], time_column, source)
        frame = frame.iloc[order].reset_index(drop=True)
        note = f"replayed in time order ({time_column}, not a feature)"
    else:
        note = "no time column: replayed in file order"
    first = _check(frame, target, first_share, source)
    features = [c for c in frame.columns if c not in (target, time_column)]
    if not features:
        raise DemoDataError(f"{source} has no feature columns besides the target and time")
    if renamed:
        shown = ", ".join(f"{a!r} → {b!r}" for a, b in list(renamed.items())[:4])
        note += f"; columns renamed to identifiers ({shown}{', …' if len(renamed) > 4 else ''})"
    stem = _ID_CHARS.sub("-", path.stem.lower()).strip("-")[:30] or "data"
    return DemoData(
        name=stem,
        description=f"{path.name}, pushed by gyre demo",
        frame=frame,
        target=target,
        features=features,
        time_column=time_column,
        order_note=note,
        first_rows=first,
        source=source,
    )
