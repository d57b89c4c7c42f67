"""Outbox, relay and consumers against a real nats-server and real SQLite/PostgreSQL."""

# The fixtures imported from support.runtime_events are test parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.errors import NoStreamResponseError
from prometheus_client import REGISTRY
from sqlalchemy import JSON, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from support.runtime_events import (  # noqa: F401 - fixtures are used by name
    EVENTUALLY_TIMEOUT_S,
    Applied,
    EffectsBase,
    Widget,
    db,
    eventually,
    nats_settings,
    nc,
)
from support.servers import NatsServer

from gyre.events.v1.event_pb2 import Event
from gyre.events.v1.models_events_pb2 import ModelsVersionArchived, ModelsVersionStatusChanged
from gyre.runtime.db import (
    RUNTIME_MIGRATIONS,
    Database,
    DeadLetterRecord,
    OutboxRecord,
    migrate,
)
from gyre.runtime.errors import AlreadyExists, InvalidArgument
from gyre.runtime.events import (
    DEAD_LETTER_CONSUMER_HEADER,
    DEAD_LETTER_DELIVERIES_HEADER,
    DEAD_LETTER_ERROR_HEADER,
    DEAD_LETTER_SUBJECT_HEADER,
    MSG_ID_HEADER,
    OUTBOX_FAILED_TOTAL,
    EventConsumer,
    Outbox,
    OutboxRelay,
    event_subject,
    tail_events,
)
from gyre.runtime.settings import NatsSettings

pytestmark = pytest.mark.integration

# Two real event types of the catalog; the handlers under test fail on the second one.
EVENT_TYPE = "models.version.status_changed"
FAILING_TYPE = "models.version.archived"


def _payload(kind: str, name: str) -> Message:
    if kind == FAILING_TYPE:
        return ModelsVersionArchived(model_version=f"models/m/versions/{name}")
    return ModelsVersionStatusChanged(model_version=f"models/m/versions/{name}")


def _outbox(nats: NatsSettings) -> Outbox:
    return Outbox(source="widget-service", nats=nats, event_class=Event)


async def _create_widget(db: Database, outbox: Outbox, name: str, *, kind: str = EVENT_TYPE) -> str:
    async with db.transaction() as session:
        session.add(Widget(name=name))
        event = await outbox.emit(
            session,
            type=kind,
            subject_resource=f"widgets/{name}",
            payload_message=_payload(kind, name),
        )
    return str(event.id)  # type: ignore[attr-defined,unused-ignore]


async def _count(db: Database, model: Any) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _applied(db: Database, consumer: str) -> Counter[str]:
    async with db.transaction() as session:
        rows = await session.scalars(select(Applied.event_id).where(Applied.consumer == consumer))
        return Counter(rows.all())


def _recording_handler(name: str, seen: list[str]) -> Any:
    async def handler(event: Message, session: AsyncSession) -> None:
        seen.append(str(event.id))  # type: ignore[attr-defined,unused-ignore]
        session.add(Applied(consumer=name, event_id=str(event.id)))  # type: ignore[attr-defined,unused-ignore]

    return handler


async def _stream_messages(nc: Client, stream: str) -> int:
    info = await nc.jetstream().stream_info(stream)
    return int(info.state.messages)


async def test_event_is_written_in_the_state_change_transaction(
    db: Database, nats_settings: NatsSettings
) -> None:
    outbox = _outbox(nats_settings)
    event_id = await _create_widget(db, outbox, "committed")

    async def change_then_fail() -> None:
        async with db.transaction() as session:
            session.add(Widget(name="rolled-back"))
            await outbox.emit(
                session,
                type=EVENT_TYPE,
                subject_resource="widgets/rolled-back",
                payload_message=_payload(EVENT_TYPE, "rolled-back"),
            )
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await change_then_fail()

    async with db.transaction() as session:
        rows = (await session.scalars(select(OutboxRecord))).all()
        widgets = (await session.scalars(select(Widget.name))).all()
    assert widgets == ["committed"]
    assert [(r.event_id, r.subject, r.published_at) for r in rows] == [
        (event_id, event_subject(nats_settings, EVENT_TYPE), None)
    ]
    decoded = Event.FromString(rows[0].payload)
    assert decoded.source == "widget-service"
    assert decoded.subject == "widgets/committed"
    assert decoded.correlation_id == event_id
    assert decoded.spec_version == "1.0"
    assert decoded.WhichOneof("payload") == "models_version_status_changed"
    assert decoded.models_version_status_changed.model_version == "models/m/versions/committed"
    assert outbox.wakeup.is_set()


