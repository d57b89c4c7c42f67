"""Memory stays flat while 1,000,000 logged rows stream through the monitor.

The rows arrive as real ``inference.prediction.logged`` envelopes published on the
JetStream stream (serialized ``gyre.events.v1.Event`` with ``Nats-Msg-Id``), are taken
in by the service's durable consumer and counted into windows of 10,000 rows. The
process's resident set size is sampled after 200,000 rows (once the bounded feedback
join is full), 600,000 and 1,000,000 rows; the numbers are printed (see docs/monitoring.md).
"""

from __future__ import annotations

import gc
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from monitoring_helpers import DEPLOYMENT, ELEC2_FEATURES, MODEL_VERSION, eventually

from gyre.data.v1 import dataset_pb2
from gyre.events.v1 import event_pb2, inference_events_pb2
from gyre.runtime.events import connect_nats, event_subject
from gyre.services.monitoring.drift import numeric_histogram

TOTAL_ROWS = 1_000_000
BATCH = 2000
JOIN_MAX = 50_000
REFERENCE = "datasets/synthetic/versions/1"


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def reference() -> dataset_pb2.DatasetVersion:
    rng = np.random.default_rng(0)
    version = dataset_pb2.DatasetVersion(name=REFERENCE, target_column="class")
    for column in ELEC2_FEATURES:
        profile = version.column_profiles.add(column=column, count=10_000)
        profile.numeric.histogram.CopyFrom(numeric_histogram(rng.random(10_000)))
    label = version.column_profiles.add(column="class", count=10_000)
    label.categorical.top_categories.add(value="UP", count=5000)
    label.categorical.top_categories.add(value="DOWN", count=5000)
    return version


async def test_memory_is_flat_over_a_million_rows(monitor_factory: Any, gateway: Any) -> None:
    async with monitor_factory(join_max_entries=JOIN_MAX) as handle:
        handle.monitor.resolver.add_dataset_version(reference())
        await gateway.deployment_created()
        await handle.set_policy(
            reference_dataset_version=REFERENCE, window_rows=10_000, min_window_rows=1000
        )
        nats = handle.settings.nats
        nc = await connect_nats(nats, name="test-firehose", initial_timeout_s=10)
        js = nc.jetstream(timeout=10)
        rng = np.random.default_rng(1)
        template = inference_events_pb2.InferencePredictionLogged(deployment=DEPLOYMENT)
        for _ in range(BATCH):
            record = template.records.add(deployment=DEPLOYMENT, model_version=MODEL_VERSION)
            for column in ELEC2_FEATURES:
                record.features.values[column].double_value = 0.0
            record.prediction.prediction.string_value = "UP"
        samples: list[tuple[int, int]] = []
        try:
            for sent in range(0, TOTAL_ROWS, BATCH):
                values = rng.random((BATCH, len(ELEC2_FEATURES)))
                for i, record in enumerate(template.records):
                    record.request_id = f"r{sent + i}"
                    for k, column in enumerate(ELEC2_FEATURES):
                        record.features.values[column].double_value = float(values[i, k])
                    label = "UP" if values[i, 0] > 0.5 else "DOWN"
                    record.prediction.prediction.string_value = label
                event = event_pb2.Event(
                    id=str(uuid.uuid4()),
                    type="inference.prediction.logged",
                    source="inference",
                    subject=DEPLOYMENT,
                    spec_version="1.0",
                    inference_prediction_logged=template,
                )
                event.time.GetCurrentTime()
                await js.publish(
                    event_subject(nats, "inference.prediction.logged"),
                    event.SerializeToString(),
                    headers={"Nats-Msg-Id": event.id},
                )
                if sent + BATCH in {200_000, 600_000, TOTAL_ROWS}:
                    await handle.settled(sent + BATCH)
                    gc.collect()
                    samples.append((sent + BATCH, rss_bytes()))
        finally:
            await nc.close()

        stats = await handle.stats()
        assert stats.prediction_records == TOTAL_ROWS
        assert dict(stats.unreferenced_records) == {}
        await eventually(lambda: _reports(handle, TOTAL_ROWS // 10_000), within_s=60)
        reports = await handle.drift_reports()
        assert len(reports) == TOTAL_ROWS // 10_000
        assert all(r.row_count == 10_000 for r in reports)
        # Bounded state: the join keeps at most JOIN_MAX predictions, and an open window
        # holds one count per reference bin whatever the traffic.
        assert len(handle.monitor.join) == JOIN_MAX
        (early_rows, early_rss), _, (late_rows, late_rss) = samples
        growth = late_rss - early_rss
        print(
            "\nRSS: "
            + "; ".join(f"{rows:,} rows {rss / 2**20:.1f} MiB" for rows, rss in samples)
            + f"; growth {growth / 2**20:+.1f} MiB over {late_rows - early_rows:,} rows"
        )
        # Flat: well under the ~1 KiB per row that retaining the 800,000 rows would cost.
        assert growth < 64 * 2**20


async def _reports(handle: Any, n: int) -> bool:
    return len(await handle.drift_reports()) >= n
