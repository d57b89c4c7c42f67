"""Drift core: binning per the profile contract, PSI, chi-square, windows."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from gyre.common.v1 import profile_pb2
from gyre.data.v1 import dataset_pb2
from gyre.monitoring.v1 import report_pb2
from gyre.services.monitoring.drift import (
    ABSENT,
    PSI_EPSILON,
    DriftWindow,
    FeatureCounter,
    RecordColumns,
    Reference,
    ReferenceFeature,
    categorical_key,
    chi_square,
    numeric_histogram,
    psi,
    smoothed_shares,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def numeric_feature(name: str, edges: list[float], counts: list[int]) -> ReferenceFeature:
    return ReferenceFeature(
        name,
        report_pb2.FEATURE_KIND_NUMERIC,
        profile_pb2.Histogram(edges=edges, counts=counts),
    )


def categorical_feature(name: str, categories: list[str], counts: list[int]) -> ReferenceFeature:
    return ReferenceFeature(
        name,
        report_pb2.FEATURE_KIND_CATEGORICAL,
        profile_pb2.Histogram(categories=categories, counts=counts),
    )


def test_psi_is_zero_for_identical_shares_and_matches_the_formula() -> None:
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0, abs=1e-12)
    ref, cur = np.array([50, 30, 20]), np.array([20, 30, 50])
    r = (ref / ref.sum() + PSI_EPSILON) / (1 + 3 * PSI_EPSILON)
    c = (cur / cur.sum() + PSI_EPSILON) / (1 + 3 * PSI_EPSILON)
    assert psi(ref, cur) == pytest.approx(float(np.sum((c - r) * np.log(c / r))))
    # An empty bin is smoothed, not infinite.
    assert np.isfinite(psi([10, 0], [0, 10]))
    assert smoothed_shares([0, 0]).tolist() == [0.5, 0.5]


def test_psi_rejects_different_bins() -> None:
    with pytest.raises(ValueError, match="bins differ"):
        psi([1, 2], [1, 2, 3])


def test_numeric_binning_follows_the_histogram_contract() -> None:
    # Bins [0,1) [1,2) [2,3]: values below edges[0] go to the first bin, values at or
    # above edges[n] to the last.
    counter = FeatureCounter(numeric_feature("x", [0.0, 1.0, 2.0, 3.0], [1, 1, 1]))
    counter.add([-5.0, 0.0, 0.99, 1.0, 2.5, 3.0, 100.0, None, ABSENT, "abc", "1.5"])
    assert counter.counts.tolist() == [3, 2, 3]  # "1.5" parses as a number
    assert counter.nulls == 3  # None, ABSENT and a non-number


def test_float32_logged_values_tied_on_an_edge_stay_in_their_bin() -> None:
    # Elec2's `transfer` is 0.414912 in 39 % of rows, a reference quantile edge. The
    # gateway logs features as the float32 the model saw (0.41491198...): still tied.
    edge = 0.414912
    counter = FeatureCounter(numeric_feature("transfer", [0.0, edge, 1.0], [10, 10]))
    logged = float(np.float32(edge))
    assert logged < edge
    counter.add([logged] * 5 + [edge] * 5 + [float(np.float32(0.2))])
    assert counter.counts.tolist() == [1, 10]


def test_numeric_histogram_builds_a_contract_reference() -> None:
    values = np.arange(1000, dtype=float)
    histogram = numeric_histogram(values, bins=10)
    assert len(histogram.edges) == 11
    assert len(histogram.counts) == 10
    assert sum(histogram.counts) == 1000
    assert max(histogram.counts) - min(histogram.counts) <= 1


def test_categorical_counts_unknown_values_as_other() -> None:
    counter = FeatureCounter(categorical_feature("c", ["a", "b"], [5, 5, 0]))
    counter.add(["a", "a", "b", "z", None, 1])
    assert counter.counts.tolist() == [2, 1, 2]
    assert counter.nulls == 1
    assert categorical_key(1.0) == "1"
    assert categorical_key(True) == "true"


def test_chi_square_detects_a_shift_and_not_noise() -> None:
    statistic, p_value = chi_square([500, 500, 0], [100, 100, 0])
    assert statistic == pytest.approx(0.0)
    assert p_value == pytest.approx(1.0)
    statistic, p_value = chi_square([500, 500, 0], [180, 20, 0])
    assert statistic > 50
    assert p_value < 1e-6
    assert chi_square([0, 0], [0, 0]) == (0.0, 1.0)


def test_counter_memory_does_not_grow_with_rows() -> None:
    counter = FeatureCounter(numeric_feature("x", [0.0, 0.5, 1.0], [1, 1]))
    before = counter.counts.nbytes
    for _ in range(50):
        counter.add_numbers(np.random.default_rng(0).random(10_000))
    assert counter.counts.nbytes == before
    assert counter.total == 500_000


def dataset_version() -> dataset_pb2.DatasetVersion:
    rng = np.random.default_rng(1)
    version = dataset_pb2.DatasetVersion(
        name="datasets/toy/versions/1", target_column="y", row_count=1000
    )
    for name in ("a", "b"):
        profile = version.column_profiles.add(column=name, count=1000, null_count=0)
        profile.numeric.histogram.CopyFrom(numeric_histogram(rng.normal(size=1000)))
    color = version.column_profiles.add(column="color", count=1000, null_count=100)
    color.categorical.top_categories.add(value="red", count=600)
    color.categorical.top_categories.add(value="blue", count=300)
    y = version.column_profiles.add(column="y", count=1000)
    y.categorical.top_categories.add(value="UP", count=500)
    y.categorical.top_categories.add(value="DOWN", count=500)
    version.column_profiles.add(column="notes", count=1000)  # not profiled
    return version


def test_reference_from_dataset_version() -> None:
    reference = Reference.from_dataset_version(dataset_version())
    assert sorted(reference.features) == ["a", "b", "color"]
    assert reference.target is not None
    assert reference.target.name == "y"
    assert reference.features["color"].null_rate == pytest.approx(0.1)
    assert reference.features["color"].counts.tolist() == [600, 300, 0]
    chosen = Reference.from_dataset_version(dataset_version(), features=["a", "zzz"])
    assert list(chosen.features) == ["a"]
    assert chosen.missing_features == ("zzz",)


def columns(rows: list[dict[str, object]], predictions: list[object]) -> RecordColumns:
    names = {name for row in rows for name in row}
    return RecordColumns(
        features={name: [row.get(name, ABSENT) for row in rows] for name in names},  # type: ignore[misc]
        predictions=predictions,  # type: ignore[arg-type]
        times=[NOW] * len(rows),
    )


def test_window_reports_drift_missing_and_unreferenced_columns() -> None:
    reference = Reference.from_dataset_version(dataset_version())
    window = DriftWindow("deployments/d", "models/m/versions/1", reference, NOW)
    rng = np.random.default_rng(2)
    rows: list[dict[str, object]] = []
    for i in range(400):
        row: dict[str, object] = {"a": float(rng.normal()), "b": float(rng.normal() + 3)}
        if i % 4:
            row["color"] = "red" if i % 2 else "green"
        row["extra"] = 1
        rows.append(row)
    lacking = window.add(columns(rows, ["UP"] * 400))
    assert lacking == 100
    assert window.missing == {"color": 100}
    assert window.unreferenced == {"extra": 400}
    report = window.evaluate(
        psi_threshold=0.2,
        chi_square_p_value_threshold=0.01,
        drifted_share_threshold=0.3,
        prediction_psi_threshold=0.2,
    )
    by_name = {f.feature: f for f in report.features}
    assert not by_name["a"].drifted
    assert by_name["a"].psi < 0.1
    assert by_name["b"].drifted
    assert by_name["b"].psi > 1
    assert by_name["color"].drifted
    assert by_name["color"].HasField("chi_square_p_value")
    assert report.features[0].feature in {"b", "color"}  # sorted by PSI descending
    assert report.drifted_share == pytest.approx(2 / 3)
    assert report.prediction_drift.drifted  # all UP against 50/50
    assert report.drifted
    assert report.row_count == 400
    assert report.missing_feature_counts["color"] == 100
    assert report.unreferenced_column_counts["extra"] == 400
    assert list(by_name["b"].current.counts)
    assert sum(by_name["b"].current.counts) == 400
    assert by_name["color"].current_null_rate == pytest.approx(0.25)