async def test_duplicate_event_id_is_already_exists(
    db: Database, nats_settings: NatsSettings
) -> None:
    outbox = _outbox(nats_settings)
    event = Event(
        id="same-id",
        type=EVENT_TYPE,
        models_version_status_changed=ModelsVersionStatusChanged(
            model_version="models/m/versions/1"
        ),
    )
    async with db.transaction() as session:
        await outbox.add(session, event)
    with pytest.raises(AlreadyExists):
        async with db.transaction() as session:
            await outbox.add(session, event)


async def test_relay_publishes_with_msg_id_and_server_deduplicates(
    db: Database, nats_settings: NatsSettings, nc: Client
) -> None:
    outbox = _outbox(nats_settings)
    relay = OutboxRelay(db, nc, nats_settings, outbox=outbox)
    event_id = await _create_widget(db, outbox, "w1")

    assert await relay.publish_pending() == 1
    # A relay that crashed after publishing but before marking the row publishes again.
    async with db.transaction() as session:
        await session.execute(update(OutboxRecord).values(published_at=None))
    assert await relay.publish_pending() == 1

    assert await _stream_messages(nc, nats_settings.stream) == 1
    stored = await nc.jetstream().get_last_msg(
        nats_settings.stream, event_subject(nats_settings, EVENT_TYPE)
    )
    assert stored.headers is not None
    assert stored.headers[MSG_ID_HEADER] == event_id
    assert Event.FromString(stored.data).id == event_id
    assert await relay.publish_pending() == 0


async def test_relay_across_nats_restart_delivers_each_event_once(
    db: Database, nats_settings: NatsSettings, nc: Client, nats_server: NatsServer
) -> None:
    outbox = _outbox(nats_settings)
    seen: list[str] = []
    consumer = EventConsumer(
        db,
        nc,
        nats_settings,
        name="restart-test",
        subjects=[event_subject(nats_settings, EVENT_TYPE)],
        handler=_recording_handler("restart-test", seen),
        event_class=Event,
        fetch_timeout_s=0.5,
    )
    relay = OutboxRelay(db, nc, nats_settings, outbox=outbox, retry_max_s=0.5)
    await relay.ensure_streams()
    ids: list[str] = []
    async with relay, consumer:
        ids += [await _create_widget(db, outbox, f"before-{i}") for i in range(3)]
        await eventually(lambda: _has_applied(db, "restart-test", ids))

        await asyncio.to_thread(nats_server.stop)
        # Commits succeed while NATS is down: the events wait in the outbox.
        ids += [await _create_widget(db, outbox, f"during-{i}") for i in range(5)]
        # Keep NATS down until the relay has failed a publish and kept the row pending.
        await eventually(lambda: _failed_pending(db))
        await asyncio.to_thread(nats_server.start)

        await eventually(lambda: _has_applied(db, "restart-test", ids))

        # Re-relaying every row (as after a relay crash) stores nothing new in the stream.
        async with db.transaction() as session:
            await session.execute(update(OutboxRecord).values(published_at=None))
        sentinel = await _create_widget(db, outbox, "sentinel")
        await eventually(lambda: _has_applied(db, "restart-test", [sentinel]))

    assert await _applied(db, "restart-test") == Counter({i: 1 for i in [*ids, sentinel]})
    assert sorted(seen) == sorted([*ids, sentinel])
    assert await _stream_messages(nc, nats_settings.stream) == len(ids) + 1
    async with db.transaction() as session:
        pending = await session.scalar(
            select(func.count()).where(OutboxRecord.published_at.is_(None))
        )
    assert pending == 0


