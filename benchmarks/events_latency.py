"""Gyre's event path against raw NATS JetStream, measured in one run, reported as ratios.

Starts a real ``nats-server`` (JetStream, temp store dir, free port) and real databases
(SQLite files by default, PostgreSQL with ``--postgres``), then measures:

A. core NATS round trip: ``nc.publish`` → plain subscription callback;
B. raw JetStream: ``js.publish`` (acked, ``Nats-Msg-Id``) → durable pull consumer
   ``fetch`` + ``ack`` loop with the same batch and fetch timeout as ``EventConsumer``;
G. Gyre: ``Outbox.emit`` committed in ``db.transaction()`` → ``OutboxRelay`` (woken after
   commit) → JetStream → ``EventConsumer`` handler entry. The producer and the
   consumer each have their own database, as two services do.

A, B and G run interleaved, one message in flight (the next starts after the previous
one was acknowledged), so drift on the machine hits all three alike. Then throughput
(Gyre emit → all handled vs raw ``publish_async`` → all fetched) and the per-publish
cost of ``js.publish`` (acked) vs ``nc.publish`` + ``nc.flush()``, also interleaved.

Blueprint aims (informational, the exit status does not depend on them):
outbox-to-subscriber p99 ≤ 50 ms; JetStream publish adds ≤ 1 ms p99.

    .venv/bin/python benchmarks/events_latency.py            # ~15 s on 2 cores
    .venv/bin/python benchmarks/events_latency.py --json
    .venv/bin/python benchmarks/events_latency.py --postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, Final

from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.events.v1.event_pb2 import Event
from gyre.events.v1.models_events_pb2 import ModelsVersionArchived
from gyre.runtime.db import RUNTIME_MIGRATIONS, Database, migrate
from gyre.runtime.events import (
    DEFAULT_FETCH_BATCH,
    DEFAULT_FETCH_TIMEOUT_S,
    MSG_ID_HEADER,
    EventConsumer,
    Outbox,
    OutboxRelay,
    build_event,
    connect_nats,
    ensure_streams,
    event_subject,
)
from gyre.runtime.settings import NatsSettings

REPO: Final = Path(__file__).resolve().parents[1]

# Defaults: messages per latency series, warm-up rounds, events in the throughput run.
DEFAULT_N: Final = 500
DEFAULT_WARMUP: Final = 50
DEFAULT_M: Final = 2000
# Seconds one message may take before the run is declared broken.
MESSAGE_TIMEOUT_S: Final = 10.0
# Wall-clock limit of the whole run (SIGALRM); servers are stopped either way.
DEFAULT_MAX_SECONDS: Final = 300

# Blueprint "Performance we aim at" (ms).
AIM_OUTBOX_TO_SUBSCRIBER_P99_MS: Final = 50.0
AIM_JETSTREAM_PUBLISH_ADDED_P99_MS: Final = 1.0

EVENT_TYPE: Final = "models.version.archived"
SOURCE: Final = "bench-producer"


class BenchmarkAborted(Exception):
    """The run hit its wall-clock limit or was terminated."""


def _ms(ns: float) -> float:
    return ns / 1e6


def summarize(samples_ns: list[int]) -> dict[str, float]:
    """p50, p99, mean and max of latencies in ns, as ms (``statistics.quantiles``)."""
    cuts = statistics.quantiles(samples_ns, n=100, method="inclusive")
    return {
        "n": len(samples_ns),
        "p50_ms": _ms(cuts[49]),
        "p99_ms": _ms(cuts[98]),
        "mean_ms": _ms(statistics.fmean(samples_ns)),
        "max_ms": _ms(max(samples_ns)),
    }


class Probe:
    """Receipt timestamps of one receiver: one waiter at a time, or a countdown.

    ``received()`` is called where the message reaches user code (subscription
    callback, pull loop, handler entry) and ``settled()`` once it is acknowledged; the
    sender waits for ``settled`` so only one message is ever in flight.
    """

    def __init__(self) -> None:
        self._waiter: asyncio.Future[int] | None = None
        self._received_ns = 0
        self._remaining = 0
        self._all_received = asyncio.Event()
        self.last_received_ns = 0

    def expect_one(self) -> asyncio.Future[int]:
        self._waiter = asyncio.get_running_loop().create_future()
        return self._waiter

    def expect_many(self, count: int) -> asyncio.Event:
        self._remaining = count
        self._all_received.clear()
        return self._all_received

    def received(self) -> None:
        now = time.perf_counter_ns()
        self._received_ns = now
        if self._remaining:
            self._remaining -= 1
            if not self._remaining:
                self.last_received_ns = now
                self._all_received.set()

    def settled(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(self._received_ns)


class SettlingConsumer(EventConsumer):
    """An ``EventConsumer`` that reports when a message has been acknowledged."""

    def __init__(self, *args: Any, on_settled: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_settled = on_settled

    async def handle(self, msg: Msg) -> None:
        await super().handle(msg)
        self._on_settled()


def _event_bytes() -> bytes:
    return build_event(
        Event,
        type=EVENT_TYPE,
        source=SOURCE,
        subject="models/churn/versions/7",
        payload=_payload(),
    ).SerializeToString()


def _payload() -> Message:
    return ModelsVersionArchived(
        model_version="models/churn/versions/7",
        registered_model="models/churn",
        reason="benchmark",
        actor="bench",
    )


async def _pull_loop(
    sub: JetStreamContext.PullSubscription, probe: Probe, stopping: asyncio.Event
) -> None:
    """The raw baseline consumer: fetch like ``EventConsumer`` does, then ack each."""
    while not stopping.is_set():
        try:
            msgs = await sub.fetch(DEFAULT_FETCH_BATCH, timeout=DEFAULT_FETCH_TIMEOUT_S)
        except TimeoutError:
            continue
        for msg in msgs:
            probe.received()
            await msg.ack()
            probe.settled()


async def _timed(send: Callable[[], Awaitable[object]], probe: Probe) -> int:
    """Latency (ns) of one message: just before ``send()`` → receipt."""
    waiter = probe.expect_one()
    start = time.perf_counter_ns()
    await send()
    received = await asyncio.wait_for(waiter, timeout=MESSAGE_TIMEOUT_S)
    return received - start


async def run(args: argparse.Namespace, nats_url: str, db_urls: tuple[str, str]) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    gyre_nats = NatsSettings(
        url=nats_url,
        stream=f"BENCH{tag}",
        subject_prefix=f"bench{tag}.v1",
        dead_letter_stream=f"BENCHDLQ{tag}",
        dead_letter_prefix=f"bench{tag}.dlq",
    )
    raw_nats = NatsSettings(
        url=nats_url,
        stream=f"RAW{tag}",
        subject_prefix=f"raw{tag}.v1",
        dead_letter_stream=f"RAWDLQ{tag}",
        dead_letter_prefix=f"raw{tag}.dlq",
    )
    # Producer and consumer side each have their own connection, as two services do.
    pub_nc = await connect_nats(gyre_nats, name="bench-producer", initial_timeout_s=10)
    sub_nc = await connect_nats(gyre_nats, name="bench-consumer", initial_timeout_s=10)
    producer_url, consumer_url = db_urls
    for url in db_urls:
        await migrate(url, chains=[RUNTIME_MIGRATIONS])
    producer_db = Database(producer_url, pool_size=2)
    consumer_db = Database(consumer_url, pool_size=2)
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    relay: OutboxRelay | None = None
    consumer: SettlingConsumer | None = None
    try:
        pub_js = pub_nc.jetstream(timeout=raw_nats.publish_timeout_s)
        sub_js = sub_nc.jetstream(timeout=raw_nats.publish_timeout_s)
        # The raw stream has the Gyre stream's configuration (file storage, dedup window).
        await ensure_streams(pub_js, raw_nats)

        # A. core NATS subscription.
        core_probe = Probe()
        core_subject = f"core{tag}.rtt"

        async def on_core(_msg: Msg) -> None:
            core_probe.received()
            core_probe.settled()

        await sub_nc.subscribe(core_subject, cb=on_core)
        await sub_nc.flush()

        # B. raw JetStream durable pull consumer (explicit ack, like EventConsumer's).
        raw_probe = Probe()
        raw_subject = event_subject(raw_nats, EVENT_TYPE)
        await sub_js.add_consumer(
            raw_nats.stream,
            config=ConsumerConfig(
                durable_name="raw-bench",
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                filter_subject=raw_subject,
                max_ack_pending=max(DEFAULT_FETCH_BATCH * 4, 256),
            ),
        )
        raw_sub = await sub_js.pull_subscribe_bind(durable="raw-bench", stream=raw_nats.stream)
        tasks.append(asyncio.create_task(_pull_loop(raw_sub, raw_probe, stopping)))

        # G. Gyre: outbox + relay on the producer DB, EventConsumer on the consumer DB.
        gyre_probe = Probe()
        outbox = Outbox(source=SOURCE, nats=gyre_nats, event_class=Event)
        relay = OutboxRelay(producer_db, pub_nc, gyre_nats, outbox=outbox)
        await relay.ensure_streams()

        async def handler(_event: Message, _session: AsyncSession) -> None:
            gyre_probe.received()

        consumer = SettlingConsumer(
            consumer_db,
            sub_nc,
            gyre_nats,
            name="bench-consumer",
            subjects=[event_subject(gyre_nats, EVENT_TYPE)],
            handler=handler,
            event_class=Event,
            batch_size=args.consumer_batch,
            on_settled=gyre_probe.settled,
        )
        relay.start()
        consumer.start()

        payload = _event_bytes()

        async def send_core() -> None:
            await pub_nc.publish(core_subject, payload)

        async def send_raw() -> None:
            await pub_js.publish(raw_subject, payload, headers={MSG_ID_HEADER: uuid.uuid4().hex})

        async def send_gyre() -> None:
            async with producer_db.transaction() as session:
                await outbox.emit(
                    session,
                    type=EVENT_TYPE,
                    subject_resource="models/churn/versions/7",
                    payload_message=_payload(),
                )

        series: dict[str, tuple[Callable[[], Awaitable[object]], Probe]] = {
            "core_nats": (send_core, core_probe),
            "raw_jetstream": (send_raw, raw_probe),
            "gyre_outbox": (send_gyre, gyre_probe),
        }
        latency: dict[str, list[int]] = {name: [] for name in series}
        names = list(series)
        for i in range(args.warmup + args.n):
            # Rotate the order so no series always follows the same one.
            for k in range(len(names)):
                name = names[(i + k) % len(names)]
                send, probe = series[name]
                sample = await _timed(send, probe)
                if i >= args.warmup:
                    latency[name].append(sample)

        # Throughput: Gyre emits as fast as one writer commits vs raw publish_async.
        done = gyre_probe.expect_many(args.m)
        start = time.perf_counter_ns()
        for _ in range(args.m):
            await send_gyre()
        gyre_emitted_ns = time.perf_counter_ns() - start
        await asyncio.wait_for(done.wait(), timeout=MESSAGE_TIMEOUT_S + args.m * 0.05)
        gyre_handled_ns = gyre_probe.last_received_ns - start

        done = raw_probe.expect_many(args.m)
        start = time.perf_counter_ns()
        acks = [
            await pub_js.publish_async(
                raw_subject, payload, headers={MSG_ID_HEADER: uuid.uuid4().hex}
            )
            for _ in range(args.m)
        ]
        await asyncio.gather(*acks)
        raw_acked_ns = time.perf_counter_ns() - start
        await asyncio.wait_for(done.wait(), timeout=MESSAGE_TIMEOUT_S + args.m * 0.05)
        raw_fetched_ns = raw_probe.last_received_ns - start

        # JetStream publish (acked) vs core publish + flush, on subjects nobody consumes.
        js_idle_subject = f"{raw_nats.subject_prefix}.bench.publish_only"
        core_idle_subject = f"core{tag}.publish_only"
        js_publish: list[int] = []
        core_publish: list[int] = []
        for i in range(args.warmup + args.n):
            msg_id = uuid.uuid4().hex
            t0 = time.perf_counter_ns()
            await pub_js.publish(js_idle_subject, payload, headers={MSG_ID_HEADER: msg_id})
            t1 = time.perf_counter_ns()
            await pub_nc.publish(core_idle_subject, payload)
            await pub_nc.flush()
            t2 = time.perf_counter_ns()
            if i >= args.warmup:
                js_publish.append(t1 - t0)
                core_publish.append(t2 - t1)
    finally:
        stopping.set()
        if consumer is not None:
            await consumer.stop()
        if relay is not None:
            await relay.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Closing fires the runtime's "disconnected; reconnecting" warning: not news here.
        logging.getLogger("gyre.runtime.events._nats").setLevel(logging.ERROR)
        await pub_nc.close()
        await sub_nc.close()
        await producer_db.dispose()
        await consumer_db.dispose()

    return _results(
        args,
        latency={name: summarize(samples) for name, samples in latency.items()},
        throughput={
            "gyre_events_per_s": args.m / (gyre_handled_ns / 1e9),
            "gyre_emit_commits_per_s": args.m / (gyre_emitted_ns / 1e9),
            "raw_jetstream_events_per_s": args.m / (raw_fetched_ns / 1e9),
            "raw_jetstream_publish_acked_per_s": args.m / (raw_acked_ns / 1e9),
        },
        publish={"jetstream": summarize(js_publish), "core_flush": summarize(core_publish)},
    )


def _results(
    args: argparse.Namespace,
    *,
    latency: dict[str, dict[str, float]],
    throughput: dict[str, float],
    publish: dict[str, dict[str, float]],
) -> dict[str, Any]:
    gyre, raw = latency["gyre_outbox"], latency["raw_jetstream"]
    added_p50 = publish["jetstream"]["p50_ms"] - publish["core_flush"]["p50_ms"]
    added_p99 = publish["jetstream"]["p99_ms"] - publish["core_flush"]["p99_ms"]
    return {
        "benchmark": "events_latency",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "nats_server": _nats_server_version(),
        },
        "config": {
            "n": args.n,
            "warmup": args.warmup,
            "m": args.m,
            "database": "postgresql" if args.postgres else "sqlite",
            "consumer_batch": args.consumer_batch,
            "fetch_timeout_s": DEFAULT_FETCH_TIMEOUT_S,
        },
        "latency": latency,
        "throughput": throughput,
        "publish": publish,
        "ratios": {
            "gyre_vs_raw_jetstream_p50": gyre["p50_ms"] / raw["p50_ms"],
            "gyre_vs_raw_jetstream_p99": gyre["p99_ms"] / raw["p99_ms"],
            "gyre_added_p50_ms": gyre["p50_ms"] - raw["p50_ms"],
            "gyre_added_p99_ms": gyre["p99_ms"] - raw["p99_ms"],
            "raw_jetstream_vs_core_p50": raw["p50_ms"] / latency["core_nats"]["p50_ms"],
            "gyre_vs_raw_jetstream_throughput": throughput["gyre_events_per_s"]
            / throughput["raw_jetstream_events_per_s"],
            "jetstream_publish_added_p50_ms": added_p50,
            "jetstream_publish_added_p99_ms": added_p99,
        },
        "aims": {
            "outbox_to_subscriber_p99_ms": {
                "aim": AIM_OUTBOX_TO_SUBSCRIBER_P99_MS,
                "measured": gyre["p99_ms"],
                "pass": gyre["p99_ms"] <= AIM_OUTBOX_TO_SUBSCRIBER_P99_MS,
            },
            "jetstream_publish_added_p99_ms": {
                "aim": AIM_JETSTREAM_PUBLISH_ADDED_P99_MS,
                "measured": added_p99,
                "pass": added_p99 <= AIM_JETSTREAM_PUBLISH_ADDED_P99_MS,
            },
        },
    }


def _nats_server_version() -> str:
    from support.servers import venv_bin

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            [venv_bin("nats-server"), "--version"], capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip()
    return "unknown"


def render(results: dict[str, Any]) -> str:
    """The human-readable table."""
    cfg, lat, thr = results["config"], results["latency"], results["throughput"]
    pub, ratio, aims = results["publish"], results["ratios"], results["aims"]
    rows = [
        ("A core NATS pub → subscriber", lat["core_nats"]),
        ("B raw JetStream pub → fetch", lat["raw_jetstream"]),
        ("G Gyre outbox → handler", lat["gyre_outbox"]),
        ("js.publish (acked)", pub["jetstream"]),
        ("nc.publish + flush", pub["core_flush"]),
    ]
    lines = [
        f"events_latency  {results['date']}  {results['machine']['cpus']} cpus  "
        f"{results['machine']['nats_server']}  db={cfg['database']}",
        f"latency: n={cfg['n']} (warm-up {cfg['warmup']}), one in flight, A/B/G interleaved; "
        f"throughput: m={cfg['m']}",
        "",
        f"{'':34}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'max ms':>9}",
    ]
    for label, s in rows:
        lines.append(
            f"{label:34}{s['p50_ms']:9.3f}{s['p99_ms']:9.3f}{s['mean_ms']:9.3f}{s['max_ms']:9.3f}"
        )
    lines += [
        "",
        f"G / B latency     p50 {ratio['gyre_vs_raw_jetstream_p50']:.1f}x "
        f"(+{ratio['gyre_added_p50_ms']:.2f} ms)   "
        f"p99 {ratio['gyre_vs_raw_jetstream_p99']:.1f}x (+{ratio['gyre_added_p99_ms']:.2f} ms)",
        f"B / A latency     p50 {ratio['raw_jetstream_vs_core_p50']:.1f}x",
        f"throughput        Gyre {thr['gyre_events_per_s']:.0f} ev/s emit→handled "
        f"(emit commits {thr['gyre_emit_commits_per_s']:.0f}/s) vs raw JetStream "
        f"{thr['raw_jetstream_events_per_s']:.0f} ev/s publish_async→fetched "
        f"(acked {thr['raw_jetstream_publish_acked_per_s']:.0f}/s): "
        f"{ratio['gyre_vs_raw_jetstream_throughput']:.3f}x",
        f"JetStream publish adds  p50 {ratio['jetstream_publish_added_p50_ms']:+.3f} ms   "
        f"p99 {ratio['jetstream_publish_added_p99_ms']:+.3f} ms  over core publish + flush",
        "",
    ]
    for key, label in (
        ("outbox_to_subscriber_p99_ms", "outbox → subscriber p99"),
        ("jetstream_publish_added_p99_ms", "JetStream publish added p99"),
    ):
        aim = aims[key]
        verdict = "PASS" if aim["pass"] else "MISS"
        lines.append(f"aim {label:30} ≤ {aim['aim']:g} ms: {verdict} ({aim['measured']:.2f} ms)")
    return "\n".join(lines)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=DEFAULT_N, help="messages per latency series")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="warm-up rounds")
    parser.add_argument("-m", type=int, default=DEFAULT_M, help="events in the throughput run")
    parser.add_argument(
        "--consumer-batch",
        type=int,
        default=DEFAULT_FETCH_BATCH,
        help="EventConsumer fetch batch (the raw baseline always uses the default)",
    )
    parser.add_argument(
        "--postgres", action="store_true", help="PostgreSQL instead of SQLite files"
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument(
        "--max-seconds",
        type=int,
        default=DEFAULT_MAX_SECONDS,
        help="abort (stopping the servers) after this many seconds",
    )
    args = parser.parse_args(argv)
    if args.n < 2 or args.m < 1 or args.warmup < 0:
        parser.error("need -n >= 2, -m >= 1, --warmup >= 0")
    return args


@contextlib.contextmanager
def _databases(postgres: bool, base: Path) -> Iterator[tuple[str, str]]:
    if not postgres:
        yield (
            f"sqlite+aiosqlite:///{base / 'producer.db'}",
            f"sqlite+aiosqlite:///{base / 'consumer.db'}",
        )
        return
    from support.servers import PostgresServer

    if not PostgresServer.available():
        raise SystemExit("--postgres: PostgreSQL is not installed")
    with PostgresServer.running() as server:
        yield server.create_database("producer"), server.create_database("consumer")


def _abort(signum: int, _frame: FrameType | None) -> None:
    raise BenchmarkAborted(f"aborted by signal {signal.Signals(signum).name}")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    # NatsServer/PostgresServer live in the test support package.
    sys.path.insert(0, str(REPO / "tests"))
    from support.servers import NatsServer

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Termination and the wall-clock limit raise here, so the `with` blocks stop servers.
    signal.signal(signal.SIGTERM, _abort)
    signal.signal(signal.SIGALRM, _abort)
    signal.alarm(args.max_seconds)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="gyre-bench-") as tmp,
            NatsServer.running(Path(tmp)) as nats_server,
            _databases(args.postgres, Path(tmp)) as db_urls,
        ):
            results = asyncio.run(run(args, nats_server.url, db_urls))
    finally:
        signal.alarm(0)
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
