"""``gyre events tail`` against a real nats-server, run as the CLI users run it.

Real ``gyre.events.v1.Event`` envelopes are published on the test's own stream and
subject prefix (what the outbox relay publishes: the serialized envelope on
``<prefix>.<type>`` with its id as ``Nats-Msg-Id``); the command runs as a subprocess
pointed at them through ``GYRE_NATS__*``.
"""

# The fixtures imported from support.runtime_events are test parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from google.protobuf.message import Message
from nats.aio.client import Client
from support.runtime_events import eventually, nats_settings, nc  # noqa: F401
from support.servers import NatsServer, free_port

from gyre.common.v1.cause_pb2 import TriggerCause
from gyre.events.v1.data_events_pb2 import DataVersionCommitted
from gyre.events.v1.event_pb2 import Event
from gyre.events.v1.monitoring_events_pb2 import MonitoringDriftDetected
from gyre.events.v1.training_events_pb2 import TrainingRunQueued, TrainingRunSucceeded
from gyre.events.v1.validation_events_pb2 import ValidationCompleted
from gyre.runtime.events import MSG_ID_HEADER, build_event, ensure_streams, event_subject
from gyre.runtime.settings import NatsSettings
from gyre.validation.v1.validation_pb2 import ValidationVerdict

pytestmark = pytest.mark.integration

GYRE = str(Path(sys.executable).parent / "gyre")
# Bounds a failing run only; a passing one ends by --count or a short --timeout.
RUN_TIMEOUT_S = 120.0
# --timeout of runs that must print everything that matches and then stop.
IDLE_S = "5"
AT = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class Tail:
    code: int
    stdout: str
    stderr: str

    @property
    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines()]

    @property
    def types(self) -> list[str]:
        return [line["type"] for line in self.json_lines]


def _env(nats: NatsSettings, home: Path) -> dict[str, str]:
    # Only this test's settings: not those of a stack the developer has sourced.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GYRE_")}
    return {
        **env,
        "GYRE_HOME": str(home),
        "GYRE_NATS__URL": nats.url,
        "GYRE_NATS__STREAM": nats.stream,
        "GYRE_NATS__SUBJECT_PREFIX": nats.subject_prefix,
    }