async def _failed_pending(db: Database) -> bool:
    async with db.transaction() as session:
        failed = await session.scalar(
            select(func.count()).where(
                OutboxRecord.published_at.is_(None), OutboxRecord.attempts > 0
            )
        )
    return bool(failed)


async def _has_applied(db: Database, consumer: str, ids: list[str]) -> bool:
    applied = await _applied(db, consumer)
    return all(applied[i] >= 1 for i in ids)


class _AckLosingConsumer(EventConsumer):
    """Drops the ack of each first delivery, as if the connection broke after commit."""

    deliveries: Counter[str]

    async def handle(self, msg: Msg) -> None:
        self.deliveries[str(Event.FromString(msg.data).id)] += 1
        if msg.metadata.num_delivered == 1:

            async def lost_ack() -> None:
                return None

            msg.ack = lost_ack  # type: ignore[method-assign]
        await super().handle(msg)


async def test_redelivered_event_is_applied_once(
    db: Database, nats_settings: NatsSettings, nc: Client
) -> None:
    outbox = _outbox(nats_settings)
    seen: list[str] = []
    consumer = _AckLosingConsumer(
        db,
        nc,
        nats_settings,
        name="idempotency-test",
        subjects=[event_subject(nats_settings, EVENT_TYPE)],
        handler=_recording_handler("idempotency-test", seen),
        event_class=Event,
        ack_wait_s=0.5,
        fetch_timeout_s=0.5,
    )
    consumer.deliveries = Counter()
    relay = OutboxRelay(db, nc, nats_settings, outbox=outbox)
    await relay.ensure_streams()
    async with relay, consumer:
        ids = [await _create_widget(db, outbox, f"w{i}") for i in range(2)]

        async def redelivered() -> bool:
            return all(consumer.deliveries[i] >= 2 for i in ids)

        await eventually(redelivered)

        async def settled() -> bool:
            info = await nc.jetstream().consumer_info(nats_settings.stream, "idempotency-test")
            return info.num_ack_pending == 0 and info.num_pending == 0

        await eventually(settled)

    assert sorted(seen) == sorted(ids)
    assert await _applied(db, "idempotency-test") == Counter({i: 1 for i in ids})


async def test_failing_event_is_dead_lettered_and_others_continue(
    db: Database, nats_settings: NatsSettings, nc: Client
) -> None:
    outbox = _outbox(nats_settings)
    seen: list[str] = []
    record = _recording_handler("dlq-test", seen)

    async def handler(event: Message, session: AsyncSession) -> None:
        if event.type == FAILING_TYPE:  # type: ignore[attr-defined,unused-ignore]
            raise ValueError("cannot apply a poisoned widget")
        await record(event, session)

    consumer = EventConsumer(
        db,
        nc,
        nats_settings,
        name="dlq-test",
        subjects=[f"{nats_settings.subject_prefix}.models.>"],
        handler=handler,
        event_class=Event,
        max_deliver=3,
        backoff_s=(0.05,),
        fetch_timeout_s=0.5,
    )
    relay = OutboxRelay(db, nc, nats_settings, outbox=outbox)
    await relay.ensure_streams()
    dlq = await nc.jetstream().pull_subscribe(
        f"{nats_settings.dead_letter_prefix}.>", stream=nats_settings.dead_letter_stream
    )
    async with relay, consumer:
        poisoned = await _create_widget(db, outbox, "poisoned", kind=FAILING_TYPE)
        good = await _create_widget(db, outbox, "good")
        await eventually(lambda: _has_applied(db, "dlq-test", [good]))
        [dead] = await dlq.fetch(1, timeout=EVENTUALLY_TIMEOUT_S)
        await dead.ack()
        after = await _create_widget(db, outbox, "after")
        await eventually(lambda: _has_applied(db, "dlq-test", [after]))

    assert dead.subject == f"{nats_settings.dead_letter_prefix}.dlq-test.{FAILING_TYPE}"
    assert Event.FromString(dead.data).id == poisoned
    assert dead.headers is not None
    assert dead.headers[DEAD_LETTER_SUBJECT_HEADER] == event_subject(nats_settings, FAILING_TYPE)
    assert dead.headers[DEAD_LETTER_CONSUMER_HEADER] == "dlq-test"
    assert dead.headers[DEAD_LETTER_DELIVERIES_HEADER] == "3"
    assert "cannot apply a poisoned widget" in dead.headers[DEAD_LETTER_ERROR_HEADER]
    assert sorted(seen) == sorted([good, after])
    async with db.transaction() as session:
        records = (await session.scalars(select(DeadLetterRecord))).all()
    assert [(r.event_id, r.delivery_count) for r in records] == [(poisoned, 3)]


