"""Streaming drift accounting: counts on the reference's bins, PSI and chi-square.

Memory is O(bins) per monitored feature and independent of traffic: a window never
keeps the rows it has seen, only one integer count per reference bin (plus a null
count) per feature, and the same for the prediction.

Binning follows ``gyre.common.v1.Histogram`` exactly (see ``profile.proto``):

- numeric: ``n + 1`` ascending edges and ``n`` counts; bin ``i`` is
  ``[edges[i], edges[i+1])``, the first bin also takes values below ``edges[0]`` and
  the last bin values at or above ``edges[n]`` — i.e. ``index = clip(searchsorted(edges,
  x, "right") - 1, 0, n - 1)``;
- categorical: ``n`` category labels and ``n + 1`` counts; the last count collects
  every value not among the labels ("other").

Statistics:

- **PSI** (population stability index), ``sum_i (c_i - r_i) * ln(c_i / r_i)`` over
  the reference shares ``r`` and window shares ``c`` of the same bins. Empty bins make
  the logarithm infinite, so shares are additively smoothed:
  ``p_i = (n_i / N + eps) / (1 + k * eps)`` with ``eps = 1e-4`` (:data:`PSI_EPSILON`)
  and ``k`` bins (a window with no rows gets uniform shares). The rule of thumb
  PSI < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 significant shift, and the
  quantile binning of the reference, are from N. Siddiqi, *Credit Risk Scorecards*
  (Wiley, 2006), ch. 8; B. Yurdakul, *Statistical Properties of Population Stability
  Index* (PhD thesis, Western Michigan University, 2018) derives its distribution and
  shows its dependence on the bin count and sample sizes.
- **Chi-square** test of homogeneity for categorical features (K. Pearson, 1900): the
  2 x k contingency table of reference and window counts (categories empty in both
  dropped), ``scipy.stats.chi2_contingency`` without Yates' correction, giving the
  statistic and its p-value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy.stats import chi2_contingency  # type: ignore[import-untyped]

from gyre.common.v1 import profile_pb2
from gyre.data.v1 import dataset_pb2
from gyre.monitoring.v1 import report_pb2

__all__ = [
    "ABSENT",
    "PREDICTION_FEATURE",
    "PSI_EPSILON",
    "DriftWindow",
    "FeatureCounter",
    "RecordColumns",
    "Reference",
    "ReferenceFeature",
    "categorical_key",
    "chi_square",
    "feature_summary",
    "numeric_histogram",
    "psi",
    "smoothed_shares",
    "to_number",
]

#: Additive smoothing of bin shares before PSI (see the module docstring).
PSI_EPSILON: Final = 1e-4
#: ``FeatureDrift.feature`` of the prediction's drift.
PREDICTION_FEATURE: Final = "__prediction__"


class _Absent:
    """Marks a column a logged row did not carry at all (as opposed to a null value)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


#: Cell of a :class:`RecordColumns` column for a row that lacks the column.
ABSENT: Final = _Absent()

Cell = float | int | str | bool | None | _Absent

NUMERIC = report_pb2.FEATURE_KIND_NUMERIC
CATEGORICAL = report_pb2.FEATURE_KIND_CATEGORICAL


def smoothed_shares(counts: npt.ArrayLike, *, epsilon: float = PSI_EPSILON) -> npt.NDArray[Any]:
    """Bin shares ``(n_i / N + eps) / (1 + k * eps)``; uniform when ``N == 0``.

    Args:
        counts: ``k`` non-negative counts.
        epsilon: additive smoothing per bin.

    Returns:
        ``k`` float64 shares summing to 1, all positive.
    """
    array = np.asarray(counts, dtype=np.float64)
    k = array.size
    if k == 0:
        return array
    total = float(array.sum())
    if total <= 0:
        return np.full(k, 1.0 / k)
    return (array / total + epsilon) / (1.0 + k * epsilon)


