"""Categorical drift end to end on UCI bank-marketing (numeric and categorical columns).

Reference = the first 20,000 rows (May 2008 onwards) pushed to the real data registry,
which profiles the categorical columns as top categories + "other". Traffic sampled
from those rows shows no drift; the last 4,000 rows (late 2010: other months, other
contact channels, more known previous outcomes) drift, with chi-square p-values on
the categorical columns, and PSI equal to a numpy batch computation over the same
rows on the registry's categories.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from monitoring_helpers import Gateway, eventually, registry_with
from support.datasets import BANK_MARKETING, dataset_path

from gyre.monitoring.v1 import report_pb2
from gyre.services.monitoring.drift import psi

REFERENCE_ROWS = 20_000
WINDOW = 2000
CATEGORICAL = ["V2", "V3", "V4", "V5", "V7", "V8", "V9", "V11", "V16"]


@pytest.fixture(scope="module")
def bank() -> pd.DataFrame:
    return pd.read_csv(dataset_path(BANK_MARKETING))


def batch_psi(profile: Any, values: pd.Series) -> float:
    categories = [c.value for c in profile.categorical.top_categories]
    reference = [c.count for c in profile.categorical.top_categories] + [
        profile.categorical.other_count
    ]
    index = {c: i for i, c in enumerate(categories)}
    counts = np.bincount(
        [index.get(str(v), len(categories)) for v in values], minlength=len(categories) + 1
    )
    return psi(reference, counts)


async def test_categorical_drift_on_bank_marketing(
    monitor_factory: Any,
    gateway: Gateway,
    bank: pd.DataFrame,
    tmp_path: Any,
    nats_settings: Any,
    nats_server: Any,
    s3_server: Any,
) -> None:
    features = [c for c in bank.columns if c != "Class"]
    async with (
        registry_with(
            tmp_path,
            nats_settings,
            nats_server,
            s3_server,
            bank.iloc[:REFERENCE_ROWS],
            dataset="bank-early",
            target="Class",
        ) as registry,
        monitor_factory(peers={"data_registry": registry.target}) as handle,
    ):
        profiles = {p.column: p for p in registry.version.column_profiles}
        assert all(profiles[c].HasField("categorical") for c in CATEGORICAL)
        await gateway.deployment_created()
        await handle.set_policy(
            reference_dataset_version=registry.version.name,
            window_rows=WINDOW,
            min_window_rows=500,
        )
        calm = bank.iloc[:REFERENCE_ROWS].sample(n=WINDOW, random_state=5)
        await gateway.log_predictions(
            calm, calm["Class"].tolist(), request_prefix="calm", columns=features
        )
        late = bank.iloc[-WINDOW:]
        await gateway.log_predictions(
            late, late["Class"].tolist(), request_prefix="late", columns=features
        )
        await eventually(lambda: _reports(handle, 2), within_s=60)
        quiet, drifted = await handle.drift_reports()

        assert not quiet.drifted
        for feature in quiet.features:
            assert feature.psi < 0.1, feature.feature
            if feature.kind == report_pb2.FEATURE_KIND_CATEGORICAL:
                assert feature.HasField("chi_square_p_value")
        assert dict(quiet.missing_feature_counts) == {}

        assert drifted.drifted
        by_name = {f.feature: f for f in drifted.features}
        for column in CATEGORICAL:
            feature = by_name[column]
            assert feature.kind == report_pb2.FEATURE_KIND_CATEGORICAL
            assert feature.psi == pytest.approx(batch_psi(profiles[column], late[column]))
            assert list(feature.reference.categories) == [
                c.value for c in profiles[column].categorical.top_categories
            ]
            assert sum(feature.current.counts) == WINDOW
        assert by_name["V11"].drifted  # month
        assert by_name["V11"].chi_square_p_value < 1e-6
        assert len(handle.emitted("monitoring.drift.detected")) <= 1
        await eventually(lambda: _emitted(handle), within_s=30)


async def _reports(handle: Any, n: int) -> bool:
    return len(await handle.drift_reports()) >= n


async def _emitted(handle: Any) -> bool:
    return len(handle.emitted("monitoring.drift.detected")) == 1