async def test_malformed_payload_goes_straight_to_the_dead_letter_stream(
    db: Database, nats_settings: NatsSettings, nc: Client
) -> None:
    outbox = _outbox(nats_settings)
    seen: list[str] = []
    consumer = EventConsumer(
        db,
        nc,
        nats_settings,
        name="malformed-test",
        subjects=[f"{nats_settings.subject_prefix}.models.>"],
        handler=_recording_handler("malformed-test", seen),
        event_class=Event,
        fetch_timeout_s=0.5,
    )
    relay = OutboxRelay(db, nc, nats_settings, outbox=outbox)
    await relay.ensure_streams()
    js = nc.jetstream()
    dlq = await js.pull_subscribe(
        f"{nats_settings.dead_letter_prefix}.>", stream=nats_settings.dead_letter_stream
    )
    garbage = b"\xff\xff\xff\xff not a protobuf"
    await js.publish(event_subject(nats_settings, EVENT_TYPE), garbage)
    async with relay, consumer:
        good = await _create_widget(db, outbox, "good")
        await eventually(lambda: _has_applied(db, "malformed-test", [good]))
        [dead] = await dlq.fetch(1, timeout=EVENTUALLY_TIMEOUT_S)

    assert dead.data == garbage
    assert dead.headers is not None
    assert dead.headers[DEAD_LETTER_DELIVERIES_HEADER] == "1"
    assert dead.subject == f"{nats_settings.dead_letter_prefix}.malformed-test.{EVENT_TYPE}"
    assert seen == [good]


async def test_tail_yields_published_events(
    db: Database, nats_settings: NatsSettings, nc: Client
) -> None:
    outbox = _outbox(nats_settings)
    relay = OutboxRelay(db, nc, nats_settings, outbox=outbox)
    ids = [await _create_widget(db, outbox, f"w{i}") for i in range(3)]
    assert await relay.publish_pending() == 3

    tail = tail_events(nc, nats_settings, deliver_all=True, event_class=Event)
    received = [await anext(tail) for _ in ids]
    await tail.aclose()  # type: ignore[attr-defined,unused-ignore]

    assert [e.id for e in received] == ids  # type: ignore[attr-defined,unused-ignore]


@pytest.mark.postgres
async def test_relay_replicas_share_rows_on_postgresql(
    postgres_server: Any, nats_settings: NatsSettings, nc: Client
) -> None:
    url = postgres_server.create_database(f"relays_{uuid.uuid4().hex[:8]}")
    await migrate(url, chains=[RUNTIME_MIGRATIONS])
    async with Database(url) as database:
        async with database.engine.begin() as conn:
            await conn.run_sync(EffectsBase.metadata.create_all)
        outbox = _outbox(nats_settings)
        ids = [await _create_widget(database, outbox, f"w{i}") for i in range(40)]
        replicas = [OutboxRelay(database, nc, nats_settings, batch_size=5) for _ in range(2)]
        await replicas[0].ensure_streams()

        async def drain(relay: OutboxRelay) -> int:
            total = 0
            while published := await relay.publish_pending():
                total += published
            return total

        counts = await asyncio.gather(*(drain(relay) for relay in replicas))

    # SKIP LOCKED: every row was claimed and published by exactly one replica.
    assert sum(counts) == len(ids)
    assert await _stream_messages(nc, nats_settings.stream) == len(ids)


# --- Rows NATS can never accept -------------------------------------------------------

