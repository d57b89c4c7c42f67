"""The model registry against MLflow's tracking server, measured in one run, as ratios.

Starts real servers on free ports in a temp dir — ``nats-server``, SeaweedFS (S3),
PostgreSQL when installed — then, for each database engine (SQLite, PostgreSQL):

G. Gyre's model registry as its own process (``python -m gyre.services.model_registry``,
   access log at WARNING), called with ``AsyncGyreClient`` (gRPC);
M. ``mlflow server`` (installed by this script into a throw-away venv, default
   ``$TMPDIR/gyre-bench-mlflow-venv``; 2 uvicorn workers, one per core), called with ``httpx``
   (its REST API), on a fresh database of the same engine,

and measures, at equal client concurrency (``--concurrency``, default 8), interleaved
in blocks so drift on the machine hits both alike:

- create version: Gyre ``CreateModelVersion`` of an artifact already in S3 (the
  registry re-reads it and re-computes its sha256 on every call, which MLflow does not
  do) vs MLflow ``POST model-versions/create``;
- get version: Gyre ``GetModelVersion`` vs MLflow ``GET model-versions/get`` of random
  existing versions.

Then search latency of Gyre at 1,000 / 10,000 / 100,000 versions (100 models, labels,
metrics, statuses, a champion per model; rows bulk-inserted into the registry's own
tables between measurements), for filtered first pages, a keyset second page and a
rare-label filter; the ratio 100k/1k shows how flat it stays.

Blueprint aims (informational; the exit status does not depend on them): >= 2x
MLflow on create and get; search latency flat from 1,000 to 100,000 versions.

    .venv/bin/python benchmarks/model_registry_vs_mlflow.py            # ~3-6 min
    .venv/bin/python benchmarks/model_registry_vs_mlflow.py --json
    .venv/bin/python benchmarks/model_registry_vs_mlflow.py --engines sqlite --creates 300
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import hashlib
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Final

REPO: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # real-server launchers (tests/support/servers.py)

AIM_SPEEDUP: Final = 2.0
AIM_SEARCH_FLATNESS: Final = 2.0  # p50 at 100k within 2x of p50 at 1k
MLFLOW_SPEC: Final = "mlflow>=3,<4"
SEARCH_SIZES: Final = (1_000, 10_000, 100_000)
SEARCH_MODELS: Final = 100
STARTUP_TIMEOUT_S: Final = 300.0


class BenchmarkAborted(RuntimeError):
    """SIGTERM or the --max-seconds alarm."""


def _abort(signum: int, _frame: FrameType | None) -> None:
    raise BenchmarkAborted(f"aborted by signal {signal.Signals(signum).name}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _summary(samples_s: list[float], wall_s: float) -> dict[str, float]:
    ordered = sorted(samples_s)
    return {
        "n": len(ordered),
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
        "throughput_per_s": len(ordered) / wall_s if wall_s else 0.0,
    }


async def _drive(
    op: Callable[[int], Awaitable[Any]], total: int, concurrency: int
) -> tuple[list[float], float]:
    """Run ``op(i)`` for i in range(total) with ``concurrency`` workers; latencies and wall."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            start = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start


# --- processes -----------------------------------------------------------------------------


