"""The demo's event recorder against a real nats-server: it records only the events
about the loop's resources, waits for a matching one, and ends a wait early on an event
that fails the stage."""

# The fixtures imported from support.runtime_events are test parameters of the same name.
# ruff: noqa: F811
from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client
from support.runtime_events import nats_settings, nc  # noqa: F401

from gyre.events.v1.event_pb2 import Event
from gyre.events.v1.training_events_pb2 import TrainingRunFailed, TrainingRunQueued
from gyre.runtime.events import MSG_ID_HEADER, build_event, ensure_streams, event_subject
from gyre.runtime.settings import NatsSettings
from gyre.stack.demo import EventRecorder
from gyre.stack.demo._events import StageFailed, StageTimeout

pytestmark = pytest.mark.integration


async def _publish(nc: Client, nats: NatsSettings, event_type: str, payload: object) -> None:
    event = build_event(
        Event,
        type=event_type,
        source="gyre.test",
        subject=payload.run,
        payload=payload,  # type: ignore[attr-defined]
    )
    await nc.jetstream().publish(
        event_subject(nats, event_type),
        event.SerializeToString(),
        stream=nats.stream,
        headers={MSG_ID_HEADER: event.id},
    )


async def test_records_only_watched_resources_and_waits_for_a_match(
    nc: Client, nats_settings: NatsSettings
) -> None:
    await ensure_streams(nc.jetstream(), nats_settings)
    # Published before the recorder subscribed: never seen.
    await _publish(
        nc,
        nats_settings,
        "training.run.queued",
        TrainingRunQueued(run="runs/old", registered_model="models/mine"),
    )
    with EventRecorder(nats_settings, {"models/mine"}) as recorder:
        await _publish(
            nc,
            nats_settings,
            "training.run.queued",
            TrainingRunQueued(run="runs/other", registered_model="models/theirs"),
        )
        await _publish(
            nc,
            nats_settings,
            "training.run.queued",
            TrainingRunQueued(run="runs/a", registered_model="models/mine"),
        )
        found = await asyncio.to_thread(
            recorder.wait_for,
            "training.run.queued",
            lambda e: e.payload.get("run") == "runs/a",
            timeout_s=20,
            what="test",
        )
        assert found.subject == "runs/a"
        assert found.source == "gyre.test"
        assert [e.payload["run"] for e in recorder.events] == ["runs/a"]
        assert recorder.counts == {"training.run.queued": 1}

        # A name watched later is matched from then on; a failing event ends the wait.
        recorder.watch("runs/b")
        await _publish(
            nc, nats_settings, "training.run.failed", TrainingRunFailed(run="runs/b", reason="boom")
        )
        with pytest.raises(StageFailed, match="boom"):
            await asyncio.to_thread(
                recorder.wait_for,
                "training.run.succeeded",
                timeout_s=20,
                what="test",
                fail_on={"training.run.failed": lambda e: f"failed: {e.payload['reason']}"},
            )
        with pytest.raises(
            StageTimeout,
            match=r"waiting: no training.run.succeeded / training.run.cancelled within 1s",
        ):
            await asyncio.to_thread(
                recorder.wait_for,
                ("training.run.succeeded", "training.run.cancelled"),
                timeout_s=1,
                what="waiting",
            )


def test_unreachable_nats_is_a_connection_error() -> None:
    settings = NatsSettings(url="nats://127.0.0.1:1", connect_timeout_s=0.5)
    with pytest.raises(ConnectionError, match=r"nats://127.0.0.1:1"):
        EventRecorder(settings, set(), connect_timeout_s=1).__enter__()