# nats-server's default max_payload (and NatsSettings.max_payload_bytes'): 1 MiB.
ONE_MIB = 1024 * 1024
# Event types a subject cannot carry literally: whitespace, wildcards, an empty token.
MALFORMED_TYPES = ["models.version bad", "models.*", "models.>", "models..x"]


def _envelope_without_catalog() -> type[Message]:
    """A minimal envelope (id, type) that is not ``gyre.events.v1.Event``."""
    file = descriptor_pb2.FileDescriptorProto(
        name="gyre_tests/envelope.proto", package="gyre_tests", syntax="proto3"
    )
    message = file.message_type.add(name="Envelope")
    for number, name in enumerate(["id", "type"], start=1):
        message.field.add(
            name=name,
            number=number,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("gyre_tests.Envelope"))


async def _outbox_rows(db: Database) -> list[OutboxRecord]:
    async with db.transaction() as session:
        return list((await session.scalars(select(OutboxRecord).order_by(OutboxRecord.id))).all())


async def _widgets(db: Database) -> list[str]:
    async with db.transaction() as session:
        return list((await session.scalars(select(Widget.name))).all())


def _failed_count(reason: str) -> float:
    return REGISTRY.get_sample_value(OUTBOX_FAILED_TOTAL, {"reason": reason}) or 0.0


async def test_emit_refuses_an_event_larger_than_max_payload_and_rolls_back(
    db: Database, nats_settings: NatsSettings
) -> None:
    outbox = _outbox(nats_settings)
    huge = ModelsVersionStatusChanged(model_version="models/m/versions/" + "x" * (2 * ONE_MIB))

    async def change_and_emit() -> None:
        async with db.transaction() as session:
            session.add(Widget(name="huge"))
            await outbox.emit(
                session, type=EVENT_TYPE, subject_resource="widgets/huge", payload_message=huge
            )

    with pytest.raises(InvalidArgument) as caught:
        await change_and_emit()

    assert caught.value.reason == "EVENT_TOO_LARGE"
    assert caught.value.metadata["max_payload_bytes"] == str(ONE_MIB)
    assert int(caught.value.metadata["size_bytes"]) > 2 * ONE_MIB
    assert await _widgets(db) == []
    assert await _outbox_rows(db) == []


async def test_max_payload_counts_the_headers_the_relay_adds(
    db: Database, nats_settings: NatsSettings
) -> None:
    limit = 4096
    outbox = _outbox(nats_settings.model_copy(update={"max_payload_bytes": limit}))
    fits = ModelsVersionStatusChanged(model_version="x" * (limit - 1000))
    # The serialized envelope alone is under the limit; with its headers it is over.
    too_big = Event(
        id=str(uuid.uuid4()),
        type=EVENT_TYPE,
        models_version_status_changed=ModelsVersionStatusChanged(model_version="x" * (limit - 200)),
    )
    assert too_big.ByteSize() < limit

    async with db.transaction() as session:
        await outbox.emit(session, type=EVENT_TYPE, subject_resource="w/fits", payload_message=fits)
    with pytest.raises(InvalidArgument, match="more than the 4096 bytes"):
        async with db.transaction() as session:
            await outbox.add(session, too_big)

    assert [r.event_type for r in await _outbox_rows(db)] == [EVENT_TYPE]


@pytest.mark.parametrize("bad_type", [*MALFORMED_TYPES, "widgets.created"])
async def test_emit_refuses_a_type_outside_the_catalog_and_rolls_back(
    db: Database, nats_settings: NatsSettings, bad_type: str
) -> None:
    outbox = _outbox(nats_settings)

    async def change_and_emit() -> None:
        async with db.transaction() as session:
            session.add(Widget(name="w"))
            await outbox.emit(
                session,
                type=bad_type,
                subject_resource="widgets/w",
                payload_message=_payload(EVENT_TYPE, "w"),
            )

    with pytest.raises(InvalidArgument) as caught:
        await change_and_emit()

    assert caught.value.reason == "UNKNOWN_EVENT_TYPE"
    assert caught.value.metadata == {"event_type": bad_type}
    assert await _widgets(db) == []
    assert await _outbox_rows(db) == []


