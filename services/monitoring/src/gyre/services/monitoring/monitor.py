"""The monitor: intake of logged predictions and feedback, windows, evaluation, alerts.

Flow:

1. The event consumer hands ``inference.prediction.logged`` /
   ``inference.feedback.recorded`` envelopes to :meth:`Monitor.handle_event` inside
   the transaction that records the event as processed. The records are parsed there
   (and the deployment version's reference resolved, usually from cache); the
   in-memory accounting is applied only once that transaction commits
   (``after_commit``), so a redelivered event is never counted twice.
2. Each ``(deployment, model version)`` has one open :class:`DriftWindow` (counts on
   the reference's bins) and one open :class:`PerformanceWindow` (feedback-joined
   predictions). A window closes when it holds ``window_rows`` rows, or when
   ``window_duration`` has passed since it opened and it holds at least
   ``min_window_rows`` (``min_feedback_rows``) rows — checked every
   ``evaluation_interval``; a window below the minimum stays open and keeps
   counting. ``EvaluateNow`` closes one on demand.
3. A closed window is evaluated into a report, stored, and — when it drifted
   (degraded) and no alert of that kind is open for the deployment version — an
   alert is recorded and ``monitoring.drift.detected`` (``.performance.degraded``) plus
   ``monitoring.alert.raised`` are written to the outbox, all in one transaction. A
   later clean window resolves the open alert, ending the episode; a new episode
   alerts again only after the policy's ``alert_cooldown`` since the deployment's last
   alert of that kind. So one episode fires one event.

Open windows live in memory (O(bins) per feature each) and are checkpointed to the
database periodically and at a graceful stop, then restored at start; rows taken in
after the last checkpoint of a crashed process are missing from their window (never
counted twice). The feedback join buffer (retained predictions, and feedback that came
before its prediction) is memory only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.common.v1 import value_pb2
from gyre.events.v1 import inference_events_pb2, monitoring_events_pb2
from gyre.inference.v1 import deployment_pb2
from gyre.monitoring.v1 import alert_pb2, monitoring_policy_pb2, report_pb2
from gyre.runtime.db import Database, after_commit, utcnow
from gyre.runtime.errors import FailedPrecondition, NotFound
from gyre.runtime.events import Outbox
from gyre.services.monitoring import store
from gyre.services.monitoring.drift import (
    ABSENT,
    Cell,
    DriftWindow,
    RecordColumns,
    Reference,
    categorical_key,
    feature_summary,
)
from gyre.services.monitoring.observability import MonitorMetrics, monitor_metrics
from gyre.services.monitoring.performance import (
    JoinBuffer,
    JoinedPrediction,
    PerformanceWindow,
    evaluate_performance,
    performance_from_state,
    performance_state,
    performance_summary,
)
from gyre.services.monitoring.policy import EffectivePolicy, default_policy
from gyre.services.monitoring.reference import ReferenceResolver, ReferenceUnavailable
from gyre.services.monitoring.webhook import AttemptResult, WebhookSender

__all__ = [
    "CONSUMED_EVENT_TYPES",
    "IngestionStats",
    "Monitor",
    "cell_of",
]

_log = logging.getLogger(__name__)

PREDICTION_LOGGED: Final = "inference.prediction.logged"
FEEDBACK_RECORDED: Final = "inference.feedback.recorded"
VALIDATION_COMPLETED: Final = "validation.completed"
DEPLOYMENT_EVENTS: Final = (
    "inference.deployment.created",
    "inference.deployment.updated",
    "inference.deployment.deleted",
    "inference.deployment.rollout_started",
    "inference.deployment.promoted",
    "inference.deployment.rolled_back",
)
#: Event types the monitor's consumer subscribes to.
CONSUMED_EVENT_TYPES: Final = (
    PREDICTION_LOGGED,
    FEEDBACK_RECORDED,
    VALIDATION_COMPLETED,
    *DEPLOYMENT_EVENTS,
)
#: Longest serialized report carried in an event; larger ones travel without histograms.
_MAX_EVENT_REPORT_BYTES: Final = 256 * 1024
#: Seconds between checks of open windows (each policy's evaluation interval applies on top).
DEFAULT_TICK_S: Final = 0.5
#: Seconds between checkpoints of the open windows (and one at a graceful stop).
DEFAULT_CHECKPOINT_INTERVAL_S: Final = 30.0

Key = tuple[str, str]


def cell_of(value: value_pb2.Value) -> Cell:
    """A ``gyre.common.v1.Value`` as a Python scalar (``None`` for null/unset)."""
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "bytes_value":
        return value.bytes_value.decode("utf-8", errors="replace")
    result: Cell = getattr(value, kind)
    return result


def _label(value: value_pb2.Value) -> str | float | None:
    """A prediction or ground truth as a label (str) or regression value (float)."""
    if value.WhichOneof("kind") == "double_value":
        number = value.double_value
        return None if math.isnan(number) else float(number)
    return categorical_key(cell_of(value))


@dataclass
class IngestionStats:
    """What the intake received and could not use, since the monitor started."""

    start_time: datetime = field(default_factory=utcnow)
    prediction_records: int = 0
    unknown_deployment_records: dict[str, int] = field(default_factory=dict)
    unreferenced_records: dict[str, int] = field(default_factory=dict)
    missing_feature_rows: int = 0
    feedback_entries: int = 0
    unmatched_feedback_entries: int = 0


@dataclass
class _ParsedGroup:
    deployment: str
    model_version: str
    columns: RecordColumns
    keys: list[tuple[str, int]]
    predictions: list[str | float | None]
    probabilities: list[dict[str, float]]
    reference: Reference | None


@dataclass
class _Closed:
    key: Key
    drift: DriftWindow | None = None
    performance: PerformanceWindow | None = None


class Monitor:
    """The monitor's domain logic (see the module docstring).

    Args:
        db: the service database.
        outbox: the service's outbox.
        resolver: finds references and registry baselines.
        join_buffer: the bounded feedback join.
        webhook: delivers alerts to webhooks.
        clock: the current time (aware UTC); tests may pass their own.
        tick_s: seconds between checks of open windows.
    """

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        resolver: ReferenceResolver,
        *,
        join_buffer: JoinBuffer | None = None,
        webhook: WebhookSender | None = None,
        clock: Callable[[], datetime] = utcnow,
        tick_s: float = DEFAULT_TICK_S,
        checkpoint_interval_s: float = DEFAULT_CHECKPOINT_INTERVAL_S,
        metrics: MonitorMetrics | None = None,
    ) -> None:
        self._db = db
        self._outbox = outbox
        self.resolver = resolver
        self.join = join_buffer if join_buffer is not None else JoinBuffer()
        self._webhook = webhook if webhook is not None else WebhookSender()
        self._clock = clock
        self._tick_s = tick_s
        self.metrics = metrics or monitor_metrics()
        self.stats = IngestionStats(start_time=clock())
        self._known: set[str] = set()
        self._policies: dict[str, monitoring_policy_pb2.MonitoringPolicy] = {}
        self._baselines: dict[str, dict[str, float]] = {}
        self._drift: dict[Key, DriftWindow] = {}
        self._performance: dict[Key, PerformanceWindow] = {}
        self._last_check: dict[Key, datetime] = {}
        self._closed: list[_Closed] = []
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._checkpoint_interval_s = checkpoint_interval_s
        self._dirty = False
        self._last_checkpoint = 0.0

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Load deployments, policies and baselines; resume webhook deliveries; start the
        evaluation loop."""
        async with self._db.transaction() as session:
            self._known = await store.load_deployments(session)
            self._policies = await store.load_policies(session)
            self._baselines = await store.load_baselines(session)
            pending = await store.pending_webhooks(session)
        for row in pending:
            self._spawn_delivery(row.id, row.webhook_url, store.alert_to_proto(row))
        await self._restore()
        self._task = asyncio.create_task(self._run(), name="monitoring-evaluator")

    async def stop(self) -> None:
        """Stop the loop and pending deliveries; close the webhook client."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.evaluate_closed()
            await self.checkpoint()
        except Exception:
            _log.exception("monitoring: final evaluation or checkpoint failed")
        for task in list(self._deliveries):
            task.cancel()
        for task in list(self._deliveries):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._webhook.close()

    # -- checkpoints --------------------------------------------------------------------

    async def checkpoint(self) -> None:
        """Save the open windows (restored at the next start)."""
        windows: list[tuple[str, str, str, dict[str, Any]]] = [
            (key[0], key[1], "drift", window.to_state()) for key, window in self._drift.items()
        ]
        windows += [
            (key[0], key[1], "performance", performance_state(window))
            for key, window in self._performance.items()
        ]
        self._dirty = False
        self._last_checkpoint = asyncio.get_running_loop().time()
        async with self._db.transaction() as session:
            await store.save_open_windows(session, windows, self._clock())

    async def _restore(self) -> None:
        async with self._db.transaction() as session:
            rows = await store.load_open_windows(session)
        for row in rows:
            key = (row.deployment, row.model_version)
            if row.deployment not in self._known:
                continue
            try:
                if row.kind == "drift":
                    reference = await self._reference(row.deployment, row.model_version)
                    if reference is None:
                        raise ValueError("no reference profile now")
                    self._drift[key] = DriftWindow.from_state(
                        row.deployment, row.model_version, reference, row.state
                    )
                elif row.kind == "performance":
                    self._performance[key] = performance_from_state(
                        row.deployment, row.model_version, row.state
                    )
            except (ValueError, KeyError, TypeError) as exc:
                _log.warning(
                    "monitoring: dropped the checkpointed %s window of %s %s: %s",
                    row.kind,
                    row.deployment,
                    row.model_version,
                    exc,
                )

    # -- policies and deployments -------------------------------------------------------

    def is_known(self, deployment: str) -> bool:
        """Whether the monitor knows ``deployment``."""
        return deployment in self._known

    def policy(self, deployment: str) -> tuple[monitoring_policy_pb2.MonitoringPolicy, bool]:
        """The policy of ``deployment`` and whether it is the default."""
        stored = self._policies.get(deployment)
        if stored is not None:
            return stored, False
        return default_policy(deployment), True

    def effective(self, deployment: str) -> EffectivePolicy:
        """The values in force for ``deployment``."""
        return EffectivePolicy.of(self.policy(deployment)[0])

    def policy_changed(
        self, deployment: str, policy: monitoring_policy_pb2.MonitoringPolicy
    ) -> None:
        """Apply a committed policy change (takes effect at the next window)."""
        self._policies[deployment] = policy
        self._known.add(deployment)
        self.resolver.forget()
        self._wakeup.set()

    # -- event intake -------------------------------------------------------------------

    async def handle_event(self, event: Any, session: AsyncSession) -> None:
        """The consumer's handler: apply one envelope in the consumer's transaction."""
        kind = event.type
        if kind == PREDICTION_LOGGED:
            await self._on_predictions(event.inference_prediction_logged, session)
        elif kind == FEEDBACK_RECORDED:
            self._on_feedback(event.inference_feedback_recorded, session)
        elif kind == VALIDATION_COMPLETED:
            await self._on_validation(event.validation_completed, session)
        elif kind in DEPLOYMENT_EVENTS:
            await self._on_deployment(kind, event, session)

    async def _on_deployment(self, kind: str, event: Any, session: AsyncSession) -> None:
        payload = getattr(event, kind.replace(".", "_"))
        if kind in {"inference.deployment.created", "inference.deployment.updated"}:
            deployment = payload.deployment
            name = deployment.name
            champion = ""
            for route in deployment.routes:
                if route.role == deployment_pb2.ROUTE_ROLE_CHAMPION:
                    champion = route.model_version
            await store.upsert_deployment(
                session,
                name,
                registered_model=deployment.registered_model,
                champion_version=champion,
            )
        else:
            name = payload.deployment
            deleted = kind == "inference.deployment.deleted"
            champion = payload.model_version if kind == "inference.deployment.promoted" else ""
            await store.upsert_deployment(
                session,
                name,
                registered_model=payload.registered_model,
                champion_version=champion,
                deleted=deleted,
            )
        if not name:
            return
        deleted = kind == "inference.deployment.deleted"

        def apply() -> None:
            if deleted:
                self._known.discard(name)
                for key in [k for k in self._drift if k[0] == name]:
                    del self._drift[key]
                for key in [k for k in self._performance if k[0] == name]:
                    del self._performance[key]
            else:
                self._known.add(name)

        after_commit(session, apply)

    async def _on_validation(self, payload: Any, session: AsyncSession) -> None:
        metrics = {m.name: float(m.value) for m in payload.candidate_metrics}
        if not payload.model_version or not metrics:
            return
        await store.upsert_baseline(
            session, payload.model_version, metrics, validation=payload.validation
        )
        version = payload.model_version
        after_commit(session, lambda: self._baselines.__setitem__(version, metrics))

    async def _reference(self, deployment: str, model_version: str) -> Reference | None:
        policy = self.effective(deployment)
        try:
            return await self.resolver.resolve(
                model_version,
                reference_dataset_version=policy.reference_dataset_version,
                features=policy.features,
            )
        except ReferenceUnavailable:
            return None

    async def _on_predictions(
        self, payload: inference_events_pb2.InferencePredictionLogged, session: AsyncSession
    ) -> None:
        groups = self.parse_records(payload)
        for group in groups:
            if group.deployment in self._known and self.effective(group.deployment).enabled:
                group.reference = await self._reference(group.deployment, group.model_version)
        after_commit(session, lambda: self._guard(self.ingest, groups))

    def _on_feedback(
        self, payload: inference_events_pb2.InferenceFeedbackRecorded, session: AsyncSession
    ) -> None:
        entries = [(fb.request_id, fb.row_index, fb.ground_truth) for fb in payload.feedback]
        after_commit(session, lambda: self._guard(self.ingest_feedback, entries))

    def _guard(self, apply: Callable[[Any], None], argument: Any) -> None:
        try:
            apply(argument)
        except Exception:  # an after-commit callback must not raise
            _log.exception("monitoring intake failed")

    @staticmethod
    def parse_records(
        payload: inference_events_pb2.InferencePredictionLogged,
    ) -> list[_ParsedGroup]:
        """Group a batch's records by (deployment, model version), column by column."""
        by_key: dict[Key, list[Any]] = {}
        for record in payload.records:
            deployment = record.deployment or payload.deployment
            by_key.setdefault((deployment, record.model_version), []).append(record)
        groups = []
        for (deployment, version), records in by_key.items():
            n = len(records)
            features: dict[str, list[Cell]] = {}
            predictions: list[Cell] = []
            labels: list[str | float | None] = []
            probabilities: list[dict[str, float]] = []
            times: list[datetime | None] = []
            keys: list[tuple[str, int]] = []
            for i, record in enumerate(records):
                for name, value in record.features.values.items():
                    column = features.get(name)
                    if column is None:
                        column = features[name] = [ABSENT] * n
                    column[i] = cell_of(value)
                label = _label(record.prediction.prediction)
                labels.append(label)
                predictions.append(label)
                probabilities.append(dict(record.prediction.probabilities))
                times.append(
                    record.time.ToDatetime(tzinfo=UTC) if record.HasField("time") else None
                )
                keys.append((record.request_id, record.row_index))
            groups.append(
                _ParsedGroup(
                    deployment=deployment,
                    model_version=version,
                    columns=RecordColumns(features=features, predictions=predictions, times=times),
                    keys=keys,
                    predictions=labels,
                    probabilities=probabilities,
                    reference=None,
                )
            )
        return groups

    def ingest(self, groups: Iterable[_ParsedGroup]) -> None:
        """Apply parsed records (after their event committed)."""
        now = self._clock()
        self._dirty = True
        stats = self.stats
        for group in groups:
            n = len(group.columns)
            stats.prediction_records += n
            deployment = group.deployment
            if deployment not in self._known:
                stats.unknown_deployment_records[deployment] = (
                    stats.unknown_deployment_records.get(deployment, 0) + n
                )
                self.metrics.records.labels("unknown_deployment").inc(n)
                continue
            policy = self.effective(deployment)
            if not policy.enabled:
                self.metrics.records.labels("disabled").inc(n)
                continue
            for i, (request_id, row_index) in enumerate(group.keys):
                label = group.predictions[i]
                if request_id and label is not None:
                    prediction = JoinedPrediction(
                        deployment,
                        group.model_version,
                        label,
                        group.probabilities[i],
                        group.columns.times[i],
                    )
                    early = self.join.put(request_id, row_index, prediction, now)
                    if early is not None:  # its feedback arrived first and waited
                        self._join(prediction, early, now)
            reference = group.reference
            if reference is None:
                stats.unreferenced_records[deployment] = (
                    stats.unreferenced_records.get(deployment, 0) + n
                )
                self.metrics.records.labels("unreferenced").inc(n)
                continue
            self.metrics.records.labels("accepted").inc(n)
            key = (deployment, group.model_version)
            start = 0
            while start < n:
                window = self._drift.get(key)
                if window is None:
                    window = DriftWindow(deployment, group.model_version, reference, now)
                    self._drift[key] = window
                room = policy.window_rows - window.row_count
                stop = min(n, start + max(room, 0))
                part = (
                    group.columns if (start, stop) == (0, n) else group.columns.slice(start, stop)
                )
                stats.missing_feature_rows += window.add(part)
                start = stop
                if window.row_count >= policy.window_rows:
                    self._close_drift(key)
            window_now = self._drift.get(key)
            self.metrics.window_rows.labels(deployment, group.model_version).set(
                window_now.row_count if window_now else 0
            )
        self._count_expired_feedback()

    def ingest_feedback(self, entries: Iterable[tuple[str, int, value_pb2.Value]]) -> None:
        """Join feedback to retained predictions (after its event committed).

        Feedback whose prediction has not been logged yet waits in the join's pending
        buffer and is joined when the prediction arrives; what leaves that buffer
        unjoined is counted as unmatched then.
        """
        now = self._clock()
        self._dirty = True
        for request_id, row_index, truth in entries:
            self.stats.feedback_entries += 1
            joined = self.join.pop(request_id, row_index, now)
            if joined is None:
                self.join.park(request_id, row_index, truth, now)
                self.metrics.feedback.labels("pending").inc()
                continue
            self._join(joined, truth, now)
        self._count_expired_feedback()

    def _count_expired_feedback(self) -> None:
        expired = self.join.take_expired_feedback()
        if expired:
            self.stats.unmatched_feedback_entries += expired
            self.metrics.feedback.labels("unmatched").inc(expired)

    def _join(self, joined: JoinedPrediction, truth: value_pb2.Value, now: datetime) -> None:
        """Add one prediction with its ground truth to its performance window."""
        if joined.deployment not in self._known:
            self.stats.unmatched_feedback_entries += 1
            self.metrics.feedback.labels("unmatched").inc()
            return
        label: str | float | None
        if isinstance(joined.prediction, float):
            number = cell_of(truth)
            label = float(number) if isinstance(number, int | float) else None
        else:
            label = categorical_key(cell_of(truth))
        if label is None:
            self.stats.unmatched_feedback_entries += 1
            self.metrics.feedback.labels("unusable").inc()
            return
        self.metrics.feedback.labels("matched").inc()
        key = (joined.deployment, joined.model_version)
        window = self._performance.get(key)
        if window is None:
            window = PerformanceWindow(joined.deployment, joined.model_version, now)
            self._performance[key] = window
        window.add(joined, label)
        if len(window) >= self.effective(joined.deployment).window_rows:
            self._close_performance(key)

    # -- windows ------------------------------------------------------------------------

    def _close_drift(self, key: Key) -> DriftWindow | None:
        self._dirty = True
        window = self._drift.pop(key, None)
        if window is not None and window.row_count:
            self._closed.append(_Closed(key, drift=window))
            self._wakeup.set()
        return window

    def _close_performance(self, key: Key) -> PerformanceWindow | None:
        self._dirty = True
        window = self._performance.pop(key, None)
        if window is not None and len(window):
            self._closed.append(_Closed(key, performance=window))
            self._wakeup.set()
        return window

    def _check_time_windows(self, now: datetime) -> None:
        self.join.expire(now)
        self._count_expired_feedback()
        for key in list(self._drift) + [k for k in self._performance if k not in self._drift]:
            policy = self.effective(key[0])
            last = self._last_check.get(key)
            if last is not None and now - last < policy.evaluation_interval:
                continue
            self._last_check[key] = now
            window = self._drift.get(key)
            if (
                window is not None
                and now - window.opened_at >= policy.window_duration
                and window.row_count >= policy.min_window_rows
            ):
                self._close_drift(key)
            performance = self._performance.get(key)
            if (
                performance is not None
                and now - performance.opened_at >= policy.window_duration
                and len(performance) >= policy.min_feedback_rows
            ):
                self._close_performance(key)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                self._check_time_windows(self._clock())
                await self.evaluate_closed()
                loop_time = asyncio.get_running_loop().time()
                if self._dirty and loop_time - self._last_checkpoint >= self._checkpoint_interval_s:
                    await self.checkpoint()
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("monitoring evaluation failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._tick_s)
            self._wakeup.clear()

    async def evaluate_closed(
        self,
    ) -> list[tuple[report_pb2.DriftReport | None, report_pb2.PerformanceReport | None]]:
        """Evaluate every closed window; returns the reports made."""
        made: list[tuple[report_pb2.DriftReport | None, report_pb2.PerformanceReport | None]] = []
        async with self._lock:
            while self._closed:
                closed = self._closed[0]
                if closed.drift is not None:
                    made.append((await self._evaluate_drift(closed.drift), None))
                if closed.performance is not None:
                    report = await self._evaluate_performance(closed.performance)
                    made.append((None, report))
                self._closed.pop(0)
        return made

    async def evaluate_now(
        self, deployment: str, *, force: bool
    ) -> tuple[report_pb2.DriftReport, report_pb2.PerformanceReport | None]:
        """Close and evaluate the deployment's open windows now (``EvaluateNow``).

        Raises:
            NotFound: the deployment is unknown to the monitor.
            FailedPrecondition: no open window, too few rows (without ``force``), or no
                reference profile.
        """
        if deployment not in self._known:
            raise NotFound(
                f"deployment {deployment!r} is unknown to the monitor",
                metadata={"resource": deployment},
            )
        policy = self.effective(deployment)
        windows = [w for k, w in self._drift.items() if k[0] == deployment]
        if not windows:
            unreferenced = self.stats.unreferenced_records.get(deployment, 0)
            if unreferenced:
                raise FailedPrecondition(
                    f"{deployment}: no reference profile is available for its model version "
                    f"({unreferenced} records could not be used)",
                    reason="NO_REFERENCE_PROFILE",
                    metadata={"deployment": deployment},
                )
            raise FailedPrecondition(
                f"{deployment}: no logged predictions in the current window",
                reason="WINDOW_TOO_SMALL",
                metadata={"deployment": deployment, "rows": "0"},
            )
        window = max(windows, key=lambda w: w.row_count)
        if window.row_count < policy.min_window_rows and not force:
            raise FailedPrecondition(
                f"{deployment}: the window has {window.row_count} rows, fewer than "
                f"min_window_rows {policy.min_window_rows} (use force)",
                reason="WINDOW_TOO_SMALL",
                metadata={"deployment": deployment, "rows": str(window.row_count)},
            )
        key = (deployment, window.model_version)
        async with self._lock:
            self._drift.pop(key, None)
            self._dirty = True
            drift = await self._evaluate_drift(window)
            performance_report = None
            perf = self._performance.get(key)
            if perf is not None and (
                len(perf) >= policy.min_feedback_rows or (force and len(perf))
            ):
                self._performance.pop(key, None)
                performance_report = await self._evaluate_performance(perf)
        return drift, performance_report

    # -- evaluation ---------------------------------------------------------------------

    async def _evaluate_drift(self, window: DriftWindow) -> report_pb2.DriftReport:
        deployment = window.deployment
        policy = self.effective(deployment)
        report = window.evaluate(
            psi_threshold=policy.psi_threshold,
            chi_square_p_value_threshold=policy.chi_square_p_value_threshold,
            drifted_share_threshold=policy.drifted_share_threshold,
            prediction_psi_threshold=policy.prediction_psi_threshold,
        )
        now = self._clock()
        report.name = f"{deployment}/driftReports/{store.new_id()}"
        report.create_time.FromDatetime(now)
        raised: list[alert_pb2.Alert] = []
        async with self._db.transaction() as session:
            await store.insert_drift_report(session, deployment, report)
            event_report = _event_copy(report)
            payload = monitoring_events_pb2.MonitoringDriftDetected(
                deployment=deployment, model_version=window.model_version, report=event_report
            )
            alert = await self._episode(
                session,
                kind=alert_pb2.ALERT_KIND_DRIFT,
                deployment=deployment,
                model_version=window.model_version,
                bad=report.drifted,
                report_name=report.name,
                summary=feature_summary(report),
                policy=policy,
                now=now,
                event_type="monitoring.drift.detected",
                payload=payload,
            )
            if alert is not None:
                raised.append(alert)
        self.metrics.record_drift(deployment, report)
        self._after_alerts(raised)
        return report

    async def _baseline(self, model_version: str) -> dict[str, float]:
        baseline = self._baselines.get(model_version)
        if baseline:
            return baseline
        return await self.resolver.registry_baseline(model_version)

    async def _evaluate_performance(
        self, window: PerformanceWindow
    ) -> report_pb2.PerformanceReport:
        deployment = window.deployment
        policy = self.effective(deployment)
        baseline = await self._baseline(window.model_version)
        report = evaluate_performance(window, baseline, policy.performance_thresholds)
        now = self._clock()
        report.name = f"{deployment}/performanceReports/{store.new_id()}"
        report.create_time.FromDatetime(now)
        raised: list[alert_pb2.Alert] = []
        async with self._db.transaction() as session:
            await store.insert_performance_report(session, deployment, report)
            payload = monitoring_events_pb2.MonitoringPerformanceDegraded(
                deployment=deployment, model_version=window.model_version, report=report
            )
            alert = await self._episode(
                session,
                kind=alert_pb2.ALERT_KIND_PERFORMANCE,
                deployment=deployment,
                model_version=window.model_version,
                bad=report.degraded,
                report_name=report.name,
                summary=performance_summary(report),
                policy=policy,
                now=now,
                event_type="monitoring.performance.degraded",
                payload=payload,
            )
            if alert is not None:
                raised.append(alert)
        self.metrics.record_performance(deployment, report)
        self._after_alerts(raised)
        return report

    async def _episode(
        self,
        session: AsyncSession,
        *,
        kind: int,
        deployment: str,
        model_version: str,
        bad: bool,
        report_name: str,
        summary: str,
        policy: EffectivePolicy,
        now: datetime,
        event_type: str,
        payload: Message,
    ) -> alert_pb2.Alert | None:
        """Open, continue or end an episode; returns the alert raised, if any."""
        if not bad:
            await store.resolve_alerts(
                session, kind=kind, deployment=deployment, model_version=model_version, now=now
            )
            return None
        ongoing = await store.find_open_alert(
            session, kind=kind, deployment=deployment, model_version=model_version
        )
        if ongoing is not None:
            return None
        last = await store.last_alert_time(session, kind=kind, deployment=deployment)
        if last is not None and now - last < policy.alert_cooldown:
            _log.info(
                "%s: %s alert suppressed by cooldown (last %s)",
                deployment,
                alert_pb2.AlertKind.Name(kind),
                last.isoformat(),
            )
            return None
        row = await store.insert_alert(
            session,
            kind=kind,
            deployment=deployment,
            model_version=model_version,
            report=report_name,
            summary=summary,
            webhook_url=policy.webhook_url,
            now=now,
        )
        alert = store.alert_to_proto(row)
        await self._outbox.emit(
            session, type=event_type, subject_resource=deployment, payload_message=payload
        )
        await self._outbox.emit(
            session,
            type="monitoring.alert.raised",
            subject_resource=alert.name,
            payload_message=monitoring_events_pb2.MonitoringAlertRaised(alert=alert),
        )
        return alert

    def _after_alerts(self, alerts: Iterable[alert_pb2.Alert]) -> None:
        for alert in alerts:
            self.metrics.alerts.labels(alert_pb2.AlertKind.Name(alert.kind)).inc()
            url = self.effective(alert.deployment).webhook_url
            if url:
                self._spawn_delivery(alert.name.rsplit("/", 1)[-1], url, alert)

    # -- webhooks -----------------------------------------------------------------------

    def _spawn_delivery(self, alert_id: str, url: str, alert: alert_pb2.Alert) -> None:
        if not url:
            return
        task = asyncio.create_task(self._deliver(alert_id, url, alert), name=f"webhook-{alert_id}")
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, alert_id: str, url: str, alert: alert_pb2.Alert) -> None:
        from google.protobuf.json_format import MessageToDict

        payload = MessageToDict(alert, preserving_proto_field_name=True)
        name = f"alerts/{alert_id}"

        async def record(result: AttemptResult) -> None:
            async with self._db.transaction() as session:
                row = await store.get_alert(session, name)
                row.webhook_attempts = result.attempt
                row.webhook_last_http_status = result.http_status
                row.webhook_last_error = result.error
                row.webhook_last_attempt_time = self._clock()
                if result.delivered:
                    row.webhook_state = alert_pb2.WEBHOOK_DELIVERY_STATE_DELIVERED
                elif result.final:
                    row.webhook_state = alert_pb2.WEBHOOK_DELIVERY_STATE_FAILED
                row.update_time = self._clock()

        try:
            await self._webhook.deliver(url, payload, on_attempt=record)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("webhook delivery of %s failed", name)

    async def wait_for_deliveries(self) -> None:
        """Wait until every webhook delivery in flight has finished (tests, shutdown)."""
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)

    # -- views --------------------------------------------------------------------------

    def open_window_rows(self) -> Mapping[Key, int]:
        """Rows per open drift window."""
        return {k: w.row_count for k, w in self._drift.items()}


def _event_copy(report: report_pb2.DriftReport) -> report_pb2.DriftReport:
    """The report for an event: itself, or without histograms when it is too large."""
    if report.ByteSize() <= _MAX_EVENT_REPORT_BYTES:
        return report
    slim = report_pb2.DriftReport()
    slim.CopyFrom(report)
    for feature in [*slim.features, slim.prediction_drift]:
        feature.ClearField("reference")
        feature.ClearField("current")
    return slim