async def _start(nats: NatsSettings, home: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        GYRE,
        "events",
        "tail",
        *args,
        env=_env(nats, home),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _finish(proc: asyncio.subprocess.Process) -> Tail:
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Tail(proc.returncode, stdout.decode(), stderr.decode())


async def _tail(nats: NatsSettings, home: Path, *args: str) -> Tail:
    return await _finish(await _start(nats, home, *args))


# (type, subject, payload) of the lifecycle the tests publish, in this order.
LIFECYCLE: list[tuple[str, str, Message]] = [
    (
        "data.version.committed",
        "datasets/elec2/versions/7",
        DataVersionCommitted(
            dataset="datasets/elec2",
            dataset_version="datasets/elec2/versions/7",
            version=7,
            row_count=45312,
        ),
    ),
    (
        "training.run.queued",
        "runs/r-1",
        TrainingRunQueued(
            run="runs/r-1",
            dataset_version="datasets/elec2/versions/7",
            cause=TriggerCause(trigger="triggers/on-data"),
        ),
    ),
    (
        "training.run.succeeded",
        "runs/r-1",
        TrainingRunSucceeded(run="runs/r-1", registered_model="models/elec2"),
    ),
    (
        "validation.completed",
        "validations/v-1",
        ValidationCompleted(
            validation="validations/v-1",
            model_version="models/elec2/versions/3",
            verdict=ValidationVerdict.VALIDATION_VERDICT_PASSED,
        ),
    ),
    (
        "monitoring.drift.detected",
        "deployments/elec2",
        MonitoringDriftDetected(deployment="deployments/elec2"),
    ),
]
TYPES = [event_type for event_type, _, _ in LIFECYCLE]


async def _publish(
    nc: Client, nats: NatsSettings, event_type: str, subject: str, payload: Message
) -> Event:
    event = build_event(
        Event, type=event_type, source="gyre.test", subject=subject, payload=payload, time=AT
    )
    assert isinstance(event, Event)
    await nc.jetstream().publish(
        event_subject(nats, event_type),
        event.SerializeToString(),
        stream=nats.stream,
        headers={MSG_ID_HEADER: event.id},
    )
    return event


@pytest.fixture
async def published(nc: Client, nats_settings: NatsSettings) -> list[Event]:
    """The streams, holding the LIFECYCLE events."""
    await ensure_streams(nc.jetstream(), nats_settings)
    return [await _publish(nc, nats_settings, *item) for item in LIFECYCLE]


async def test_all_replays_every_stored_envelope_as_json(
    published: list[Event], nats_settings: NatsSettings, tmp_path: Path
) -> None:
    tail = await _tail(nats_settings, tmp_path, "--all", "--count", str(len(LIFECYCLE)), "--json")

    assert tail.code == 0, tail.stderr
    lines = tail.json_lines
    assert [line["id"] for line in lines] == [event.id for event in published]
    assert [line["type"] for line in lines] == TYPES
    first = lines[0]
    assert first["source"] == "gyre.test"
    assert first["subject"] == "datasets/elec2/versions/7"
    assert first["time"] == "2025-03-01T12:00:00Z"
    assert first["correlation_id"] == published[0].id
    assert first["data_version_committed"]["row_count"] == "45312"  # int64 in proto JSON
    assert lines[3]["validation_completed"]["verdict"] == "VALIDATION_VERDICT_PASSED"


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["training.run.*"], ["training.run.queued", "training.run.succeeded"]),
        (["monitoring.>"], ["monitoring.drift.detected"]),
        (["data.version.committed"], ["data.version.committed"]),
        # Several patterns are matched by the command, in stream order.
        (
            ["validation.completed", "data.>", "training.run.succeeded"],
            ["data.version.committed", "training.run.succeeded", "validation.completed"],
        ),
    ],
)
async def test_type_patterns_print_only_matching_events(
    published: list[Event],
    nats_settings: NatsSettings,
    tmp_path: Path,
    patterns: list[str],
    expected: list[str],
) -> None:
    args = [arg for pattern in patterns for arg in ("--type", pattern)]
    # No --count: the idle timeout ends the run once every match has been printed.
    tail = await _tail(nats_settings, tmp_path, "--all", "--json", "--timeout", IDLE_S, *args)

    assert tail.code == 0, tail.stderr
    assert tail.types == expected


async def test_a_pattern_that_matches_no_event_type_is_warned_about(
    published: list[Event], nats_settings: NatsSettings, tmp_path: Path
) -> None:
    tail = await _tail(nats_settings, tmp_path, "--all", "--timeout", IDLE_S, "-t", "training.*")

    assert tail.code == 0, tail.stderr
    assert tail.stdout == ""
    assert "'training.*' matches no known event type" in tail.stderr
    assert "training.> matches everything under it" in tail.stderr


async def test_default_output_is_one_summary_line_per_event(
    published: list[Event], nats_settings: NatsSettings, tmp_path: Path
) -> None:
    tail = await _tail(nats_settings, tmp_path, "--all", "--count", "4")

    assert tail.code == 0, tail.stderr
    lines = tail.stdout.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["2025-03-01T12:00:00.000Z", "data.version.committed", "datasets/elec2/versions/7"],
        ["2025-03-01T12:00:00.000Z", "training.run.queued", "runs/r-1"],
        ["2025-03-01T12:00:00.000Z", "training.run.succeeded", "runs/r-1"],
        ["2025-03-01T12:00:00.000Z", "validation.completed", "validations/v-1"],
    ]
    assert lines[0].endswith("version=7 row_count=45312 dataset=datasets/elec2")
    # One level of a nested payload message, under its field's name.
    assert lines[1].endswith(
        "dataset_version=datasets/elec2/versions/7 cause.trigger=triggers/on-data"
    )
    assert lines[3].endswith("verdict=PASSED model_version=models/elec2/versions/3")