async def test_add_refuses_a_payload_that_does_not_match_the_type(
    db: Database, nats_settings: NatsSettings
) -> None:
    outbox = _outbox(nats_settings)
    mismatched = Event(
        id=str(uuid.uuid4()),
        type=FAILING_TYPE,
        models_version_status_changed=ModelsVersionStatusChanged(model_version="models/m/v/1"),
    )

    with pytest.raises(InvalidArgument, match="carries payload 'models_version_archived'"):
        async with db.transaction() as session:
            await outbox.add(session, mismatched)
    with pytest.raises(InvalidArgument) as caught:
        async with db.transaction() as session:
            await outbox.emit(
                session,
                type=FAILING_TYPE,
                subject_resource="widgets/w",
                payload_message=_payload(EVENT_TYPE, "w"),
            )

    assert caught.value.reason == "EVENT_PAYLOAD_MISMATCH"
    assert await _outbox_rows(db) == []


@pytest.mark.parametrize("bad_type", [*MALFORMED_TYPES, "", "models.", ".models"])
async def test_other_envelopes_need_a_literal_subject_token_type(
    db: Database, nats_settings: NatsSettings, bad_type: str
) -> None:
    envelope = _envelope_without_catalog()
    outbox = Outbox(source="widget-service", nats=nats_settings, event_class=envelope)

    with pytest.raises(InvalidArgument, match="dot-separated tokens"):
        async with db.transaction() as session:
            await outbox.add(session, envelope(id=str(uuid.uuid4()), type=bad_type))
    async with db.transaction() as session:
        await outbox.add(session, envelope(id=str(uuid.uuid4()), type="widgets.part-2.made_up"))

    assert [r.subject for r in await _outbox_rows(db)] == [
        f"{nats_settings.subject_prefix}.widgets.part-2.made_up"
    ]


async def _insert_raw_row(
    db: Database,
    nats: NatsSettings,
    *,
    subject: str,
    payload: bytes,
    headers: Any = None,
    event_id: str | None = None,
) -> str:
    """A row as an older writer (or a bug) could have left it, bypassing Outbox.add.

    ``headers`` is stored as given (``JSON.NULL`` stores a JSON null); ``None`` stores ``{}``.
    """
    eid = str(uuid.uuid4()) if event_id is None else event_id
    async with db.transaction() as session:
        session.add(
            OutboxRecord(
                event_id=eid,
                event_type=EVENT_TYPE,
                subject=subject,
                payload=payload,
                headers={} if headers is None else headers,
                attempts=0,
            )
        )
    return eid


async def test_relay_marks_rows_nats_rejects_failed_and_relays_the_rows_behind(
    db: Database, nats_settings: NatsSettings, nc: Client
) -> None:
    outbox = _outbox(nats_settings)
    relay = OutboxRelay(db, nc, nats_settings, outbox=outbox)
    before = {r: _failed_count(r) for r in ("MaxPayloadError", "BadSubjectError")}
    prefix = nats_settings.subject_prefix
    good = [await _create_widget(db, outbox, "first")]
    bad = {
        # 2 MB: nats-server would close the connection.
        await _insert_raw_row(
            db, nats_settings, subject=f"{prefix}.{EVENT_TYPE}", payload=b"x" * (2 * ONE_MIB)
        ): "MaxPayloadError",
        # Just under max_payload alone, over it with the relay's headers.
        await _insert_raw_row(
            db, nats_settings, subject=f"{prefix}.{EVENT_TYPE}", payload=b"x" * (ONE_MIB - 10)
        ): "MaxPayloadError",
    }
    for bad_type in MALFORMED_TYPES:
        eid = await _insert_raw_row(
            db, nats_settings, subject=f"{prefix}.{bad_type}", payload=b"not relayed"
        )
        bad[eid] = "BadSubjectError"
    good += [await _create_widget(db, outbox, f"behind-{i}") for i in range(3)]

    assert await relay.publish_pending() == len(good)
    assert await relay.publish_pending() == 0  # failed rows are not retried

    rows = {r.event_id: r for r in await _outbox_rows(db)}
    assert {eid for eid, r in rows.items() if r.published_at is not None} == set(good)
    assert {
        eid: (r.failed_at is not None, r.attempts) for eid, r in rows.items() if eid in bad
    } == {eid: (True, 1) for eid in bad}
    assert {eid: (rows[eid].last_error or "").split(":")[0] for eid in bad} == bad
    assert all(rows[eid].failed_at is None for eid in good)
    tail = tail_events(nc, nats_settings, deliver_all=True, event_class=Event)
    received = [str((await anext(tail)).id) for _ in good]  # type: ignore[attr-defined,unused-ignore]
    await tail.aclose()  # type: ignore[attr-defined,unused-ignore]
    assert received == good
    assert await _stream_messages(nc, nats_settings.stream) == len(good)
    assert {r: _failed_count(r) - before[r] for r in before} == {
        "MaxPayloadError": 2,
        "BadSubjectError": len(MALFORMED_TYPES),
    }