def psi(
    reference_counts: npt.ArrayLike,
    current_counts: npt.ArrayLike,
    *,
    epsilon: float = PSI_EPSILON,
) -> float:
    """Population stability index of ``current`` against ``reference`` on the same bins.

    ``sum_i (c_i - r_i) * ln(c_i / r_i)`` with epsilon-smoothed shares (Siddiqi 2006;
    Yurdakul 2018). Always >= 0; 0 for identical shares.

    Raises:
        ValueError: the two count vectors differ in length.
    """
    reference = np.asarray(reference_counts)
    current = np.asarray(current_counts)
    if reference.shape != current.shape:
        raise ValueError(f"bins differ: {reference.shape} vs {current.shape}")
    if reference.size == 0:
        return 0.0
    r = smoothed_shares(reference, epsilon=epsilon)
    c = smoothed_shares(current, epsilon=epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


def chi_square(
    reference_counts: npt.ArrayLike, current_counts: npt.ArrayLike
) -> tuple[float, float]:
    """Pearson's chi-square test of homogeneity of two count vectors on the same categories.

    Categories empty in both are dropped; with fewer than two left (or an empty side)
    there is nothing to test and the result is ``(0.0, 1.0)``. Uses
    ``scipy.stats.chi2_contingency(..., correction=False)``.

    Returns:
        ``(statistic, p_value)``.
    """
    table = np.vstack([np.asarray(reference_counts), np.asarray(current_counts)]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = chi2_contingency(table, correction=False)
    statistic = float(result[0])
    p_value = float(result[1])
    return statistic, p_value


def numeric_histogram(values: npt.ArrayLike, *, bins: int = 10) -> profile_pb2.Histogram:
    """A reference histogram of ``values`` on their quantiles, as the profile contract
    describes it (``bins + 1`` quantile edges, NaN ignored, equal edges kept).

    For tests, benchmarks and references built outside the data registry.
    """
    array = np.asarray(values, dtype=np.float64)
    array = array[~np.isnan(array)]
    if array.size == 0:
        return profile_pb2.Histogram()
    edges = np.quantile(array, np.linspace(0.0, 1.0, bins + 1))
    counts = np.bincount(_bin_index(edges, array), minlength=bins)
    return profile_pb2.Histogram(edges=edges.tolist(), counts=counts.tolist())


def _bin_index(edges: npt.NDArray[Any], values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    n = len(edges) - 1
    index = np.searchsorted(edges, values, side="right") - 1
    return np.clip(index, 0, max(n - 1, 0))


def to_number(cell: Cell) -> float:
    """A cell as a float for numeric accounting; NaN for null, absent or non-numbers."""
    if cell is None or isinstance(cell, _Absent):
        return math.nan
    if isinstance(cell, bool | int | float):
        return float(cell)
    try:
        return float(cell)
    except ValueError:
        return math.nan


def categorical_key(cell: Cell) -> str | None:
    """A cell as a category label; ``None`` for null or absent.

    Integers (and integral floats) print without a decimal point; booleans as
    ``"true"``/``"false"``.
    """
    if cell is None or isinstance(cell, _Absent):
        return None
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float):
        if math.isnan(cell):
            return None
        if cell.is_integer():
            return str(int(cell))
    return str(cell)


@dataclass(frozen=True)
class ReferenceFeature:
    """The reference distribution of one column on its bins.

    Attributes:
        name: column name.
        kind: ``FEATURE_KIND_NUMERIC`` or ``FEATURE_KIND_CATEGORICAL``.
        histogram: the reference ``Histogram`` (edges or categories, and counts).
        null_rate: share of null rows in the reference (0-1).
    """

    name: str
    kind: int
    histogram: profile_pb2.Histogram
    null_rate: float = 0.0
    edges: npt.NDArray[Any] = field(init=False, repr=False, compare=False)
    # The edges rounded to float32, what live values are binned against (see add_numbers).
    edges32: npt.NDArray[Any] = field(init=False, repr=False, compare=False)
    counts: npt.NDArray[Any] = field(init=False, repr=False, compare=False)
    index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        edges = np.asarray(self.histogram.edges, dtype=np.float64)
        counts = np.asarray(self.histogram.counts, dtype=np.int64)
        if self.kind == NUMERIC:
            if len(edges) < 2 or len(counts) != len(edges) - 1:
                raise ValueError(
                    f"numeric histogram of {self.name!r}: need n+1 >= 2 edges and n counts"
                )
        elif self.kind == CATEGORICAL:
            if len(counts) != len(self.histogram.categories) + 1:
                raise ValueError(
                    f"categorical histogram of {self.name!r}: need n categories and n+1 counts"
                )
        else:
            raise ValueError(f"unknown feature kind {self.kind}")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "edges32", edges.astype(np.float32))
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "index", {c: i for i, c in enumerate(self.histogram.categories)})

    @property
    def bins(self) -> int:
        """Number of count cells."""
        return len(self.counts)

    @classmethod
    def from_profile(cls, profile: profile_pb2.ColumnProfile) -> ReferenceFeature | None:
        """From a data-registry column profile; ``None`` when the column has no usable
        statistics (not profiled, or only nulls)."""
        null_rate = profile.null_count / profile.count if profile.count > 0 else 0.0
        which = profile.WhichOneof("stats")
        if which == "numeric":
            histogram = profile.numeric.histogram
            if len(histogram.edges) < 2:
                return None
            return cls(profile.column, NUMERIC, histogram, null_rate)
        if which == "categorical":
            categorical = profile.categorical
            histogram = profile_pb2.Histogram(
                categories=[c.value for c in categorical.top_categories],
                counts=[c.count for c in categorical.top_categories] + [categorical.other_count],
            )
            return cls(profile.column, CATEGORICAL, histogram, null_rate)
        return None


