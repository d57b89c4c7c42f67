"""Streaming drift accounting vs a numpy batch computation of the same PSI.

Both sides bin the same rows on the same reference quantile edges (Elec2's first year,
10 bins per feature, 8 features) and compute PSI with the same epsilon:

- **streaming** (Gyre's monitor): rows arrive in batches (like ``inference.prediction
  .logged`` events, cells as Python scalars, column by column) and are counted into a
  :class:`~gyre.services.monitoring.drift.DriftWindow` — O(bins) memory whatever the
  number of rows; PSI at the end from the counts;
- **batch** (the baseline): all rows held in one float64 matrix, binned with one
  ``np.searchsorted`` per feature, then PSI — O(rows) memory.

Reports rows/s of each, their ratio (streaming / batch), the largest absolute PSI
difference (they must agree to floating-point precision), and the memory each holds.

Run: ``.venv/bin/python benchmarks/monitoring_drift_throughput.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gyre.data.v1 import dataset_pb2
from gyre.services.monitoring.drift import (
    DriftWindow,
    RecordColumns,
    Reference,
    numeric_histogram,
    psi,
)

FEATURES = ["date", "day", "period", "nswprice", "nswdemand", "vicprice", "vicdemand", "transfer"]
FIRST_YEAR = 48 * 365


def elec2() -> pd.DataFrame:
    here = Path(__file__).resolve().parents[1]
    candidates = [
        Path(os.environ.get("GYRE_DATASETS_DIR", "/nonexistent")),
        here.parent / "shared" / "datasets",
        Path("/work/shared/datasets"),
    ]
    for base in candidates:
        if (base / "electricity.csv").is_file():
            return pd.read_csv(base / "electricity.csv")
    sys.exit("electricity.csv not found (set GYRE_DATASETS_DIR)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to account")
    parser.add_argument("--batch", type=int, default=2000, help="rows per logged batch")
    args = parser.parse_args()

    data = elec2()
    first = data.iloc[:FIRST_YEAR]
    version = dataset_pb2.DatasetVersion(name="datasets/elec2/versions/1")
    for column in FEATURES:
        profile = version.column_profiles.add(column=column, count=len(first))
        profile.numeric.histogram.CopyFrom(numeric_histogram(first[column].to_numpy()))
    reference = Reference.from_dataset_version(version)

    # Traffic: the whole of Elec2, repeated to the requested size.
    reps = -(-args.rows // len(data))
    traffic = np.tile(data[FEATURES].to_numpy(dtype=np.float64), (reps, 1))[: args.rows]

    # Streaming: per batch, cells as Python floats column by column (what the intake
    # hands over after parsing an event), counted into the window.
    columns_per_batch = []
    for lo in range(0, args.rows, args.batch):
        block = traffic[lo : lo + args.batch]
        columns_per_batch.append(
            RecordColumns(
                features={c: block[:, k].tolist() for k, c in enumerate(FEATURES)},
                predictions=[None] * len(block),
                times=[None] * len(block),
            )
        )
    window = DriftWindow("deployments/bench", "models/bench/versions/1", reference, _now())
    start = time.perf_counter()
    for columns in columns_per_batch:
        window.add(columns)
    report = window.evaluate(
        psi_threshold=0.2,
        chi_square_p_value_threshold=0.01,
        drifted_share_threshold=0.3,
        prediction_psi_threshold=0.2,
    )
    streaming_s = time.perf_counter() - start
    streaming_psi = {f.feature: f.psi for f in report.features}
    streaming_bytes = sum(c.counts.nbytes for c in window.features.values())

    # Batch: every row in one matrix.
    matrix = np.array(traffic, copy=True)
    start = time.perf_counter()
    batch_psi = {}
    for k, column in enumerate(FEATURES):
        feature = reference.features[column]
        index = np.clip(
            np.searchsorted(feature.edges, matrix[:, k], "right") - 1, 0, feature.bins - 1
        )
        counts = np.bincount(index, minlength=feature.bins)
        batch_psi[column] = psi(feature.counts, counts)
    batch_s = time.perf_counter() - start

    diff = max(abs(streaming_psi[c] - batch_psi[c]) for c in FEATURES)
    streaming_rate = args.rows / streaming_s
    batch_rate = args.rows / batch_s
    print(f"rows: {args.rows:,} ({len(FEATURES)} features, batches of {args.batch})")
    print(
        f"streaming accounting: {streaming_rate:,.0f} rows/s ({streaming_s:.2f} s), "
        f"state {streaming_bytes:,} bytes"
    )
    print(
        f"numpy batch:          {batch_rate:,.0f} rows/s ({batch_s:.3f} s), "
        f"holds {matrix.nbytes:,} bytes"
    )
    print(f"ratio streaming/batch: {streaming_rate / batch_rate:.3f}")
    print(f"max |PSI difference|: {diff:.3e}")
    for column in FEATURES:
        stream, batch = streaming_psi[column], batch_psi[column]
        print(f"  {column:10s} PSI streaming {stream:.6f} batch {batch:.6f}")
    if diff > 1e-9:
        sys.exit("PSI values disagree")


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


if __name__ == "__main__":
    main()