async def test_relay_fails_rows_outside_the_stream_or_with_malformed_headers_alone(
    db: Database, nats_settings: NatsSettings, nc: Client
) -> None:
    outbox = _outbox(nats_settings)
    relay = OutboxRelay(db, nc, nats_settings, outbox=outbox)
    reasons = ("SubjectOutsideStreamError", "MalformedHeadersError", "MalformedEventIdError")
    before = {r: _failed_count(r) for r in reasons}
    subject = f"{nats_settings.subject_prefix}.{EVENT_TYPE}"
    # Each bad row sits between good ones; before the fix the first one either blocked
    # every row behind it forever (no stream, a non-string header) or rolled the whole
    # batch back with an empty last_error (headers that are not an object).
    bad_rows: list[dict[str, Any]] = [
        {"subject": "nowhere.at.all"},
        # The subject prefix was renamed since this row was written.
        {"subject": f"gyre.v1.{EVENT_TYPE}"},
        # The prefix alone: "<prefix>.>" needs at least one more token.
        {"subject": nats_settings.subject_prefix},
        {"subject": subject, "headers": {"X-A": 5}},
        {"subject": subject, "headers": {"X-A": ["a"]}},
        {"subject": subject, "headers": {"X A": "v"}},
        {"subject": subject, "headers": {"X-A": "two\r\nlines"}},
        {"subject": subject, "headers": ["X-A", "v"]},
        {"subject": subject, "headers": JSON.NULL},
        # A hand-edited id would otherwise inject a header line into the publish.
        {"subject": subject, "event_id": "id\r\nX-Injected: 1"},
        {"subject": subject, "event_id": "two words"},
    ]
    good = [await _create_widget(db, outbox, "first")]
    bad: dict[str, tuple[str, str]] = {}
    for i, row in enumerate(bad_rows):
        eid = await _insert_raw_row(db, nats_settings, payload=b"not relayed", **row)
        if "event_id" in row:
            bad[eid] = (reasons[2], "not printable ASCII")
        elif "headers" in row:
            bad[eid] = (reasons[1], "stored header")
        else:
            bad[eid] = (reasons[0], "outside stream")
        good.append(await _create_widget(db, outbox, f"behind-{i}"))

    assert await relay.publish_pending() == len(good)
    assert await relay.publish_pending() == 0  # failed rows are not retried

    rows = {r.event_id: r for r in await _outbox_rows(db)}
    assert [r.event_id for r in rows.values() if r.published_at is not None] == good
    assert {eid: (rows[eid].failed_at is not None, rows[eid].attempts) for eid in bad} == {
        eid: (True, 1) for eid in bad
    }
    for eid, (reason, words) in bad.items():
        assert (rows[eid].last_error or "").startswith(f"{reason}: "), rows[eid].last_error
        assert words in (rows[eid].last_error or "")
    tail = tail_events(nc, nats_settings, deliver_all=True, event_class=Event)
    received = [str((await anext(tail)).id) for _ in good]  # type: ignore[attr-defined,unused-ignore]
    await tail.aclose()  # type: ignore[attr-defined,unused-ignore]
    assert received == good
    assert await _stream_messages(nc, nats_settings.stream) == len(good)
    assert {r: _failed_count(r) - before[r] for r in reasons} == {
        "SubjectOutsideStreamError": 3,
        "MalformedHeadersError": 6,
        "MalformedEventIdError": 2,
    }