@dataclass(frozen=True)
class Reference:
    """A reference profile, ready for streaming accounting.

    Attributes:
        dataset_version: ``"datasets/{dataset}/versions/{version}"``.
        features: monitored features by name.
        target: the label column's distribution (reference of prediction drift), if
            the dataset version names one and it was profiled.
        columns: every column the reference profile has (monitored or not).
        missing_features: requested features the profile lacks (not monitored).
    """

    dataset_version: str
    features: Mapping[str, ReferenceFeature]
    target: ReferenceFeature | None = None
    columns: frozenset[str] = frozenset()
    missing_features: tuple[str, ...] = ()

    @classmethod
    def from_dataset_version(
        cls,
        version: dataset_pb2.DatasetVersion,
        *,
        features: Sequence[str] = (),
    ) -> Reference:
        """From a ``DatasetVersion``'s ``column_profiles``.

        Args:
            version: the dataset version (with profiles).
            features: features to monitor; empty means every profiled column but the
                target column.

        A column's kind (numeric or categorical) is the kind of its profile.
        """
        by_name: dict[str, ReferenceFeature] = {}
        for profile in version.column_profiles:
            feature = ReferenceFeature.from_profile(profile)
            if feature is not None:
                by_name[profile.column] = feature
        target_name = version.target_column
        target = by_name.get(target_name) if target_name else None
        wanted = list(features) or [
            p.column for p in version.column_profiles if p.column != target_name
        ]
        monitored = {name: by_name[name] for name in wanted if name in by_name}
        missing = tuple(name for name in wanted if name not in by_name)
        return cls(
            dataset_version=version.name,
            features=monitored,
            target=target,
            columns=frozenset(p.column for p in version.column_profiles),
            missing_features=missing,
        )


class FeatureCounter:
    """Window counts of one feature on its reference bins: O(bins) memory.

    ``counts`` has the reference's shape; ``nulls`` counts null, absent and (numeric)
    non-numeric cells, which are not binned.
    """

    __slots__ = ("counts", "nulls", "reference")

    def __init__(self, reference: ReferenceFeature) -> None:
        self.reference = reference
        self.counts = np.zeros(reference.bins, dtype=np.int64)
        self.nulls = 0

    @property
    def total(self) -> int:
        """Rows seen (binned and null)."""
        return int(self.counts.sum()) + self.nulls

    def add(self, cells: Sequence[Cell]) -> None:
        """Count a column slice."""
        if self.reference.kind == NUMERIC:
            try:
                # Fast path: numbers and None (-> NaN) convert in C.
                values = np.asarray(cells, dtype=np.float64)
            except (TypeError, ValueError):
                values = np.fromiter((to_number(c) for c in cells), np.float64, len(cells))
            self.add_numbers(values)
        else:
            self.add_labels([categorical_key(c) for c in cells])

    def add_numbers(self, values: npt.NDArray[Any]) -> None:
        """Count float64 values (NaN = null) of a numeric feature.

        Values and reference edges are compared as float32: models take float32
        tensors, so the gateway logs features rounded to float32, and a value tied on a
        reference quantile edge (0.414912, in 39 % of Elec2's ``transfer`` rows) would
        otherwise round just below it and move to the bin below — drift that is not
        there. Rounding both sides keeps ties tied (float32 rounding is monotonic).
        """
        nan = np.isnan(values)
        n_null = int(nan.sum())
        if n_null:
            self.nulls += n_null
            values = values[~nan]
        if values.size:
            index = _bin_index(self.reference.edges32, values.astype(np.float32))
            self.counts += np.bincount(index, minlength=len(self.counts))

    def add_labels(self, labels: Sequence[str | None]) -> None:
        """Count category labels (``None`` = null) of a categorical feature."""
        lookup = self.reference.index
        other = len(self.counts) - 1
        index = []
        for label in labels:
            if label is None:
                self.nulls += 1
            else:
                index.append(lookup.get(label, other))
        if index:
            self.counts += np.bincount(
                np.asarray(index, dtype=np.int64), minlength=len(self.counts)
            )

    def drift(
        self,
        *,
        psi_threshold: float,
        chi_square_p_value_threshold: float,
        feature: str | None = None,
    ) -> report_pb2.FeatureDrift:
        """This window's drift against the reference, as a ``FeatureDrift``."""
        ref = self.reference
        value = psi(ref.counts, self.counts)
        result = report_pb2.FeatureDrift(
            feature=feature or ref.name,
            kind=ref.kind,  # type: ignore[arg-type]
            psi=value,
            reference_null_rate=ref.null_rate,
            current_null_rate=self.nulls / self.total if self.total else 0.0,
        )
        result.reference.CopyFrom(ref.histogram)
        current = result.current
        if ref.kind == NUMERIC:
            current.edges.extend(ref.histogram.edges)
        else:
            current.categories.extend(ref.histogram.categories)
        current.counts.extend(int(c) for c in self.counts)
        drifted = value > psi_threshold
        if ref.kind == CATEGORICAL:
            statistic, p_value = chi_square(ref.counts, self.counts)
            result.chi_square_statistic = statistic
            result.chi_square_p_value = p_value
            drifted = drifted or p_value < chi_square_p_value_threshold
        result.drifted = bool(drifted) and int(self.counts.sum()) > 0
        return result