@contextlib.contextmanager
def _process(
    argv: list[str], *, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _wait(check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start in {STARTUP_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


def ensure_mlflow(venv: Path) -> Path:
    """The ``mlflow`` executable of a throw-away venv, created and installed on first use."""
    mlflow = venv / "bin" / "mlflow"
    if mlflow.exists():
        return mlflow
    uv = REPO / ".venv" / "bin" / "uv"
    print(f"installing {MLFLOW_SPEC} into {venv} (first run only) ...", file=sys.stderr)
    subprocess.run([str(uv), "venv", "-q", str(venv), "--python", sys.executable], check=True)
    subprocess.run(
        [
            str(uv),
            "pip",
            "install",
            "-q",
            "--python",
            str(venv / "bin" / "python"),
            MLFLOW_SPEC,
            "psycopg2-binary>=2.9,<3",
        ],
        check=True,
    )
    return mlflow


_WORKERS: list[int] = [2]


def args_workers() -> int:
    """Worker processes of ``mlflow server`` (``--mlflow-workers``)."""
    return _WORKERS[0]


def _mlflow_version(mlflow: Path) -> str:
    out = subprocess.run([str(mlflow), "--version"], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or out.stderr.strip()


@dataclass
class Infra:
    tmp: Path
    nats_url: str
    s3: Any
    postgres: Any | None

    def database(self, engine: str, name: str, *, driver: str) -> str:
        if engine == "sqlite":
            path = self.tmp / f"{name}.db"
            return f"sqlite+aiosqlite:///{path}" if driver == "gyre" else f"sqlite:///{path}"
        assert self.postgres is not None
        url = self.postgres.create_database(name)
        return (
            url
            if driver == "gyre"
            else url.replace("postgresql+psycopg://", "postgresql+psycopg2://")
        )


@contextlib.contextmanager
def gyre_registry(infra: Infra, database_url: str, tag: str) -> Iterator[str]:
    port = _free_port()
    home = infra.tmp / f"gyre-{tag}"
    home.mkdir()
    env = {
        **os.environ,
        "GYRE_HOME": str(home),
        "GYRE_SERVER__PORT": str(port),
        "GYRE_DATABASE__URL": database_url,
        "GYRE_NATS__URL": infra.nats_url,
        "GYRE_NATS__STREAM": f"BENCH_{tag.upper()}",
        "GYRE_NATS__SUBJECT_PREFIX": f"bench{tag}.v1",
        "GYRE_NATS__DEAD_LETTER_STREAM": f"BENCH_DLQ_{tag.upper()}",
        "GYRE_NATS__DEAD_LETTER_PREFIX": f"bench{tag}.dlq",
        "GYRE_S3__ENDPOINT": infra.s3.endpoint,
        "GYRE_S3__ACCESS_KEY": infra.s3.access_key,
        "GYRE_S3__SECRET_KEY": infra.s3.secret_key,
        "GYRE_S3__BUCKET": "bench",
        "GYRE_LOGGING__LEVEL": "WARNING",
    }
    log = infra.tmp / f"gyre-{tag}.log"
    with _process([sys.executable, "-m", "gyre.services.model_registry"], env=env, log=log) as proc:
        target = f"127.0.0.1:{port}"

        def healthy() -> bool:
            import grpc
            from grpc_health.v1 import health_pb2, health_pb2_grpc

            with grpc.insecure_channel(target) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=1
                )
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

        _wait(healthy, "gyre model registry", proc, log)
        yield target


@contextlib.contextmanager
def mlflow_server(infra: Infra, mlflow: Path, backend_uri: str, tag: str) -> Iterator[str]:
    port = _free_port()
    artifacts = infra.tmp / f"mlflow-artifacts-{tag}"
    artifacts.mkdir()
    log = infra.tmp / f"mlflow-{tag}.log"
    argv = [
        str(mlflow),
        "server",
        "--backend-store-uri",
        backend_uri,
        "--default-artifact-root",
        str(artifacts),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(args_workers()),
    ]
    env = {**os.environ, "MLFLOW_HOME": str(infra.tmp), "PYTHONUNBUFFERED": "1"}
    with _process(argv, env=env, log=log) as proc:
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            import urllib.request

            with urllib.request.urlopen(f"{url}/health", timeout=1) as reply:
                return bool(reply.status == 200)

        _wait(healthy, "mlflow server", proc, log)
        yield url


# --- create / get ------------------------------------------------------------------------


async def _gyre_ops(
    target: str,
) -> tuple[
    Any,
    Callable[[int], Awaitable[Any]],
    Callable[[int], Awaitable[Any]],
    Callable[[], Awaitable[int]],
]:
    from gyre.common.v1 import schema_pb2, value_pb2
    from gyre.models.v1 import model_version_pb2, models_service_pb2
    from gyre.sdk import AsyncGyreClient
    from gyre.sdk.models import register_onnx

    client = AsyncGyreClient(addresses={"model_registry": target})
    signature = schema_pb2.Signature()
    for i in range(8):
        signature.inputs.add(name=f"f{i}", data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 1])
    signature.outputs.add(name="label", data_type=value_pb2.DATA_TYPE_INT64, shape=[-1])
    artifact_bytes = os.urandom(64 * 1024)  # a small ONNX model's size
    first = await register_onnx(client, "bench", artifact_bytes, signature=signature)
    template = model_version_pb2.ModelVersion(artifact=first.artifact, signature=signature)
    template.metrics.add(name="accuracy", value=0.9)
    count = [1]

    async def create(_i: int) -> None:
        await client.models.CreateModelVersion(
            models_service_pb2.CreateModelVersionRequest(
                parent="models/bench", model_version=template, request_id=str(uuid.uuid4())
            )
        )
        count[0] += 1

    async def get(i: int) -> None:
        version = random.Random(i).randint(1, count[0])
        await client.models.GetModelVersion(
            models_service_pb2.GetModelVersionRequest(name=f"models/bench/versions/{version}")
        )

    async def size() -> int:
        return count[0]

    return client, create, get, size


async def _mlflow_ops(
    url: str,
) -> tuple[
    Any,
    Callable[[int], Awaitable[Any]],
    Callable[[int], Awaitable[Any]],
    Callable[[], Awaitable[int]],
]:
    import httpx

    client = httpx.AsyncClient(base_url=url, timeout=60.0, limits=httpx.Limits(max_connections=64))
    api = "/api/2.0/mlflow"
    reply = await client.post(f"{api}/registered-models/create", json={"name": "bench"})
    reply.raise_for_status()
    source = "s3://bench/model-artifacts/model.onnx"
    count = [0]

    async def retried(send: Callable[[], Awaitable[Any]]) -> Any:
        # uvicorn closes idle keep-alive connections; a request racing that close gets
        # "server disconnected" and is retried (its time stays in the sample).
        for attempt in range(3):
            try:
                return await send()
            except (httpx.RemoteProtocolError, httpx.ConnectError):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def create(_i: int) -> None:
        response = await retried(
            lambda: client.post(
                f"{api}/model-versions/create",
                json={
                    "name": "bench",
                    "source": source,
                    "tags": [{"key": "accuracy", "value": "0.9"}],
                },
            )
        )
        response.raise_for_status()
        count[0] += 1

    await create(0)

    async def get(i: int) -> None:
        version = random.Random(i).randint(1, count[0])
        response = await retried(
            lambda: client.get(
                f"{api}/model-versions/get", params={"name": "bench", "version": str(version)}
            )
        )
        response.raise_for_status()

    async def size() -> int:
        return count[0]

    return client, create, get, size


async def compare(gyre_target: str, mlflow_url: str, args: argparse.Namespace) -> dict[str, Any]:
    g_client, g_create, g_get, _ = await _gyre_ops(gyre_target)
    m_client, m_create, m_get, _ = await _mlflow_ops(mlflow_url)
    try:
        results: dict[str, Any] = {}
        for name, g_op, m_op, total in (
            ("create_version", g_create, m_create, args.creates),
            ("get_version", g_get, m_get, args.gets),
        ):
            await _drive(g_op, args.warmup, args.concurrency)
            await _drive(m_op, args.warmup, args.concurrency)
            samples: dict[str, list[float]] = {"gyre": [], "mlflow": []}
            walls = {"gyre": 0.0, "mlflow": 0.0}
            block = max(1, total // args.blocks)
            for _ in range(args.blocks):
                for system, op in (("gyre", g_op), ("mlflow", m_op)):
                    latencies, wall = await _drive(op, block, args.concurrency)
                    samples[system] += latencies
                    walls[system] += wall
            gyre = _summary(samples["gyre"], walls["gyre"])
            mlflow = _summary(samples["mlflow"], walls["mlflow"])
            results[name] = {
                "gyre": gyre,
                "mlflow": mlflow,
                "throughput_ratio": gyre["throughput_per_s"] / mlflow["throughput_per_s"],
                "p50_speedup": mlflow["p50_ms"] / gyre["p50_ms"],
                "p99_speedup": mlflow["p99_ms"] / gyre["p99_ms"],
            }
        return results
    finally:
        await g_client.close()
        await m_client.aclose()


# --- search scaling --------------------------------------------------------------------------


def _seed(sync_url: str, start: int, stop: int) -> None:
    """Bulk-insert versions ``start..stop-1`` (spread over SEARCH_MODELS models) into the
    registry's own tables, as if registered one by one."""
    from sqlalchemy import create_engine, insert, select, update

    from gyre.common.v1 import schema_pb2, value_pb2
    from gyre.models.v1 import model_version_pb2
    from gyre.services.model_registry.tables import (
        AliasRow,
        MetricRow,
        ModelRow,
        VersionLabelRow,
        VersionRow,
    )

    engine = create_engine(sync_url)
    spec = model_version_pb2.ModelVersion()
    spec.signature.inputs.add(name="x", data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 1])
    spec.signature.outputs.add(name="label", data_type=value_pb2.DATA_TYPE_INT64, shape=[-1])
    _ = schema_pb2
    blob = spec.SerializeToString()
    rng = random.Random(start)
    base = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    statuses = [1, 2, 3, 4]  # pending, validated, rejected, archived
    teams = ["risk", "growth", "ops", "search"]
    with engine.begin() as conn:
        existing = {m: pk for pk, m in conn.execute(select(ModelRow.id, ModelRow.model_id))}
        for i in range(SEARCH_MODELS):
            model_id = f"s-{i:03d}"
            if model_id not in existing:
                pk = conn.execute(
                    insert(ModelRow)
                    .values(
                        model_id=model_id,
                        display_name=model_id,
                        description="",
                        labels={},
                        owner="",
                        model_card="",
                        last_version=0,
                        version_count=0,
                        alias_sequence=0,
                        create_time=base,
                        update_time=base,
                        etag=uuid.uuid4().hex[:20],
                    )
                    .returning(ModelRow.id)
                ).scalar_one()
                existing[model_id] = pk
        last = dict(conn.execute(select(ModelRow.model_id, ModelRow.last_version)).all())
        chunk = 5000
        for lo in range(start, stop, chunk):
            hi = min(stop, lo + chunk)
            versions = []
            for n in range(lo, hi):
                model_id = f"s-{n % SEARCH_MODELS:03d}"
                last[model_id] += 1
                sha = hashlib.sha256(str(n).encode()).hexdigest()
                when = base + datetime.timedelta(seconds=n)
                versions.append(
                    {
                        "model_pk": existing[model_id],
                        "model_id": model_id,
                        "version": last[model_id],
                        "request_id": None,
                        "source_run": f"runs/r{n}",
                        "dataset_version": f"datasets/d/versions/{n // 1000 + 1}",
                        "dataset_digest": "",
                        "artifact_uri": f"s3://bench/a/{sha}.onnx",
                        "artifact_key": f"a/{sha}.onnx",
                        "sha256": sha,
                        "size_bytes": 1000,
                        "media_type": "application/onnx",
                        "model_format": 1,
                        "spec": blob,
                        "status": rng.choice(statuses),
                        "previous_status": 0,
                        "status_message": "",
                        "validation": "",
                        "description": "",
                        "labels": {},
                        "creator": "bench",
                        "create_time": when,
                        "update_time": when,
                        "etag": sha[:20],
                        "delete_time": None,
                    }
                )
            conn.execute(insert(VersionRow), versions)
            rows = conn.execute(
                select(VersionRow.id, VersionRow.source_run).where(
                    VersionRow.source_run.in_([v["source_run"] for v in versions])
                )
            ).all()
            labels, metrics = [], []
            for pk, run in rows:
                n = int(run.removeprefix("runs/r"))
                r = random.Random(n)
                labels.append({"version_pk": pk, "key": "team", "value": r.choice(teams)})
                labels.append(
                    {
                        "version_pk": pk,
                        "key": "stage",
                        "value": "prod" if r.random() < 0.2 else "dev",
                    }
                )
                if n % 1000 == 7:
                    labels.append({"version_pk": pk, "key": "canary", "value": "yes"})
                metrics.append({"version_pk": pk, "name": "auc", "value": r.random()})
                metrics.append({"version_pk": pk, "name": "accuracy", "value": r.random()})
            conn.execute(insert(VersionLabelRow), labels)
            conn.execute(insert(MetricRow), metrics)
        for model_id, number in last.items():
            conn.execute(
                update(ModelRow)
                .where(ModelRow.model_id == model_id)
                .values(last_version=number, version_count=number)
            )
        # One champion per model, on its newest version.
        conn.execute(AliasRow.__table__.delete())
        for model_id, number in last.items():
            pk = conn.execute(
                select(VersionRow.id).where(
                    VersionRow.model_id == model_id, VersionRow.version == number
                )
            ).scalar_one_or_none()
            if pk is not None:
                conn.execute(
                    insert(AliasRow).values(
                        model_pk=existing[model_id],
                        alias="champion",
                        version_pk=pk,
                        protected=True,
                        create_time=base,
                        update_time=base,
                        etag=uuid.uuid4().hex[:20],
                    )
                )
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()


SEARCH_QUERIES: Final = (
    ("status+label, newest first", {"filter": 'status = VALIDATED AND labels.team = "risk"'}),
    ("metric > x, newest first", {"filter": "metrics.auc > 0.9"}),
    (
        "metric > x, by metric desc",
        {"filter": "metrics.auc > 0.95", "order_by": "metrics.auc desc"},
    ),
    ("alias champion", {"filter": 'aliases:"champion"'}),
    ("rare label (0.1 %)", {"filter": 'labels.canary = "yes"'}),
    ("one model, status, by version", {"parent": "models/s-007", "filter": "status = VALIDATED"}),
    ("2nd page (keyset)", {"filter": 'labels.stage = "prod"', "second_page": True}),
)


async def search_latency(target: str, sync_url: str, args: argparse.Namespace) -> dict[str, Any]:
    from gyre.models.v1 import models_service_pb2
    from gyre.sdk import AsyncGyreClient

    results: dict[str, Any] = {}
    seeded = 0
    async with AsyncGyreClient(addresses={"model_registry": target}) as client:
        for size in SEARCH_SIZES:
            await asyncio.to_thread(_seed, sync_url, seeded, size)
            seeded = size
            for label, spec in SEARCH_QUERIES:
                rows = [0]

                async def call(
                    _i: int, spec: dict[str, Any] = spec, rows: list[int] = rows
                ) -> None:
                    if "parent" in spec:
                        listed = await client.models.ListModelVersions(
                            models_service_pb2.ListModelVersionsRequest(
                                parent=spec["parent"], filter=spec["filter"], page_size=50
                            )
                        )
                        rows[0] = len(listed.model_versions)
                        return
                    request = models_service_pb2.SearchModelVersionsRequest(
                        filter=spec["filter"], order_by=spec.get("order_by", ""), page_size=50
                    )
                    page = await client.models.SearchModelVersions(request)
                    rows[0] = len(page.model_versions)
                    if spec.get("second_page"):
                        request.page_token = page.next_page_token
                        page = await client.models.SearchModelVersions(request)
                        rows[0] = len(page.model_versions)

                await _drive(call, 5, 1)
                latencies, wall = await _drive(call, args.searches, 1)
                results.setdefault(label, {})[str(size)] = {
                    **_summary(latencies, wall),
                    "rows": rows[0],
                }
    for label in results:
        small, large = results[label][str(SEARCH_SIZES[0])], results[label][str(SEARCH_SIZES[-1])]
        results[label]["p50_ratio_100k_vs_1k"] = large["p50_ms"] / small["p50_ms"]
    return results


# --- main ----------------------------------------------------------------------------------


async def run_engine(
    infra: Infra, engine: str, mlflow: Path, args: argparse.Namespace
) -> dict[str, Any]:
    tag = f"{engine[:2]}{uuid.uuid4().hex[:6]}"
    gyre_url = infra.database(engine, f"gyre_{tag}", driver="gyre")
    mlflow_url = infra.database(engine, f"mlflow_{tag}", driver="mlflow")
    with (
        gyre_registry(infra, gyre_url, tag) as target,
        mlflow_server(infra, mlflow, mlflow_url, tag) as url,
    ):
        print(f"[{engine}] create/get: gyre vs mlflow ...", file=sys.stderr)
        versions = await compare(target, url, args)
    result: dict[str, Any] = {"versions": versions}
    if not args.skip_search:
        search_tag = f"{engine[:2]}s{uuid.uuid4().hex[:5]}"
        search_url = infra.database(engine, f"gyre_{search_tag}", driver="gyre")
        sync_url = search_url.replace("sqlite+aiosqlite", "sqlite")
        print(f"[{engine}] search at {SEARCH_SIZES} versions ...", file=sys.stderr)
        with gyre_registry(infra, search_url, search_tag) as target:
            result["search"] = await search_latency(target, sync_url, args)
    return result


def render(results: dict[str, Any]) -> str:
    lines = [
        f"model_registry_vs_mlflow  {results['date']}  {results['machine']['cpus']} cpus  "
        f"{results['machine']['mlflow']}  concurrency={results['config']['concurrency']}"
    ]
    for engine, data in results["engines"].items():
        lines.append(f"\n[{engine}]")
        lines.append(f"{'operation':<16}{'system':<8}{'p50 ms':>9}{'p99 ms':>9}{'ops/s':>9}")
        for op, row in data["versions"].items():
            for system in ("gyre", "mlflow"):
                s = row[system]
                lines.append(
                    f"{op:<16}{system:<8}{s['p50_ms']:>9.2f}{s['p99_ms']:>9.2f}{s['throughput_per_s']:>9.0f}"
                )
            lines.append(
                f"{'':<16}ratio   throughput {row['throughput_ratio']:.2f}x  "
                f"p50 {row['p50_speedup']:.2f}x faster  p99 {row['p99_speedup']:.2f}x faster"
            )
        if "search" in data:
            sizes = [str(s) for s in SEARCH_SIZES]
            lines.append(
                f"\n{'search (p50 ms, page of 50)':<34}"
                + "".join(f"{s:>9}" for s in sizes)
                + f"{'100k/1k':>9}"
            )
            for label, row in data["search"].items():
                lines.append(
                    f"{label:<34}"
                    + "".join(f"{row[s]['p50_ms']:>9.2f}" for s in sizes)
                    + f"{row['p50_ratio_100k_vs_1k']:>8.2f}x"
                    + "   rows "
                    + "/".join(str(row[s].get("rows", "?")) for s in sizes)
                )
    lines.append("\naims (informational):")
    for name, aim in results["aims"].items():
        verdict = "PASS" if aim["pass"] else "MISS"
        lines.append(f"  {name}: {aim['measured']:.2f} vs aim {aim['aim']} -> {verdict}")
    return "\n".join(lines)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--engines", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--creates", type=int, default=800, help="create-version calls per system")
    parser.add_argument("--gets", type=int, default=3000, help="get-version calls per system")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--blocks", type=int, default=4, help="interleaved blocks per system")
    parser.add_argument("--searches", type=int, default=100, help="calls per search query and size")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument(
        "--mlflow-venv", type=Path, default=Path(tempfile.gettempdir()) / "gyre-bench-mlflow-venv"
    )
    parser.add_argument(
        "--mlflow-workers", type=int, default=2, help="mlflow server workers (one per core)"
    )
    parser.add_argument("--max-seconds", type=int, default=1800)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    _WORKERS[0] = args.mlflow_workers
    from support.servers import NatsServer, PostgresServer, SeaweedS3

    signal.signal(signal.SIGTERM, _abort)
    signal.signal(signal.SIGALRM, _abort)
    signal.alarm(args.max_seconds)
    mlflow = ensure_mlflow(args.mlflow_venv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "postgresql" in engines and not PostgresServer.available():
        print("PostgreSQL is not installed: skipping it", file=sys.stderr)
        engines.remove("postgresql")
    try:
        with contextlib.ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gyre-bench-mr-")))
            nats = stack.enter_context(NatsServer.running(tmp))
            s3 = stack.enter_context(SeaweedS3.running(tmp))
            postgres = (
                stack.enter_context(PostgresServer.running()) if "postgresql" in engines else None
            )
            infra = Infra(tmp, nats.url, s3, postgres)
            per_engine: dict[str, Any] = {}
            for engine in engines:
                try:
                    per_engine[engine] = asyncio.run(run_engine(infra, engine, mlflow, args))
                except BenchmarkAborted:
                    raise
                except Exception as exc:  # report the other engine's numbers anyway
                    print(f"[{engine}] failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        signal.alarm(0)
    aims: dict[str, Any] = {}
    for engine, data in per_engine.items():
        for op in ("create_version", "get_version"):
            measured = data["versions"][op]["throughput_ratio"]
            aims[f"{engine} {op} throughput vs mlflow"] = {
                "aim": AIM_SPEEDUP,
                "measured": measured,
                "pass": measured >= AIM_SPEEDUP,
            }
        if "search" in data:
            # Flatness is judged on queries that return the same number of rows at 1k and
            # 100k (a page of 1 row costs less to encode than a page of 50).
            worst = max(
                row["p50_ratio_100k_vs_1k"]
                for row in data["search"].values()
                if row[str(SEARCH_SIZES[0])]["rows"] == row[str(SEARCH_SIZES[-1])]["rows"]
            )
            aims[f"{engine} search p50 100k/1k (worst full-page query)"] = {
                "aim": AIM_SEARCH_FLATNESS,
                "measured": worst,
                "pass": worst <= AIM_SEARCH_FLATNESS,
            }
    results = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "mlflow": _mlflow_version(mlflow),
        },
        "config": {k: v for k, v in vars(args).items() if k not in {"mlflow_venv", "json"}},
        "engines": per_engine,
        "aims": aims,
    }
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