async def test_relay_recreates_a_deleted_stream_instead_of_failing_the_row(
    db: Database, nats_settings: NatsSettings, nc: Client
) -> None:
    outbox = _outbox(nats_settings)
    relay = OutboxRelay(db, nc, nats_settings, outbox=outbox)
    await relay.ensure_streams()
    await nc.jetstream().delete_stream(nats_settings.stream)
    eid = await _create_widget(db, outbox, "w")

    # The subject is under the prefix, so "no stream" means the stream is missing: the
    # row stays pending (transient) rather than being marked failed.
    with pytest.raises(NoStreamResponseError):
        await relay.publish_pending()
    (row,) = await _outbox_rows(db)
    assert (row.failed_at, row.published_at, row.attempts) == (None, None, 1)
    assert (row.last_error or "").startswith("NoStreamResponseError")

    assert await relay.publish_pending() == 1
    (row,) = await _outbox_rows(db)
    assert (row.event_id, row.failed_at, row.published_at is not None) == (eid, None, True)
    assert await _stream_messages(nc, nats_settings.stream) == 1


async def test_relay_marks_a_row_jetstream_refuses_failed_and_continues(
    db: Database, nats_settings: NatsSettings, nc: Client
) -> None:
    outbox = _outbox(nats_settings)
    relay = OutboxRelay(db, nc, nats_settings, outbox=outbox)
    await relay.ensure_streams()
    # The stream takes smaller messages than the server: JetStream answers 400.
    js = nc.jetstream()
    config = (await js.stream_info(nats_settings.stream)).config
    await js.update_stream(dataclasses.replace(config, max_msg_size=4096))
    before = _failed_count("BadRequestError")
    big = ModelsVersionStatusChanged(model_version="x" * 8000)
    async with db.transaction() as session:
        too_big = await outbox.emit(
            session, type=EVENT_TYPE, subject_resource="w/big", payload_message=big
        )
    behind = await _create_widget(db, outbox, "behind")

    async with relay:
        await eventually(lambda: _stream_messages(nc, nats_settings.stream))

    rows = {r.event_id: r for r in await _outbox_rows(db)}
    failed = rows[str(too_big.id)]  # type: ignore[attr-defined,unused-ignore]
    assert (failed.failed_at is not None, failed.published_at) == (True, None)
    assert "message size exceeds maximum allowed" in (failed.last_error or "")
    assert rows[behind].published_at is not None
    assert _failed_count("BadRequestError") - before == 1


async def test_consumer_recreates_its_durable_consumer_after_it_was_deleted(
    db: Database, nats_settings: NatsSettings, nc: Client
) -> None:
    outbox = _outbox(nats_settings)
    seen: list[str] = []
    consumer = EventConsumer(
        db,
        nc,
        nats_settings,
        name="recreate-test",
        subjects=[event_subject(nats_settings, EVENT_TYPE)],
        handler=_recording_handler("recreate-test", seen),
        event_class=Event,
        fetch_timeout_s=0.5,
    )
    relay = OutboxRelay(db, nc, nats_settings, outbox=outbox)
    await relay.ensure_streams()
    async with relay, consumer:
        first = await _create_widget(db, outbox, "first")
        await eventually(lambda: _has_applied(db, "recreate-test", [first]))
        # An operator (or a stream restore) removes the durable consumer: fetches on the
        # old binding fail until the consumer binds afresh, creating it again.
        await nc.jetstream().delete_consumer(nats_settings.stream, "recreate-test")
        second = await _create_widget(db, outbox, "second")
        await eventually(lambda: _has_applied(db, "recreate-test", [second]))

    assert seen == [first, second]