@dataclass
class RecordColumns:
    """Logged records of one deployment and version, column by column.

    Attributes:
        features: column name -> one cell per row (``ABSENT`` where a row lacks it).
        predictions: the predicted label or value per row.
        times: serving time per row (``None`` when the record had none).
    """

    features: dict[str, list[Cell]]
    predictions: list[Cell]
    times: list[datetime | None]

    def __len__(self) -> int:
        return len(self.predictions)

    def slice(self, start: int, stop: int) -> RecordColumns:
        """Rows ``start:stop``."""
        return RecordColumns(
            features={name: cells[start:stop] for name, cells in self.features.items()},
            predictions=self.predictions[start:stop],
            times=self.times[start:stop],
        )


class DriftWindow:
    """One open window of a deployment version's traffic, counted on reference bins.

    Args:
        deployment: ``"deployments/{deployment}"``.
        model_version: ``"models/{model}/versions/{version}"``.
        reference: the reference to count against.
        opened_at: when the window opened (the monitor's clock, aware UTC).
    """

    def __init__(
        self, deployment: str, model_version: str, reference: Reference, opened_at: datetime
    ) -> None:
        self.deployment = deployment
        self.model_version = model_version
        self.reference = reference
        self.opened_at = opened_at
        self.features = {name: FeatureCounter(ref) for name, ref in reference.features.items()}
        self.prediction = FeatureCounter(reference.target) if reference.target else None
        self.row_count = 0
        self.first_time: datetime | None = None
        self.last_time: datetime | None = None
        # Rows lacking a monitored feature, per feature; rows with unreferenced columns.
        self.missing: dict[str, int] = {}
        self.unreferenced: dict[str, int] = {}
        self.missing_rows = 0

    def add(self, columns: RecordColumns) -> int:
        """Count every row of ``columns``; returns the rows lacking a monitored feature."""
        n = len(columns)
        if n == 0:
            return 0
        lacking = np.zeros(n, dtype=bool)
        for name, counter in self.features.items():
            cells = columns.features.get(name)
            if cells is None:
                self.missing[name] = self.missing.get(name, 0) + n
                counter.nulls += n
                lacking[:] = True
                continue
            if ABSENT in cells:
                absent = np.fromiter((c is ABSENT for c in cells), bool, n)
                self.missing[name] = self.missing.get(name, 0) + int(absent.sum())
                lacking |= absent
            counter.add(cells)
        for name, cells in columns.features.items():
            if name not in self.reference.columns:
                present = n - sum(1 for c in cells if c is ABSENT) if ABSENT in cells else n
                if present:
                    self.unreferenced[name] = self.unreferenced.get(name, 0) + present
        if self.prediction is not None:
            self.prediction.add(columns.predictions)
        for stamp in columns.times:
            if stamp is None:
                continue
            if self.first_time is None or stamp < self.first_time:
                self.first_time = stamp
            if self.last_time is None or stamp > self.last_time:
                self.last_time = stamp
        self.row_count += n
        lacking_rows = int(lacking.sum())
        self.missing_rows += lacking_rows
        return lacking_rows

    def to_state(self) -> dict[str, Any]:
        """A JSON-able checkpoint of the window (restored by :meth:`from_state`)."""
        return {
            "reference": self.reference.dataset_version,
            "features": {
                name: {"counts": c.counts.tolist(), "nulls": c.nulls}
                for name, c in self.features.items()
            },
            "prediction": (
                {"counts": self.prediction.counts.tolist(), "nulls": self.prediction.nulls}
                if self.prediction is not None
                else None
            ),
            "row_count": self.row_count,
            "opened_at": self.opened_at.isoformat(),
            "first_time": self.first_time.isoformat() if self.first_time else None,
            "last_time": self.last_time.isoformat() if self.last_time else None,
            "missing": self.missing,
            "unreferenced": self.unreferenced,
            "missing_rows": self.missing_rows,
        }

    @classmethod
    def from_state(
        cls, deployment: str, model_version: str, reference: Reference, state: Mapping[str, Any]
    ) -> DriftWindow:
        """A window from :meth:`to_state`'s checkpoint, on ``reference``.

        Raises:
            ValueError: the checkpoint does not fit the reference (other dataset version,
                features or bins).
        """
        if state.get("reference") != reference.dataset_version:
            raise ValueError("checkpoint of another reference")
        window = cls(
            deployment, model_version, reference, datetime.fromisoformat(state["opened_at"])
        )
        features = state["features"]
        if set(features) != set(window.features):
            raise ValueError("checkpoint of other features")
        counters = list(window.features.items())
        if window.prediction is not None and state.get("prediction") is not None:
            counters.append(("__prediction__", window.prediction))
            features = {**features, "__prediction__": state["prediction"]}
        for name, counter in counters:
            counts = np.asarray(features[name]["counts"], dtype=np.int64)
            if counts.shape != counter.counts.shape:
                raise ValueError(f"checkpoint of other bins for {name!r}")
            counter.counts = counts
            counter.nulls = int(features[name]["nulls"])
        window.row_count = int(state["row_count"])
        window.first_time = (
            datetime.fromisoformat(state["first_time"]) if state.get("first_time") else None
        )
        window.last_time = (
            datetime.fromisoformat(state["last_time"]) if state.get("last_time") else None
        )
        window.missing = {k: int(v) for k, v in state.get("missing", {}).items()}
        window.unreferenced = {k: int(v) for k, v in state.get("unreferenced", {}).items()}
        window.missing_rows = int(state.get("missing_rows", 0))
        return window

    def evaluate(
        self,
        *,
        psi_threshold: float,
        chi_square_p_value_threshold: float,
        drifted_share_threshold: float,
        prediction_psi_threshold: float,
    ) -> report_pb2.DriftReport:
        """The window's ``DriftReport`` (without name and create time).

        A feature drifts when its PSI exceeds ``psi_threshold`` (categorical: or its
        chi-square p-value is below ``chi_square_p_value_threshold``); the window
        drifts when the share of drifted features exceeds ``drifted_share_threshold``
        or the prediction's PSI exceeds ``prediction_psi_threshold``.
        """
        drifts = [
            counter.drift(
                psi_threshold=psi_threshold,
                chi_square_p_value_threshold=chi_square_p_value_threshold,
            )
            for counter in self.features.values()
        ]
        drifts.sort(key=lambda d: (-d.psi, d.feature))
        share = sum(1 for d in drifts if d.drifted) / len(drifts) if drifts else 0.0
        report = report_pb2.DriftReport(
            model_version=self.model_version,
            reference_dataset_version=self.reference.dataset_version,
            row_count=self.row_count,
            features=drifts,
            drifted_share=share,
        )
        prediction_drifted = False
        if self.prediction is not None:
            prediction = self.prediction.drift(
                psi_threshold=prediction_psi_threshold,
                # The prediction drifts on PSI only: a chi-square on thousands of rows
                # flags negligible label-share changes.
                chi_square_p_value_threshold=0.0,
                feature=PREDICTION_FEATURE,
            )
            report.prediction_drift.CopyFrom(prediction)
            prediction_drifted = prediction.drifted
        report.drifted = share > drifted_share_threshold or prediction_drifted
        if self.first_time is not None and self.last_time is not None:
            report.window.start_time.FromDatetime(self.first_time)
            report.window.end_time.FromDatetime(self.last_time)
        for name, count in self.missing.items():
            report.missing_feature_counts[name] = count
        for name, count in self.unreferenced.items():
            report.unreferenced_column_counts[name] = count
        return report


def feature_summary(report: report_pb2.DriftReport) -> str:
    """One line for an alert, e.g. ``"4/9 features drifted (nswprice PSI 0.41)"``."""
    drifted = [f for f in report.features if f.drifted]
    text = f"{len(drifted)}/{len(report.features)} features drifted"
    if drifted:
        top = max(drifted, key=lambda f: f.psi)
        text += f" ({top.feature} PSI {top.psi:.2f})"
    if report.HasField("prediction_drift") and report.prediction_drift.drifted:
        text += f"; prediction PSI {report.prediction_drift.psi:.2f}"
    return text