async def test_without_all_only_new_events_are_printed(
    published: list[Event], nc: Client, nats_settings: NatsSettings, tmp_path: Path
) -> None:
    proc = await _start(nats_settings, tmp_path, "--count", "1", "--json")

    async def subscribed() -> bool:
        info = await nc.jetstream().stream_info(nats_settings.stream)
        return bool(info.state.consumer_count)

    await eventually(subscribed, within_s=RUN_TIMEOUT_S)
    new = await _publish(
        nc,
        nats_settings,
        "training.run.queued",
        "runs/r-2",
        TrainingRunQueued(run="runs/r-2"),
    )
    tail = await _finish(proc)

    assert tail.code == 0, tail.stderr
    assert [line["id"] for line in tail.json_lines] == [new.id]


async def test_a_nats_restart_does_not_replay_stored_events_as_new(
    published: list[Event],
    nc: Client,
    nats_settings: NatsSettings,
    nats_server: NatsServer,
    tmp_path: Path,
) -> None:
    # nats-py recreates an ordered consumer from the sequence after the last message it
    # delivered: from 1 when none came yet, a replay of the whole stream.
    proc = await _start(nats_settings, tmp_path, "--count", "1", "--json")

    async def subscribed() -> bool:
        info = await nc.jetstream().stream_info(nats_settings.stream)
        return bool(info.state.consumer_count)

    await eventually(subscribed, within_s=RUN_TIMEOUT_S)
    nats_server.restart()  # same port and store: the stream stays, the consumer goes

    async def subscribed_again() -> bool:
        try:
            return await subscribed()
        except nats.errors.Error:  # the test's own client is still reconnecting
            return False

    await eventually(subscribed_again, within_s=RUN_TIMEOUT_S)
    new = await _publish(
        nc, nats_settings, "training.run.queued", "runs/r-3", TrainingRunQueued(run="runs/r-3")
    )
    tail = await _finish(proc)

    assert tail.code == 0, tail.stderr
    assert [line["id"] for line in tail.json_lines] == [new.id]
    assert "Traceback" not in tail.stderr


async def test_timeout_before_count_exits_1_with_what_arrived(
    published: list[Event], nats_settings: NatsSettings, tmp_path: Path
) -> None:
    tail = await _tail(
        nats_settings,
        tmp_path,
        "--all",
        "--json",
        "--type",
        "training.>",
        "--count",
        "5",
        "--timeout",
        IDLE_S,
    )

    assert tail.code == 1
    assert tail.types == ["training.run.queued", "training.run.succeeded"]
    assert f"2 of 5 events, then none for {IDLE_S}s" in tail.stderr
    assert "Traceback" not in tail.stderr


async def test_unreachable_nats_is_one_line_and_exit_2(
    nats_settings: NatsSettings, tmp_path: Path
) -> None:
    url = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    settings = nats_settings.model_copy(update={"url": url})

    tail = await _tail(settings, tmp_path, "--timeout", "5")

    assert tail.code == 2
    assert tail.stdout == ""
    assert "Traceback" not in tail.stderr
    [line] = tail.stderr.splitlines()
    assert f"cannot reach NATS at {url}" in line
    assert "`gyre up`" in line
    assert "`. .gyre/env`" in line


async def test_missing_stream_is_one_line_and_exit_1(
    nats_settings: NatsSettings, tmp_path: Path
) -> None:
    # The test's stream was never created: no service has started on this NATS.
    tail = await _tail(nats_settings, tmp_path, "--timeout", "5")

    assert tail.code == 1
    assert "Traceback" not in tail.stderr
    [line] = tail.stderr.splitlines()
    assert f"no event stream {nats_settings.stream!r} at {nats_settings.url}" in line
