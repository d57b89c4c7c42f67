"""Validation gate: cost of the check engine over bare ONNX Runtime + scikit-learn.

Scores a candidate (random forest) and a champion (depth-1 tree) on all 45,312 Elec2
rows, in batches, and computes their metrics, two ways in the same run:

- baseline: ``session.run`` on each batch's feed for both models, then scikit-learn's
  accuracy and ROC AUC on the concatenated predictions — the least any gate must do;
- gyre: ``gyre.services.validation._evaluation.evaluate`` with the default policy plus
  an absolute threshold, a slice rule and the leakage check (key hashes of every row
  against 9,000 training keys): every metric for both models, confusion matrices,
  every check.

Reported: rows/s of each and gyre/baseline time (the engine's overhead). Runs are
interleaved; medians of ``--repeats``. No services, no network:
``.venv/bin/python benchmarks/validation_evaluation.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn import metrics as skm
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.datasets import ELECTRICITY, datasets_dir
from support.onnx_models import train_onnx

from gyre.common.v1 import value_pb2
from gyre.services.validation._evaluation import (
    ROW_KEY_COLUMN,
    EvaluationInputs,
    evaluate,
)
from gyre.services.validation._onnx import load_model
from gyre.services.validation._policy import builtin_default_policy, check_policy

BATCH_ROWS = 8192


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    base = datasets_dir()
    if base is None:
        raise SystemExit("shared datasets not found (set GYRE_DATASETS_DIR)")
    frame = pd.read_csv(base / ELECTRICITY)
    train = frame.sample(n=9000, random_state=0)
    strong = train_onnx(
        train, "class", RandomForestClassifier(n_estimators=50, max_depth=12, random_state=0)
    )
    stump = train_onnx(train, "class", DecisionTreeClassifier(max_depth=1, random_state=0))
    keys = np.arange(len(frame), dtype=np.uint64) * np.uint64(2654435761)
    table = pa.Table.from_pandas(frame, preserve_index=False).append_column(
        ROW_KEY_COLUMN, pa.array(keys, pa.uint64())
    )
    batches = table.to_batches(max_chunksize=BATCH_ROWS)
    training_keys = np.sort(keys[train.index.to_numpy()])
    candidate = load_model(strong.onnx_bytes, signature=strong.signature)
    champion = load_model(stump.onnx_bytes, signature=stump.signature)

    policy = builtin_default_policy()
    policy.metric_thresholds.add(metric="roc_auc", value=0.8)
    policy.slice_rules.add(
        column="day", equals=value_pb2.Value(int64_value=7), metric="accuracy", threshold=0.5
    )
    policy = check_policy(policy)

    def baseline() -> float:
        start = time.perf_counter()
        y_true = frame["class"].to_numpy()
        results = []
        for model in (strong, stump):
            session = (candidate if model is strong else champion).session
            labels, probabilities = [], []
            for batch in batches:
                feed = model.onnx_inputs(batch.to_pandas())
                label, proba = session.run(["label", "probabilities"], feed)
                labels.append(label)
                probabilities.append(proba)
            y_pred = np.concatenate(labels)
            p = np.concatenate(probabilities)
            results.append(
                (skm.accuracy_score(y_true, y_pred), skm.roc_auc_score(y_true == "UP", p[:, 1]))
            )
        return time.perf_counter() - start

    def gyre() -> float:
        start = time.perf_counter()
        result = evaluate(
            candidate,
            champion,
            iter(batches),
            EvaluationInputs(
                policy=policy,
                target_column="class",
                candidate_signature=strong.signature,
                champion_version="models/elec2/versions/1",
                champion_signature=stump.signature,
                training_keys=training_keys,
            ),
        )
        elapsed = time.perf_counter() - start
        assert result.test_row_count == len(frame)
        return elapsed

    baseline()
    gyre()  # warm-up: imports, ONNX Runtime arenas
    base_times, gyre_times = [], []
    for _ in range(args.repeats):
        base_times.append(baseline())
        gyre_times.append(gyre())
    b, g = statistics.median(base_times), statistics.median(gyre_times)
    rows = len(frame)
    print(f"rows: {rows}, batch: {BATCH_ROWS}, repeats: {args.repeats} (medians)")
    print(f"baseline (ORT + sklearn, 2 models): {b * 1000:8.1f} ms  {rows / b:10.0f} rows/s")
    print(f"gyre evaluate (all checks):        {g * 1000:8.1f} ms  {rows / g:10.0f} rows/s")
    print(f"gyre / baseline time: {g / b:.2f}x")


if __name__ == "__main__":
    main()
