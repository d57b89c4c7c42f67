"""The inference gateway's domain logic: deployments on Triton, predictions, rollouts.

Control plane (create, rollout, promote, rollback, update, delete) runs under one lock
per deployment: it loads models into Triton first (download, sha256 check, repository
write, load, wait until ready), then writes the new routes, a history entry and the
event in one database transaction (outbox), then swaps the in-memory route table the
predict path reads. Unrouted versions are unloaded last, except the previous champion,
kept loaded so that a rollback is instant.

Data plane (:meth:`Gateway.predict`) never touches the database: one dict lookup, a
route draw, a signature-checked conversion to numpy, one Triton call over a persistent
channel, a response; shadow copies and prediction logging are handed to background
tasks.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import hashlib
import logging
import os
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
from google.protobuf.message import Message
from numpy.typing import NDArray
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.common.v1 import value_pb2
from gyre.events.v1 import inference_events_pb2
from gyre.inference.v1 import deployment_pb2, inference_service_pb2, prediction_pb2
from gyre.models.v1 import model_version_pb2
from gyre.runtime.db import Database, after_commit, utcnow
from gyre.runtime.errors import (
    Aborted,
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    GyreError,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from gyre.runtime.events import Outbox
from gyre.services.inference import _metrics
from gyre.services.inference._batcher import Batcher
from gyre.services.inference._orm import DeploymentRecord, HistoryRecord, ModelVersionRecord
from gyre.services.inference._prediction_log import LogEntry, PredictionLogger
from gyre.services.inference._registry import ModelSource
from gyre.services.inference._rollout import (
    DEFAULT_CANARY_WEIGHT,
    DEFAULT_JUDGE_INTERVAL_S,
    DEFAULT_MIN_REQUESTS,
    LIVE_METRICS,
    RouteStats,
    judge,
)
from gyre.services.inference._routing import DeploymentRuntime, RouteRuntime
from gyre.services.inference._settings import GatewaySettings
from gyre.services.inference._tensors import (
    CompiledSignature,
    array_to_tensor,
    value_of,
)
from gyre.services.inference._triton import (
    ModelRepository,
    OnnxBackend,
    TritonClient,
    triton_model_name,
)
from gyre.validation.v1 import validation_pb2

__all__ = ["Gateway"]

_log = logging.getLogger(__name__)

CHAMPION: Final = deployment_pb2.ROUTE_ROLE_CHAMPION
CANARY: Final = deployment_pb2.ROUTE_ROLE_CANARY
SHADOW: Final = deployment_pb2.ROUTE_ROLE_SHADOW
_ID: Final = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_MODEL: Final = re.compile(r"^models/[^/]+$")
_VERSION: Final = re.compile(r"^models/([^/]+)/versions/([^/]+)$")
_ACTOR_GATEWAY: Final = "gateway"
_UPDATABLE: Final = frozenset(
    {"display_name", "description", "labels", "rollout_policy", "prediction_log_sample_rate"}
)
MAX_FEEDBACK_BATCH: Final = 10_000
_FEEDBACK_PER_EVENT: Final = 2_000
_PROBE_MODEL: Final = "_gyre_onnxruntime_probe"
_DEFAULT_PAGE: Final = 50
_DEFAULT_HISTORY_PAGE: Final = 100
_MAX_PAGE: Final = 1000


def _deployment_id(name: str) -> str:
    if not name.startswith("deployments/") or not _ID.match(name.removeprefix("deployments/")):
        raise InvalidArgument(
            "a deployment name is 'deployments/{id}' with id [a-z][a-z0-9-]{0,62}, "
            f"got {name!r}",
            reason="INVALID_NAME",
            field_violations=[FieldViolation("name", "malformed deployment name")],
        )
    return name.removeprefix("deployments/")


def _model_of(version: str) -> str:
    match = _VERSION.match(version)
    if not match:
        raise InvalidArgument(
            f"a model version is 'models/{{model}}/versions/{{version}}', got {version!r}",
            reason="INVALID_MODEL_VERSION",
            field_violations=[FieldViolation("model_version", "malformed model version name")],
        )
    return f"models/{match.group(1)}"


def _etag() -> str:
    return uuid.uuid4().hex


def _encode_token(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode()


def _decode_token(token: str) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument("malformed page_token", reason="INVALID_PAGE_TOKEN") from exc


def _filter_terms(text: str) -> dict[str, str]:
    """``a = "x" AND b = Y`` as ``{"a": "x", "b": "Y"}`` (the subset of AIP-160 served)."""
    terms: dict[str, str] = {}
    if not text.strip():
        return terms
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = re.fullmatch(r'\s*([a-z_.]+)\s*=\s*(?:"([^"]*)"|([A-Za-z0-9_/.-]+))\s*', part)
        if not match:
            raise InvalidArgument(
                f'unsupported filter term {part!r}; use field = "value" joined by AND',
                reason="INVALID_FILTER",
            )
        terms[match.group(1)] = match.group(2) if match.group(2) is not None else match.group(3)
    return terms


class Gateway:
    """Deployments, routes and predictions (see the module docstring).

    Args:
        db: the gateway's database.
        outbox: where events are written (same transaction as the change).
        triton: client of the Triton server.
        repository: Triton's model repository (a local directory).
        source: model versions and artifacts (the model registry).
        logger: the prediction logger.
        settings: gateway settings.
        service_name: the service's gRPC name for health statuses.
    """

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        triton: TritonClient,
        repository: ModelRepository,
        source: ModelSource,
        logger: PredictionLogger,
        settings: GatewaySettings,
        artifacts_dir: Path,
    ) -> None:
        self._db = db
        self._outbox = outbox
        self._triton = triton
        self._repository = repository
        self._source = source
        self._logger = logger
        self._settings = settings
        self._artifacts_dir = artifacts_dir
        self._runtime: dict[str, DeploymentRuntime] = {}
        self._installed_at: dict[str, float] = {}
        self._batchers: dict[str, Batcher] = {}
        self._versions: dict[str, model_version_pb2.ModelVersion] = {}
        self._signatures: dict[str, CompiledSignature] = {}
        self._stats: dict[tuple[str, str], RouteStats] = {}
        self._locks: dict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self._backend: OnnxBackend | None = (
            None if settings.onnx_backend == "auto" else settings.onnx_backend
        )
        self._backend_lock = asyncio.Lock()
        self._triton_up = True
        self._reload_requested = True
        self._tasks: set[asyncio.Task[Any]] = set()
        self._shadow_in_flight = 0
        self._recent: collections.OrderedDict[str, tuple[RouteStats, list[Any]]] = (
            collections.OrderedDict()
        )
        self._health_hooks: list[Callable[[bool], Awaitable[None]]] = []
        self._loops: list[asyncio.Task[None]] = []

    # ================================================================ lifecycle
    async def start(self) -> None:
        """Load the route tables from the database and start the background loops."""
        await self.refresh()
        self._loops = [
            asyncio.create_task(self._health_loop(), name="gyre-inference-health"),
            asyncio.create_task(self._judge_loop(), name="gyre-inference-judge"),
            asyncio.create_task(self._refresh_loop(), name="gyre-inference-refresh"),
        ]

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        for task in [*self._loops, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loops = []

    def on_health_change(self, hook: Callable[[bool], Awaitable[None]]) -> None:
        """Call ``hook(serving)`` when Triton becomes (un)reachable."""
        self._health_hooks.append(hook)

    @property
    def triton_up(self) -> bool:
        return self._triton_up

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ================================================================ caches
    async def refresh(self) -> None:
        """Rebuild every route table from the database (start-up, other replicas).

        A table this process installed after the read began (a control-plane call that
        committed meanwhile) is newer than what was read and is kept.
        """
        started = time.monotonic()
        async with self._db.transaction() as session:
            records = (await session.execute(select(DeploymentRecord))).scalars().all()
            names: set[str] = set()
            for record in records:
                stored = deployment_pb2.Deployment.FromString(record.message)
                names.update(route.model_version for route in stored.routes)
                if stored.previous_champion:
                    names.add(stored.previous_champion)
            missing = [n for n in names if n not in self._versions]
            if missing:
                rows = (
                    (
                        await session.execute(
                            select(ModelVersionRecord).where(ModelVersionRecord.name.in_(missing))
                        )
                    )
                    .scalars()
                    .all()
                )
                for row in rows:
                    self._versions[row.name] = model_version_pb2.ModelVersion.FromString(
                        row.message
                    )
        seen = set()
        for record in records:
            message = deployment_pb2.Deployment.FromString(record.message)
            seen.add(message.name)
            current = self._runtime.get(message.name)
            if current is not None and current.message.etag == message.etag:
                continue
            if self._installed_at.get(message.name, -1.0) >= started:
                continue
            self._install(message)
        for name in list(self._runtime):
            if name not in seen and self._installed_at.get(name, -1.0) < started:
                del self._runtime[name]

    def _signature(self, version: str) -> CompiledSignature:
        compiled = self._signatures.get(version)
        if compiled is None:
            model_version = self._versions.get(version)
            if model_version is None:
                raise FailedPrecondition(
                    f"the gateway does not know {version}", reason="UNKNOWN_VERSION"
                )
            compiled = CompiledSignature(model_version.signature)
            self._signatures[version] = compiled
        return compiled

    def _route_stats(self, deployment: str, version: str) -> RouteStats:
        key = (deployment, version)
        stats = self._stats.get(key)
        if stats is None:
            stats = RouteStats()
            self._stats[key] = stats
        return stats

    def _install(self, message: deployment_pb2.Deployment) -> None:
        """Swap in the route table of ``message``."""
        live: list[RouteRuntime] = []
        shadows: list[RouteRuntime] = []
        for route in message.routes:
            if route.model_version not in self._versions:
                _log.warning(
                    "route %s of %s has no cached version", route.model_version, message.name
                )
                continue
            route_runtime = RouteRuntime(
                deployment=message.name,
                model_version=route.model_version,
                role=route.role,
                weight=route.weight,
                triton_model=route.triton_model,
                signature=self._signature(route.model_version),
                stats=self._route_stats(message.name, route.model_version),
            )
            (shadows if route.role == SHADOW else live).append(route_runtime)
        previous = self._runtime.get(message.name)
        rollout_started: float | None = None
        if message.HasField("rollout") and message.rollout.HasField("start_time"):
            rollout_started = message.rollout.start_time.ToNanoseconds() / 1e9
        runtime = DeploymentRuntime(
            name=message.name,
            message=message,
            live=tuple(live),
            shadows=tuple(shadows),
            sample_rate=message.prediction_log_sample_rate,
            track_feedback=bool(message.rollout_policy.live_metric),
            rollout_started_s=rollout_started,
        )
        if previous is not None and previous.rollout_started_s == rollout_started:
            runtime.last_judge_s = previous.last_judge_s
            runtime.rollout_status = previous.rollout_status
        self._runtime[message.name] = runtime
        self._installed_at[message.name] = time.monotonic()

    # ================================================================ Triton
    async def _onnx_backend(self) -> OnnxBackend:
        """The backend ONNX models get: configured, or probed once on the server."""
        if self._backend is not None:
            return self._backend
        async with self._backend_lock:
            if self._backend is None:
                self._backend = await self._probe_backend()
                _log.info("serving ONNX models with Triton's %s backend", self._backend)
        return self._backend

    async def _probe_backend(self) -> OnnxBackend:
        import onnx
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])],
            "probe",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        staging = self._artifacts_dir / "probe.onnx"
        staging.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(staging))
        signature = model_version_pb2.ModelVersion().signature
        signature.inputs.add(name="x", data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 1])
        signature.outputs.add(name="y", data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 1])
        sha256 = hashlib.sha256(staging.read_bytes()).hexdigest()
        await asyncio.to_thread(
            self._repository.write,
            _PROBE_MODEL,
            staging,
            signature,
            backend="onnxruntime",
            sha256=sha256,
        )
        backend: OnnxBackend = "onnxruntime"
        try:
            await self._triton.load(_PROBE_MODEL)
        except Unavailable:
            await asyncio.to_thread(self._repository.remove, _PROBE_MODEL)
            raise
        except GyreError as exc:
            _log.info("Triton has no onnxruntime backend (%s); using the python backend", exc)
            backend = "python"
            # A model that failed to load stays UNAVAILABLE in Triton (even unloaded and
            # deleted), and strict readiness then keeps /v2/health/ready at 400 for good.
            # Loading the same name successfully (a Python-backend model) and unloading it
            # turns its state into a clean "unloaded", which readiness accepts.
            await self._clear_failed_probe(staging, signature, sha256)
        else:
            with contextlib.suppress(GyreError):
                await self._triton.unload(_PROBE_MODEL)
        await asyncio.to_thread(self._repository.remove, _PROBE_MODEL)
        staging.unlink(missing_ok=True)
        return backend

    async def _clear_failed_probe(self, staging: Path, signature: Any, sha256: str) -> None:
        """Replace the failed probe by a loadable model, load and unload it."""
        await asyncio.to_thread(
            self._repository.write,
            _PROBE_MODEL,
            staging,
            signature,
            backend="python",
            sha256=sha256,
        )
        try:
            await self._triton.load(_PROBE_MODEL)
        except GyreError as exc:
            _log.error(
                "could not clear the failed ONNX backend probe %s from Triton (%s): Triton's "
                "strict readiness may report not-ready until it restarts; set "
                "GYRE_GATEWAY__ONNX_BACKEND=python (or onnxruntime) to skip the probe",
                _PROBE_MODEL,
                exc,
            )
            return
        with contextlib.suppress(GyreError):
            await self._triton.unload(_PROBE_MODEL)
        if not await self._wait_server_ready():
            _log.warning("Triton is not ready after the ONNX backend probe was unloaded")

    async def _wait_server_ready(self, timeout_s: float = 10.0) -> bool:
        """Wait until Triton reports itself ready (unloads finish asynchronously)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await self._triton.server_ready():
                return True
            await asyncio.sleep(0.1)
        return False

    async def _ensure_loaded(
        self, deployment_id: str, version: model_version_pb2.ModelVersion
    ) -> str:
        """Write ``version`` into the repository (if needed) and load it; its Triton name."""
        name = triton_model_name(deployment_id, version.name)
        backend = await self._onnx_backend()
        if not await asyncio.to_thread(self._repository.has, name):
            staging = self._artifacts_dir / f"{name}.{uuid.uuid4().hex}.onnx"
            try:
                await self._source.download(version, staging)
                await asyncio.to_thread(
                    self._repository.write,
                    name,
                    staging,
                    version.signature,
                    backend=backend,
                    sha256=version.artifact.sha256,
                    max_batch_size=self._settings.max_batch_size,
                )
            finally:
                staging.unlink(missing_ok=True)
        await self._triton.load(name)
        return name

    async def _unload(self, names: Sequence[str]) -> None:
        for name in names:
            if not name:
                continue
            try:
                await self._triton.unload(name)
            except GyreError as exc:
                _log.warning("could not unload %s: %s", name, exc)
            await asyncio.to_thread(self._repository.remove, name)

    async def _reload_all(self) -> None:
        """Load every routed (and previous-champion) model: after Triton (re)starts."""
        for runtime in list(self._runtime.values()):
            message = runtime.message
            wanted = [r.model_version for r in message.routes]
            if message.previous_champion:
                wanted.append(message.previous_champion)
            for version_name in wanted:
                version = self._versions.get(version_name)
                if version is None:
                    try:
                        version = await self._source.get_version(version_name)
                    except GyreError as exc:
                        _log.warning("cannot reload %s: %s", version_name, exc)
                        continue
                    self._versions[version_name] = version
                try:
                    await self._ensure_loaded(message.name.removeprefix("deployments/"), version)
                except Unavailable:
                    raise
                except GyreError as exc:
                    _log.error("cannot reload %s for %s: %s", version_name, message.name, exc)

    # ================================================================ background loops
    async def _health_loop(self) -> None:
        interval = self._settings.health_interval_s
        failures = 0
        while True:
            live = await self._triton.live(timeout_s=max(0.2, min(interval, 1.0)))
            if live:
                failures = 0
                if self._reload_requested:
                    try:
                        await self._reload_all()
                        self._reload_requested = False
                    except Unavailable:
                        live = False
                    except Exception:
                        _log.exception("reloading models failed")
                if live and not self._triton_up:
                    self._triton_up = True
                    _log.info("Triton is reachable again at %s", self._triton.url)
                    await self._notify_health(True)
            else:
                failures += 1
                if self._triton_up and failures >= 1:
                    self._triton_up = False
                    self._reload_requested = True
                    _log.warning("Triton is unreachable at %s", self._triton.url)
                    await self._notify_health(False)
            await asyncio.sleep(interval)

    async def _notify_health(self, serving: bool) -> None:
        for hook in self._health_hooks:
            try:
                await hook(serving)
            except Exception:
                _log.exception("health hook failed")

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.refresh_interval_s)
            try:
                await self.refresh()
            except Exception:
                _log.exception("refreshing deployments failed")

    async def _judge_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.judge_tick_s)
            for runtime in list(self._runtime.values()):
                try:
                    await self._judge(runtime)
                except Exception:
                    _log.exception("judging %s failed", runtime.name)

    async def _judge(self, runtime: DeploymentRuntime) -> None:
        canary = runtime.canary
        champion = runtime.champion
        if canary is None or champion is None or runtime.rollout_started_s is None:
            return
        policy = runtime.message.rollout_policy
        interval = policy.judge_interval.ToTimedelta().total_seconds() or DEFAULT_JUDGE_INTERVAL_S
        now = time.time()
        if now - runtime.last_judge_s < interval and not _judgement_due_early(
            policy, runtime.rollout_status, canary.stats
        ):
            return
        runtime.last_judge_s = now
        verdict = judge(
            policy,
            canary.model_version,
            canary.stats,
            champion.stats,
            started_s=runtime.rollout_started_s,
            now_s=now,
        )
        runtime.rollout_status = verdict.status
        if verdict.decision == "rollback":
            await self.rollback(
                runtime.name,
                reason=verdict.message,
                actor=_ACTOR_GATEWAY,
                automatic=True,
                expected_canary=canary.model_version,
            )
        elif verdict.decision == "promote":
            await self.promote(
                runtime.name,
                reason=verdict.message,
                actor=_ACTOR_GATEWAY,
                automatic=True,
                expected_canary=canary.model_version,
            )

    # ================================================================ store helpers
    async def _load(
        self, session: AsyncSession, name: str
    ) -> tuple[DeploymentRecord, deployment_pb2.Deployment]:
        record = await session.get(DeploymentRecord, name)
        if record is None:
            raise NotFound(
                f"{name} does not exist", reason="DEPLOYMENT_NOT_FOUND", metadata={"name": name}
            )
        return record, deployment_pb2.Deployment.FromString(record.message)

    async def _save(
        self,
        session: AsyncSession,
        record: DeploymentRecord,
        message: deployment_pb2.Deployment,
    ) -> None:
        now = utcnow()
        message.etag = _etag()
        message.update_time.FromDatetime(now)
        record.etag = message.etag
        record.state = message.state
        record.update_time = now
        record.message = message.SerializeToString()
        await session.flush()

    async def _history(
        self,
        session: AsyncSession,
        name: str,
        action: int,
        before: Sequence[deployment_pb2.Route],
        after: Sequence[deployment_pb2.Route],
        *,
        reason: str,
        actor: str,
        automatic: bool,
        event: Message | None,
    ) -> None:
        entry = deployment_pb2.DeploymentHistoryEntry(
            action=action,  # type: ignore[arg-type]
            from_routes=list(before),
            to_routes=list(after),
            reason=reason,
            actor=actor,
            automatic=automatic,
            event_id=str(getattr(event, "id", "")) if event is not None else "",
        )
        now = utcnow()
        entry.time.FromDatetime(now)
        session.add(
            HistoryRecord(
                deployment=name, action=action, time=now, message=entry.SerializeToString()
            )
        )

    async def _cache_version(
        self, session: AsyncSession, version: model_version_pb2.ModelVersion
    ) -> None:
        existing = await session.get(ModelVersionRecord, version.name)
        data = version.SerializeToString()
        if existing is None:
            session.add(ModelVersionRecord(name=version.name, message=data, fetch_time=utcnow()))
        else:
            existing.message = data
            existing.fetch_time = utcnow()
        self._versions[version.name] = version
        self._signatures.pop(version.name, None)

    async def _emit(
        self,
        session: AsyncSession,
        type_: str,
        subject: str,
        payload: Message,
        caused_by: Message | None = None,
    ) -> Message:
        return await self._outbox.emit(
            session,
            type=type_,
            subject_resource=subject,
            payload_message=payload,
            caused_by=caused_by,
        )

    async def _checked_version(
        self,
        registered_model: str,
        version_name: str,
        *,
        allow_unvalidated: bool,
    ) -> model_version_pb2.ModelVersion:
        if _model_of(version_name) != registered_model:
            raise FailedPrecondition(
                f"{version_name} is not a version of {registered_model}",
                reason="VERSION_OF_ANOTHER_MODEL",
            )
        version = await self._source.get_version(version_name)
        if not version.name:
            version.name = version_name
        if (
            not allow_unvalidated
            and version.status != model_version_pb2.MODEL_VERSION_STATUS_VALIDATED
        ):
            status = model_version_pb2.ModelVersionStatus.Name(version.status)
            raise FailedPrecondition(
                f"{version_name} is {status.removeprefix('MODEL_VERSION_STATUS_')}, not VALIDATED "
                "(set allow_unvalidated to deploy it anyway)",
                reason="VERSION_NOT_VALIDATED",
                metadata={"model_version": version_name, "status": status},
            )
        if version.model_format not in (
            model_version_pb2.MODEL_FORMAT_ONNX,
            model_version_pb2.MODEL_FORMAT_UNSPECIFIED,
        ):
            raise FailedPrecondition(
                f"{version_name} is not an ONNX model", reason="UNSUPPORTED_FORMAT"
            )
        return version

    def _view(self, message: deployment_pb2.Deployment) -> deployment_pb2.Deployment:
        """``message`` with live facts: readiness, rollout statistics, Triton outages."""
        view = deployment_pb2.Deployment()
        view.CopyFrom(message)
        runtime = self._runtime.get(message.name)
        if runtime is not None and runtime.rollout_status is not None and view.HasField("rollout"):
            view.rollout.CopyFrom(runtime.rollout_status)
        for route in view.routes:
            route.ready = self._triton_up and bool(route.triton_model)
        if not self._triton_up and view.state in (
            deployment_pb2.DEPLOYMENT_STATE_SERVING,
            deployment_pb2.DEPLOYMENT_STATE_ROLLING_OUT,
        ):
            view.state = deployment_pb2.DEPLOYMENT_STATE_DEGRADED
            view.state_message = f"Triton is unreachable at {self._triton.url}"
        return view

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks[name]

    @staticmethod
    def _check_etag(message: deployment_pb2.Deployment, etag: str) -> None:
        if etag and etag != message.etag:
            raise Aborted(
                f"{message.name} changed since it was read (etag {etag} is stale)",
                reason="ETAG_MISMATCH",
                metadata={"name": message.name},
            )

    @staticmethod
    def _check_policy(policy: deployment_pb2.RolloutPolicy, sample_rate: float) -> None:
        violations = []
        if not 0 <= policy.canary_weight <= 99:
            violations.append(FieldViolation("rollout_policy.canary_weight", "must be 0-99"))
        if policy.min_requests < 0:
            violations.append(FieldViolation("rollout_policy.min_requests", "must be >= 0"))
        if not 0.0 <= policy.max_error_rate <= 1.0:
            violations.append(FieldViolation("rollout_policy.max_error_rate", "must be 0-1"))
        if policy.max_p99_latency_ms < 0:
            violations.append(FieldViolation("rollout_policy.max_p99_latency_ms", "must be >= 0"))
        if policy.live_metric and policy.live_metric not in LIVE_METRICS:
            violations.append(
                FieldViolation(
                    "rollout_policy.live_metric",
                    f"must be one of {', '.join(sorted(LIVE_METRICS))} or empty",
                )
            )
        if policy.max_live_metric_drop < 0:
            violations.append(FieldViolation("rollout_policy.max_live_metric_drop", "must be >= 0"))
        if policy.judge_interval.seconds < 0 or policy.max_duration.seconds < 0:
            violations.append(FieldViolation("rollout_policy", "durations must be >= 0"))
        if not 0.0 <= sample_rate <= 1.0:
            violations.append(FieldViolation("prediction_log_sample_rate", "must be 0-1"))
        if violations:
            raise InvalidArgument(
                "; ".join(f"{v.field} {v.description}" for v in violations),
                reason="INVALID_DEPLOYMENT",
                field_violations=violations,
            )

    # ================================================================ control plane
    async def create(
        self,
        deployment_id: str,
        deployment: deployment_pb2.Deployment,
        *,
        allow_unvalidated: bool = False,
        actor: str = "",
    ) -> deployment_pb2.Deployment:
        """Create a deployment (see ``InferenceService.CreateDeployment``)."""
        if not _ID.match(deployment_id):
            raise InvalidArgument(
                f"deployment_id must match [a-z][a-z0-9-]{{0,62}}, got {deployment_id!r}",
                reason="INVALID_DEPLOYMENT_ID",
                field_violations=[FieldViolation("deployment_id", "malformed id")],
            )
        if not _MODEL.match(deployment.registered_model):
            raise InvalidArgument(
                f"deployment.registered_model must be 'models/{{model}}', got "
                f"{deployment.registered_model!r}",
                reason="INVALID_DEPLOYMENT",
                field_violations=[FieldViolation("deployment.registered_model", "required")],
            )
        self._check_policy(deployment.rollout_policy, deployment.prediction_log_sample_rate)
        routes = list(deployment.routes)
        if len(routes) > 1 or any(r.role not in (CHAMPION,) for r in routes):
            raise InvalidArgument(
                "a deployment is created with a single CHAMPION route (or none, to wait for "
                "the first validated version)",
                reason="INVALID_ROUTES",
                field_violations=[FieldViolation("deployment.routes", "one CHAMPION route")],
            )
        if routes and routes[0].weight not in (0, 100):
            raise InvalidArgument(
                "the CHAMPION route of a new deployment takes weight 100",
                reason="INVALID_ROUTES",
                field_violations=[FieldViolation("deployment.routes[0].weight", "must be 100")],
            )
        if not routes and not deployment.rollout_policy.auto_rollout_on_validation:
            raise InvalidArgument(
                "a deployment without routes needs rollout_policy.auto_rollout_on_validation "
                "(it waits for the model's first validated version)",
                reason="INVALID_ROUTES",
                field_violations=[FieldViolation("deployment.routes", "required")],
            )
        name = f"deployments/{deployment_id}"
        async with self._lock(name):
            async with self._db.transaction() as session:
                if await session.get(DeploymentRecord, name) is not None:
                    raise AlreadyExists(f"{name} already exists", reason="DEPLOYMENT_EXISTS")
            version: model_version_pb2.ModelVersion | None = None
            message = deployment_pb2.Deployment()
            message.CopyFrom(deployment)
            message.name = name
            message.ClearField("routes")
            message.ClearField("rollout")
            message.previous_champion = ""
            message.state_message = ""
            if routes:
                version = await self._checked_version(
                    deployment.registered_model,
                    routes[0].model_version,
                    allow_unvalidated=allow_unvalidated,
                )
                triton_model = await self._ensure_loaded(deployment_id, version)
                message.routes.add(
                    model_version=version.name, weight=100, role=CHAMPION, triton_model=triton_model
                )
                message.state = deployment_pb2.DEPLOYMENT_STATE_SERVING
            else:
                message.state = deployment_pb2.DEPLOYMENT_STATE_AWAITING_VERSION
                message.state_message = (
                    "waiting for the first version of "
                    f"{deployment.registered_model} to pass validation"
                )
            now = utcnow()
            message.create_time.FromDatetime(now)
            message.update_time.FromDatetime(now)
            message.etag = _etag()
            async with self._db.transaction() as session:
                session.add(
                    DeploymentRecord(
                        name=name,
                        registered_model=message.registered_model,
                        state=message.state,
                        etag=message.etag,
                        message=message.SerializeToString(),
                        create_time=now,
                        update_time=now,
                    )
                )
                await session.flush()
                created = await self._emit(
                    session,
                    "inference.deployment.created",
                    name,
                    inference_events_pb2.InferenceDeploymentCreated(deployment=message),
                )
                await self._history(
                    session,
                    name,
                    deployment_pb2.DEPLOYMENT_ACTION_CREATED,
                    [],
                    message.routes,
                    reason="created",
                    actor=actor,
                    automatic=False,
                    event=created,
                )
                if version is not None:
                    await self._cache_version(session, version)
                    promoted = await self._emit(
                        session,
                        "inference.deployment.promoted",
                        name,
                        inference_events_pb2.InferenceDeploymentPromoted(
                            deployment=name,
                            registered_model=message.registered_model,
                            model_version=version.name,
                            reason="first champion of a new deployment",
                        ),
                    )
                    await self._history(
                        session,
                        name,
                        deployment_pb2.DEPLOYMENT_ACTION_PROMOTED,
                        [],
                        message.routes,
                        reason="first champion of a new deployment",
                        actor=actor,
                        automatic=False,
                        event=promoted,
                    )
            self._install(message)
            return self._view(message)

    async def get(self, name: str) -> deployment_pb2.Deployment:
        _deployment_id(name)
        async with self._db.transaction() as session:
            _, message = await self._load(session, name)
        return self._view(message)

    async def list_deployments(
        self, *, page_size: int, page_token: str, filter_text: str, order_by: str
    ) -> tuple[list[deployment_pb2.Deployment], str, int]:
        if page_size < 0:
            raise InvalidArgument("page_size must be >= 0", reason="INVALID_PAGE_SIZE")
        size = min(page_size or _DEFAULT_PAGE, _MAX_PAGE)
        offset = _decode_token(page_token)
        terms = _filter_terms(filter_text)
        statement = select(DeploymentRecord)
        for key, value in terms.items():
            if key == "registered_model":
                statement = statement.where(DeploymentRecord.registered_model == value)
            elif key == "state":
                try:
                    state = deployment_pb2.DeploymentState.Value(
                        value
                        if value.startswith("DEPLOYMENT_STATE_")
                        else f"DEPLOYMENT_STATE_{value}"
                    )
                except ValueError as exc:
                    raise InvalidArgument(
                        f"unknown state {value!r}", reason="INVALID_FILTER"
                    ) from exc
                statement = statement.where(DeploymentRecord.state == state)
            elif key == "name":
                statement = statement.where(DeploymentRecord.name == value)
            else:
                raise InvalidArgument(
                    f"cannot filter on {key!r} (registered_model, state, name)",
                    reason="INVALID_FILTER",
                )
        order = (order_by or "name").strip()
        columns = {
            "name": DeploymentRecord.name,
            "create_time": DeploymentRecord.create_time,
            "update_time": DeploymentRecord.update_time,
        }
        parts = order.split()
        if (
            not parts
            or parts[0] not in columns
            or len(parts) > 2
            or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc"))
        ):
            raise InvalidArgument(
                f"order_by must be name, create_time or update_time [desc], got {order_by!r}",
                reason="INVALID_ORDER_BY",
            )
        column = columns[parts[0]]
        ordered = column.desc() if len(parts) == 2 and parts[1].lower() == "desc" else column.asc()
        async with self._db.transaction() as session:
            total = (
                await session.execute(select(func.count()).select_from(statement.subquery()))
            ).scalar_one()
            rows = (
                (
                    await session.execute(
                        statement.order_by(ordered, DeploymentRecord.name)
                        .offset(offset)
                        .limit(size + 1)
                    )
                )
                .scalars()
                .all()
            )
        more = len(rows) > size
        items = [self._view(deployment_pb2.Deployment.FromString(r.message)) for r in rows[:size]]
        return items, _encode_token(offset + size) if more else "", int(total)

    async def update(
        self, deployment: deployment_pb2.Deployment, paths: Sequence[str], *, actor: str = ""
    ) -> deployment_pb2.Deployment:
        name = deployment.name
        _deployment_id(name)
        if not paths:
            raise InvalidArgument("update_mask is empty", reason="EMPTY_UPDATE_MASK")
        for path in paths:
            if path.split(".")[0] not in _UPDATABLE:
                raise InvalidArgument(
                    f"cannot update {path!r}: updatable fields are {', '.join(sorted(_UPDATABLE))} "
                    "(routes change through Rollout, Promote and Rollback)",
                    reason="FIELD_NOT_UPDATABLE",
                    field_violations=[FieldViolation("update_mask", f"{path} is not updatable")],
                )
        async with self._lock(name):
            async with self._db.transaction() as session:
                record, message = await self._load(session, name)
                self._check_etag(message, deployment.etag)
                for path in paths:
                    head, _, rest = path.partition(".")
                    if head == "labels" and not rest:
                        message.labels.clear()
                        message.labels.update(deployment.labels)
                    elif head == "labels":
                        if rest in deployment.labels:
                            message.labels[rest] = deployment.labels[rest]
                        else:
                            message.labels.pop(rest, None)
                    elif head == "rollout_policy" and rest:
                        field = message.rollout_policy.DESCRIPTOR.fields_by_name.get(rest)
                        if field is None:
                            raise InvalidArgument(
                                f"unknown field {path!r}", reason="FIELD_NOT_UPDATABLE"
                            )
                        if field.message_type is not None:
                            getattr(message.rollout_policy, rest).CopyFrom(
                                getattr(deployment.rollout_policy, rest)
                            )
                        else:
                            setattr(
                                message.rollout_policy,
                                rest,
                                getattr(deployment.rollout_policy, rest),
                            )
                    elif head == "rollout_policy":
                        message.rollout_policy.CopyFrom(deployment.rollout_policy)
                    else:
                        setattr(message, head, getattr(deployment, head))
                self._check_policy(message.rollout_policy, message.prediction_log_sample_rate)
                await self._save(session, record, message)
                event = await self._emit(
                    session,
                    "inference.deployment.updated",
                    name,
                    inference_events_pb2.InferenceDeploymentUpdated(
                        deployment=message, updated_fields=list(paths)
                    ),
                )
                await self._history(
                    session,
                    name,
                    deployment_pb2.DEPLOYMENT_ACTION_UPDATED,
                    message.routes,
                    message.routes,
                    reason=f"updated {', '.join(paths)}",
                    actor=actor,
                    automatic=False,
                    event=event,
                )
            self._install(message)
            return self._view(message)

    async def delete(self, name: str, *, etag: str = "", actor: str = "") -> None:
        _deployment_id(name)
        async with self._lock(name):
            async with self._db.transaction() as session:
                record, message = await self._load(session, name)
                self._check_etag(message, etag)
                await session.delete(record)
                await session.execute(delete(HistoryRecord).where(HistoryRecord.deployment == name))
                await self._emit(
                    session,
                    "inference.deployment.deleted",
                    name,
                    inference_events_pb2.InferenceDeploymentDeleted(
                        deployment=name, registered_model=message.registered_model
                    ),
                )
            self._runtime.pop(name, None)
            self._installed_at[name] = time.monotonic()
            for key in [k for k in self._stats if k[0] == name]:
                del self._stats[key]
            models = [r.triton_model for r in message.routes]
            if message.previous_champion:
                models.append(
                    triton_model_name(name.removeprefix("deployments/"), message.previous_champion)
                )
            await self._unload(models)

    async def history(
        self, name: str, *, page_size: int, page_token: str, filter_text: str
    ) -> tuple[list[deployment_pb2.DeploymentHistoryEntry], str]:
        _deployment_id(name)
        if page_size < 0:
            raise InvalidArgument("page_size must be >= 0", reason="INVALID_PAGE_SIZE")
        size = min(page_size or _DEFAULT_HISTORY_PAGE, _MAX_PAGE)
        before = _decode_token(page_token)
        terms = _filter_terms(filter_text)
        statement = select(HistoryRecord).where(HistoryRecord.deployment == name)
        for key, value in terms.items():
            if key != "action":
                raise InvalidArgument(
                    f"cannot filter history on {key!r} (action)", reason="INVALID_FILTER"
                )
            try:
                action = deployment_pb2.DeploymentAction.Value(
                    value
                    if value.startswith("DEPLOYMENT_ACTION_")
                    else f"DEPLOYMENT_ACTION_{value}"
                )
            except ValueError as exc:
                raise InvalidArgument(f"unknown action {value!r}", reason="INVALID_FILTER") from exc
            statement = statement.where(HistoryRecord.action == action)
        if before:
            statement = statement.where(HistoryRecord.id < before)
        async with self._db.transaction() as session:
            await self._load(session, name)
            rows = (
                (await session.execute(statement.order_by(HistoryRecord.id.desc()).limit(size + 1)))
                .scalars()
                .all()
            )
        more = len(rows) > size
        entries = [deployment_pb2.DeploymentHistoryEntry.FromString(r.message) for r in rows[:size]]
        return entries, _encode_token(rows[size - 1].id) if more else ""

    async def rollout(
        self,
        name: str,
        model_version: str,
        *,
        role: int = CANARY,
        weight: int = 0,
        allow_unvalidated: bool = False,
        reason: str = "",
        etag: str = "",
        actor: str = "",
        automatic: bool = False,
        caused_by: Message | None = None,
    ) -> deployment_pb2.Deployment:
        """Start a canary or shadow rollout (see ``InferenceService.Rollout``)."""
        deployment_id = _deployment_id(name)
        _model_of(model_version)
        role = role or CANARY
        if role not in (CANARY, SHADOW):
            raise InvalidArgument(
                "role must be ROUTE_ROLE_CANARY or ROUTE_ROLE_SHADOW",
                reason="INVALID_ROLE",
                field_violations=[FieldViolation("role", "CANARY or SHADOW")],
            )
        if weight < 0 or weight > (100 if role == SHADOW else 99):
            raise InvalidArgument(
                f"weight must be 0-{100 if role == SHADOW else 99}, got {weight}",
                reason="INVALID_WEIGHT",
                field_violations=[FieldViolation("weight", "out of range")],
            )
        async with self._lock(name):
            async with self._db.transaction() as session:
                _, message = await self._load(session, name)
            self._check_etag(message, etag)
            version = await self._checked_version(
                message.registered_model, model_version, allow_unvalidated=allow_unvalidated
            )
            if message.state == deployment_pb2.DEPLOYMENT_STATE_AWAITING_VERSION or not any(
                r.role == CHAMPION for r in message.routes
            ):
                return await self._first_champion(
                    message,
                    version,
                    reason=reason,
                    actor=actor,
                    automatic=automatic,
                    caused_by=caused_by,
                )
            if any(r.role in (CANARY, SHADOW) for r in message.routes):
                raise FailedPrecondition(
                    f"{name} already has a rollout in progress; promote or roll it back first",
                    reason="ROLLOUT_IN_PROGRESS",
                )
            champion = next(r for r in message.routes if r.role == CHAMPION)
            if champion.model_version == version.name:
                raise FailedPrecondition(
                    f"{version.name} is already the champion of {name}", reason="ALREADY_CHAMPION"
                )
            share = weight or message.rollout_policy.canary_weight or DEFAULT_CANARY_WEIGHT
            triton_model = await self._ensure_loaded(deployment_id, version)
            before = list(message.routes)
            async with self._db.transaction() as session:
                record, message = await self._load(session, name)
                self._check_etag(message, etag)
                for route in message.routes:
                    if route.role == CHAMPION and role == CANARY:
                        route.weight = 100 - share
                message.routes.add(
                    model_version=version.name, weight=share, role=role, triton_model=triton_model
                )
                message.state = deployment_pb2.DEPLOYMENT_STATE_ROLLING_OUT
                message.state_message = ""
                message.rollout.Clear()
                message.rollout.model_version = version.name
                message.rollout.start_time.GetCurrentTime()
                message.rollout.message = "started"
                await self._cache_version(session, version)
                await self._save(session, record, message)
                why = reason or (
                    "validation passed"
                    if automatic
                    else f"{'canary' if role == CANARY else 'shadow'} rollout"
                )
                event = await self._emit(
                    session,
                    "inference.deployment.rollout_started",
                    name,
                    inference_events_pb2.InferenceDeploymentRolloutStarted(
                        deployment=name,
                        registered_model=message.registered_model,
                        model_version=version.name,
                        role=role,
                        weight=share,
                        champion_version=champion.model_version,
                        reason=why,
                        automatic=automatic,
                    ),
                    caused_by,
                )
                await self._history(
                    session,
                    name,
                    deployment_pb2.DEPLOYMENT_ACTION_ROLLOUT_STARTED,
                    before,
                    message.routes,
                    reason=why,
                    actor=actor or (_ACTOR_GATEWAY if automatic else ""),
                    automatic=automatic,
                    event=event,
                )
            self._stats[(name, version.name)] = RouteStats()
            self._stats[(name, champion.model_version)] = RouteStats()
            self._install(message)
            return self._view(message)

    async def _first_champion(
        self,
        message: deployment_pb2.Deployment,
        version: model_version_pb2.ModelVersion,
        *,
        reason: str,
        actor: str,
        automatic: bool,
        caused_by: Message | None,
    ) -> deployment_pb2.Deployment:
        name = message.name
        triton_model = await self._ensure_loaded(name.removeprefix("deployments/"), version)
        why = reason or "first validated version"
        async with self._db.transaction() as session:
            record, message = await self._load(session, name)
            before = list(message.routes)
            del message.routes[:]
            message.routes.add(
                model_version=version.name, weight=100, role=CHAMPION, triton_model=triton_model
            )
            message.state = deployment_pb2.DEPLOYMENT_STATE_SERVING
            message.state_message = ""
            message.ClearField("rollout")
            await self._cache_version(session, version)
            await self._save(session, record, message)
            event = await self._emit(
                session,
                "inference.deployment.promoted",
                name,
                inference_events_pb2.InferenceDeploymentPromoted(
                    deployment=name,
                    registered_model=message.registered_model,
                    model_version=version.name,
                    reason=why,
                    automatic=automatic,
                ),
                caused_by,
            )
            await self._history(
                session,
                name,
                deployment_pb2.DEPLOYMENT_ACTION_PROMOTED,
                before,
                message.routes,
                reason=why,
                actor=actor or (_ACTOR_GATEWAY if automatic else ""),
                automatic=automatic,
                event=event,
            )
        self._install(message)
        return self._view(message)

    async def promote(
        self,
        name: str,
        *,
        reason: str = "",
        etag: str = "",
        actor: str = "",
        automatic: bool = False,
        expected_canary: str = "",
    ) -> deployment_pb2.Deployment:
        """Promote the canary (see ``InferenceService.Promote``)."""
        deployment_id = _deployment_id(name)
        async with self._lock(name):
            runtime = self._runtime.get(name)
            async with self._db.transaction() as session:
                record, message = await self._load(session, name)
                self._check_etag(message, etag)
                canary = next((r for r in message.routes if r.role == CANARY), None)
                if canary is None or (expected_canary and canary.model_version != expected_canary):
                    raise FailedPrecondition(
                        f"{name} has no canary rollout in progress", reason="NO_ROLLOUT"
                    )
                champion = next(r for r in message.routes if r.role == CHAMPION)
                stale = message.previous_champion
                before = list(message.routes)
                status = deployment_pb2.RolloutStatus()
                if runtime is not None and runtime.rollout_status is not None:
                    status.CopyFrom(runtime.rollout_status)
                shadows = [r for r in message.routes if r.role == SHADOW]
                del message.routes[:]
                message.routes.add(
                    model_version=canary.model_version,
                    weight=100,
                    role=CHAMPION,
                    triton_model=canary.triton_model,
                )
                message.routes.extend(shadows)
                message.previous_champion = champion.model_version
                message.state = (
                    deployment_pb2.DEPLOYMENT_STATE_ROLLING_OUT
                    if shadows
                    else deployment_pb2.DEPLOYMENT_STATE_SERVING
                )
                if not shadows:
                    message.ClearField("rollout")
                await self._save(session, record, message)
                why = reason or "promoted"
                event = await self._emit(
                    session,
                    "inference.deployment.promoted",
                    name,
                    inference_events_pb2.InferenceDeploymentPromoted(
                        deployment=name,
                        registered_model=message.registered_model,
                        model_version=canary.model_version,
                        previous_version=champion.model_version,
                        reason=why,
                        automatic=automatic,
                    ),
                )
                await self._history(
                    session,
                    name,
                    deployment_pb2.DEPLOYMENT_ACTION_PROMOTED,
                    before,
                    message.routes,
                    reason=why,
                    actor=actor,
                    automatic=automatic,
                    event=event,
                )
            self._install(message)
            routed = {r.model_version for r in message.routes} | {message.previous_champion}
            if stale and stale not in routed:
                await self._unload([triton_model_name(deployment_id, stale)])
            return self._view(message)

    async def rollback(
        self,
        name: str,
        *,
        reason: str = "",
        etag: str = "",
        actor: str = "",
        automatic: bool = False,
        expected_canary: str = "",
    ) -> deployment_pb2.Deployment:
        """Remove the canary/shadow, or revert the last promotion (see ``Rollback``)."""
        deployment_id = _deployment_id(name)
        async with self._lock(name):
            runtime = self._runtime.get(name)
            to_unload: list[str] = []
            async with self._db.transaction() as session:
                record, message = await self._load(session, name)
                self._check_etag(message, etag)
                trial = [r for r in message.routes if r.role in (CANARY, SHADOW)]
                if expected_canary and not any(
                    r.model_version == expected_canary and r.role == CANARY for r in trial
                ):
                    raise FailedPrecondition(f"{name} has no such canary", reason="NO_ROLLOUT")
                champion = next((r for r in message.routes if r.role == CHAMPION), None)
                before = list(message.routes)
                why = reason or "rolled back"
                if trial and champion is not None:
                    status = deployment_pb2.RolloutStatus()
                    if runtime is not None and runtime.rollout_status is not None:
                        status.CopyFrom(runtime.rollout_status)
                    status.message = why
                    del message.routes[:]
                    champion.weight = 100
                    message.routes.append(champion)
                    message.state = deployment_pb2.DEPLOYMENT_STATE_SERVING
                    message.ClearField("rollout")
                    rolled = next((r for r in trial if r.role == CANARY), trial[0])
                    # The previous champion stays loaded even if it was the canary too.
                    to_unload = [
                        r.triton_model
                        for r in trial
                        if r.model_version
                        not in (message.previous_champion, champion.model_version)
                    ]
                    payload = inference_events_pb2.InferenceDeploymentRolledBack(
                        deployment=name,
                        registered_model=message.registered_model,
                        model_version=rolled.model_version,
                        champion_version=champion.model_version,
                        reason=why,
                        automatic=automatic,
                        rollout=status,
                    )
                elif message.previous_champion and champion is not None:
                    previous = message.previous_champion
                    if previous not in self._versions:
                        raise FailedPrecondition(
                            f"{previous} is not known to the gateway any more", reason="NO_PREVIOUS"
                        )
                    triton_model = triton_model_name(deployment_id, previous)
                    del message.routes[:]
                    message.routes.add(
                        model_version=previous, weight=100, role=CHAMPION, triton_model=triton_model
                    )
                    message.previous_champion = ""
                    message.state = deployment_pb2.DEPLOYMENT_STATE_SERVING
                    to_unload = [champion.triton_model]
                    payload = inference_events_pb2.InferenceDeploymentRolledBack(
                        deployment=name,
                        registered_model=message.registered_model,
                        model_version=champion.model_version,
                        champion_version=previous,
                        reason=why,
                        automatic=automatic,
                        reverted_promotion=True,
                    )
                else:
                    raise FailedPrecondition(
                        f"{name} has no rollout in progress and no previous champion",
                        reason="NOTHING_TO_ROLL_BACK",
                    )
                await self._save(session, record, message)
                event = await self._emit(session, "inference.deployment.rolled_back", name, payload)
                await self._history(
                    session,
                    name,
                    deployment_pb2.DEPLOYMENT_ACTION_ROLLED_BACK,
                    before,
                    message.routes,
                    reason=why,
                    actor=actor,
                    automatic=automatic,
                    event=event,
                )
            if payload.reverted_promotion:
                # Make sure the restored champion is loaded (it normally still is).
                version = self._versions[payload.champion_version]
                with contextlib.suppress(GyreError):
                    await self._ensure_loaded(deployment_id, version)
            self._install(message)
            await self._unload(to_unload)
            return self._view(message)

    # ================================================================ events
    async def on_validation_completed(self, event: Any, session: AsyncSession) -> None:
        """``validation.completed``: roll out versions that PASSED (after commit)."""
        payload = event.validation_completed
        if payload.verdict != validation_pb2.VALIDATION_VERDICT_PASSED:
            return
        registered_model = payload.registered_model or _model_of(payload.model_version)
        records = (
            (
                await session.execute(
                    select(DeploymentRecord).where(
                        DeploymentRecord.registered_model == registered_model
                    )
                )
            )
            .scalars()
            .all()
        )
        for record in records:
            message = deployment_pb2.Deployment.FromString(record.message)
            if not message.rollout_policy.auto_rollout_on_validation:
                continue
            skip = _auto_rollout_skip_reason(message, payload.model_version)
            if skip:
                _log.info(
                    "no automatic rollout of %s on %s: %s",
                    payload.model_version,
                    message.name,
                    skip,
                )
                continue
            after_commit(
                session, self._auto_rollout_callback(message.name, payload.model_version, event)
            )

    def _auto_rollout_callback(self, name: str, version: str, event: Any) -> Callable[[], None]:
        def callback() -> None:
            self._spawn(self._auto_rollout(name, version, event))

        return callback

    async def _auto_rollout(self, name: str, version: str, event: Any) -> None:
        current = self._runtime.get(name)
        skip = _auto_rollout_skip_reason(current.message, version) if current else ""
        if skip:  # routes changed between the event and its commit
            _log.info("no automatic rollout of %s on %s: %s", version, name, skip)
            return
        try:
            await self.rollout(
                name,
                version,
                allow_unvalidated=True,  # the event is the validation; the registry lags
                reason=f"{version} passed validation ({event.validation_completed.validation})",
                actor=_ACTOR_GATEWAY,
                automatic=True,
                caused_by=event,
            )
        except GyreError as exc:
            _log.warning("automatic rollout of %s on %s skipped: %s", version, name, exc)

    # ================================================================ data plane
    async def predict(
        self, request: inference_service_pb2.PredictRequest, *, timeout_s: float | None = None
    ) -> inference_service_pb2.PredictResponse:
        """Serve one prediction request (see ``InferenceService.Predict``)."""
        started = time.perf_counter()
        runtime = self._runtime.get(request.deployment)
        if runtime is None:
            _deployment_id(request.deployment)
            raise NotFound(
                f"{request.deployment} does not exist",
                reason="DEPLOYMENT_NOT_FOUND",
                metadata={"name": request.deployment},
            )
        route = runtime.pick(request.routing_key, request.model_version)
        arrays = self._convert(route.signature, request)
        if not self._triton_up:
            raise Unavailable(
                f"Triton is unreachable at {self._triton.url}", reason="TRITON_UNAVAILABLE"
            )
        request_id = request.request_id or os.urandom(16).hex()  # uuid4().hex costs 10x
        parameters = (
            {k: value_of(v) for k, v in request.parameters.items()} if request.parameters else None
        )
        try:
            outputs = await self._infer(route, arrays, request_id, timeout_s, parameters)
        except GyreError as exc:
            latency = time.perf_counter() - started
            route.stats.record(latency, False)
            route.requests.inc()
            route.error_counter(exc.code.name).inc()
            if isinstance(exc, Unavailable) and "MODEL_NOT_READY" in exc.reason:
                self._reload_requested = True
            raise
        count = next(iter(arrays.values())).shape[0]
        signature = route.signature
        response = inference_service_pb2.PredictResponse(
            request_id=request_id,
            model_version=route.model_version,
            role=route.role,  # type: ignore[arg-type]
            predictions=signature.predictions(outputs, count),
        )
        if request.include_tensors:
            outputs_spec = {s.name: s.data_type for s in signature.signature.outputs}
            response.outputs.extend(
                array_to_tensor(n, a, outputs_spec.get(n, value_pb2.DATA_TYPE_FLOAT32))
                for n, a in outputs.items()
            )
        latency = time.perf_counter() - started
        route.stats.record(latency, True)
        route.requests.inc()
        route.rows.inc(count)
        route.latency.observe(latency)
        if runtime.track_feedback:
            self._remember(request_id, route, outputs, count)
        if runtime.shadows:
            self._mirror(runtime, route, request, arrays, request_id)
        rate = runtime.sample_rate
        if rate > 0 and (rate >= 1 or random.random() < rate):
            self._logger.offer(
                LogEntry(
                    deployment=runtime.name,
                    model_version=route.model_version,
                    role=route.role,
                    request_id=request_id,
                    signature=signature,
                    inputs=arrays,
                    outputs=outputs,
                    latency_s=latency,
                    time_s=time.time(),
                    sample_rate=rate,
                )
            )
        return response

    @staticmethod
    def _convert(
        signature: CompiledSignature, request: inference_service_pb2.PredictRequest
    ) -> dict[str, NDArray[Any]]:
        which = request.WhichOneof("inputs")
        if which == "rows":
            return signature.rows_to_arrays(request.rows.rows)
        if which == "columns":
            return signature.columns_to_arrays(request.columns.columns)
        if which == "tensors":
            return signature.tensors_to_arrays(request.tensors.tensors)
        raise InvalidArgument(
            f"no inputs given; the model expects inputs {{{signature.expected}}} as rows, "
            "columns or tensors",
            reason="NO_INPUTS",
            metadata={"expected_inputs": signature.expected},
            field_violations=[FieldViolation("inputs", "one of rows, columns, tensors")],
        )

    async def _infer(
        self,
        route: RouteRuntime,
        arrays: Mapping[str, NDArray[Any]],
        request_id: str,
        timeout_s: float | None,
        parameters: Mapping[str, Any] | None,
    ) -> dict[str, NDArray[Any]]:
        timeout = (
            self._settings.triton_timeout_s
            if timeout_s is None
            else min(timeout_s, self._settings.triton_timeout_s)
        )
        try:
            return await self._infer_chunks(route, arrays, request_id, timeout, parameters)
        except Unavailable as exc:
            caller_bound = timeout_s is not None and timeout_s < self._settings.triton_timeout_s
            if exc.reason == "TRITON_TIMEOUT" and caller_bound:
                raise DeadlineExceeded(
                    "the deadline passed before Triton answered", reason="DEADLINE_EXCEEDED"
                ) from exc
            raise

    async def _infer_chunks(
        self,
        route: RouteRuntime,
        arrays: Mapping[str, NDArray[Any]],
        request_id: str,
        timeout_s: float,
        parameters: Mapping[str, Any] | None,
    ) -> dict[str, NDArray[Any]]:
        timeout = timeout_s
        count = next(iter(arrays.values())).shape[0]
        limit = self._settings.max_batch_size
        specs = route.signature.inputs
        if count <= limit and not parameters and self._settings.batch_in_flight > 0:
            batcher = self._batchers.get(route.triton_model)
            if batcher is None:
                triton, name, outputs = self._triton, route.triton_model, route.outputs

                async def call(feed: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
                    return await triton.infer(
                        name,
                        [(s.name, s.triton_dtype, feed[s.name]) for s in specs],
                        outputs,
                        timeout_s=self._settings.triton_timeout_s,
                    )

                batcher = Batcher(
                    call, max_in_flight=self._settings.batch_in_flight, max_rows=limit
                )
                self._batchers[route.triton_model] = batcher
            # The caller's deadline cancels this handler (grpc does); Triton's own
            # timeout bounds the shared call.
            return await batcher.submit(arrays, count)
        if count <= limit:
            inputs = [(s.name, s.triton_dtype, arrays[s.name]) for s in specs]
            return await self._triton.infer(
                route.triton_model,
                inputs,
                route.outputs,
                request_id=request_id,
                timeout_s=timeout,
                parameters=parameters,
            )
        parts = await asyncio.gather(
            *(
                self._triton.infer(
                    route.triton_model,
                    [
                        (s.name, s.triton_dtype, arrays[s.name][start : start + limit])
                        for s in specs
                    ],
                    route.outputs,
                    request_id=request_id,
                    timeout_s=timeout,
                    parameters=parameters,
                )
                for start in range(0, count, limit)
            )
        )
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

    def _mirror(
        self,
        runtime: DeploymentRuntime,
        served: RouteRuntime,
        request: inference_service_pb2.PredictRequest,
        arrays: Mapping[str, NDArray[Any]],
        request_id: str,
    ) -> None:
        for shadow in runtime.shadows:
            if shadow is served:
                continue
            if shadow.weight < 100 and random.random() * 100 >= shadow.weight:
                continue
            if self._shadow_in_flight >= self._settings.max_shadow_in_flight:
                _metrics.SHADOW_DROPPED.labels(runtime.name).inc()
                continue
            self._shadow_in_flight += 1
            self._spawn(self._shadow(runtime, shadow, served, request, arrays, request_id))

    async def _shadow(
        self,
        runtime: DeploymentRuntime,
        shadow: RouteRuntime,
        served: RouteRuntime,
        request: inference_service_pb2.PredictRequest,
        arrays: Mapping[str, NDArray[Any]],
        request_id: str,
    ) -> None:
        started = time.perf_counter()
        try:
            feed = (
                arrays
                if shadow.signature.signature == served.signature.signature
                else self._convert(shadow.signature, request)
            )
            outputs = await self._infer(shadow, feed, request_id, None, None)
        except GyreError as exc:
            shadow.stats.record(time.perf_counter() - started, False)
            shadow.requests.inc()
            shadow.error_counter(exc.code.name).inc()
            return
        except Exception:
            _log.exception("shadow request failed")
            return
        finally:
            self._shadow_in_flight -= 1
        latency = time.perf_counter() - started
        shadow.stats.record(latency, True)
        shadow.requests.inc()
        shadow.latency.observe(latency)
        rate = runtime.sample_rate
        if rate > 0 and (rate >= 1 or random.random() < rate):
            self._logger.offer(
                LogEntry(
                    deployment=runtime.name,
                    model_version=shadow.model_version,
                    role=SHADOW,
                    request_id=request_id,
                    signature=shadow.signature,
                    inputs=feed,
                    outputs=outputs,
                    latency_s=latency,
                    time_s=time.time(),
                    sample_rate=rate,
                )
            )

    def _remember(
        self, request_id: str, route: RouteRuntime, outputs: Mapping[str, NDArray[Any]], count: int
    ) -> None:
        label = outputs.get(route.signature.prediction_output)
        if label is None:
            return
        values = label.reshape(count, -1)[:, 0].tolist()
        self._recent[request_id] = (route.stats, values)
        if len(self._recent) > self._settings.feedback_window:
            self._recent.popitem(last=False)

    # ================================================================ feedback
    async def record_feedback(
        self, deployment: str, feedback: Sequence[prediction_pb2.Feedback]
    ) -> int:
        """Validate and publish ground truth (``inference.feedback.recorded``)."""
        _deployment_id(deployment)
        if not feedback:
            raise InvalidArgument("no feedback given", reason="EMPTY_FEEDBACK")
        if len(feedback) > MAX_FEEDBACK_BATCH:
            raise InvalidArgument(
                f"{len(feedback)} feedback entries exceed the limit of {MAX_FEEDBACK_BATCH}",
                reason="FEEDBACK_BATCH_TOO_LARGE",
            )
        runtime = self._runtime.get(deployment)
        if runtime is None:
            async with self._db.transaction() as session:
                await self._load(session, deployment)
        champion = runtime.champion if runtime is not None else None
        prediction_type = (
            champion.signature.prediction_type
            if champion is not None
            else value_pb2.DATA_TYPE_UNSPECIFIED
        )
        violations = []
        entries = []
        for index, item in enumerate(feedback):
            if not item.request_id:
                violations.append(FieldViolation(f"feedback[{index}].request_id", "required"))
                continue
            if item.row_index < 0:
                violations.append(FieldViolation(f"feedback[{index}].row_index", "must be >= 0"))
                continue
            kind = item.ground_truth.WhichOneof("kind")
            if kind in (None, "null_value"):
                violations.append(FieldViolation(f"feedback[{index}].ground_truth", "required"))
                continue
            expected = _truth_kinds(prediction_type)
            if expected and kind not in expected:
                violations.append(
                    FieldViolation(
                        f"feedback[{index}].ground_truth",
                        f"the model predicts {_type_name(prediction_type)}, "
                        f"got {kind.removesuffix('_value')}",
                    )
                )
                continue
            entry = prediction_pb2.Feedback()
            entry.CopyFrom(item)
            if not entry.HasField("event_time"):
                entry.event_time.GetCurrentTime()
            entries.append(entry)
        if violations:
            raise InvalidArgument(
                "; ".join(f"{v.field}: {v.description}" for v in violations[:10]),
                reason="INVALID_FEEDBACK",
                field_violations=violations[:50],
            )
        async with self._db.transaction() as session:
            for start in range(0, len(entries), _FEEDBACK_PER_EVENT):
                await self._emit(
                    session,
                    "inference.feedback.recorded",
                    deployment,
                    inference_events_pb2.InferenceFeedbackRecorded(
                        deployment=deployment, feedback=entries[start : start + _FEEDBACK_PER_EVENT]
                    ),
                )
        for entry in entries:
            remembered = self._recent.get(entry.request_id)
            if remembered is None:
                continue
            stats, labels = remembered
            if 0 <= entry.row_index < len(labels):
                stats.record_feedback(labels[entry.row_index], value_of(entry.ground_truth))
        return len(entries)


def _judgement_due_early(
    policy: deployment_pb2.RolloutPolicy,
    last: deployment_pb2.RolloutStatus | None,
    canary: RouteStats,
) -> bool:
    """Judge before the interval is up: the canary just reached ``min_requests`` (so a
    healthy canary is promoted at once), or its first errors arrived."""
    judged = last.canary_requests if last is not None else 0
    min_requests = policy.min_requests or DEFAULT_MIN_REQUESTS
    if canary.requests >= min_requests > judged:
        return True
    early = min(min_requests, 10)
    judged_errors = last is not None and last.canary_error_rate > 0
    return canary.errors > 0 and canary.requests >= early and not judged_errors


def _version_number(version: str) -> int | None:
    match = _VERSION.match(version)
    if match is None:
        return None
    try:
        return int(match.group(2))
    except ValueError:
        return None


def _auto_rollout_skip_reason(message: deployment_pb2.Deployment, version: str) -> str:
    """Why ``version`` passing validation must not start a rollout on ``message`` ("" if
    it should): it is already routed, or not newer than the current champion (a manual
    re-validation of an old version must not canary it against a newer champion)."""
    if any(r.model_version == version for r in message.routes):
        return "it is already routed"
    champion = next((r.model_version for r in message.routes if r.role == CHAMPION), "")
    if not champion:
        return ""
    number, champion_number = _version_number(version), _version_number(champion)
    if number is not None and champion_number is not None and number <= champion_number:
        return f"it is not newer than the champion {champion}"
    return ""


def _type_name(data_type: int) -> str:
    return value_pb2.DataType.Name(data_type).removeprefix("DATA_TYPE_")


def _truth_kinds(data_type: int) -> frozenset[str]:
    if data_type in (value_pb2.DATA_TYPE_STRING, value_pb2.DATA_TYPE_BYTES):
        return frozenset({"string_value", "bytes_value"})
    if data_type in (
        value_pb2.DATA_TYPE_FLOAT16,
        value_pb2.DATA_TYPE_FLOAT32,
        value_pb2.DATA_TYPE_FLOAT64,
        value_pb2.DATA_TYPE_BFLOAT16,
    ):
        return frozenset({"double_value", "int64_value"})
    if data_type == value_pb2.DATA_TYPE_BOOL:
        return frozenset({"bool_value", "int64_value"})
    if data_type == value_pb2.DATA_TYPE_UNSPECIFIED:
        return frozenset()
    return frozenset({"int64_value", "double_value"})
