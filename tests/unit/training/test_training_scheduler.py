"""The scheduler's state machine, queue, retries, cancel, restart and triggers, over fakes
of Ray, the object store and the data registry (a real SQLite database and outbox)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from gyre.common.v1 import cause_pb2
from gyre.data.v1 import data_service_pb2, dataset_pb2
from gyre.events.v1 import event_pb2
from gyre.runtime.db import RUNTIME_MIGRATIONS, Database, OutboxRecord, migrate
from gyre.runtime.errors import FailedPrecondition, InvalidArgument, NotFound, OutOfRange
from gyre.runtime.events import Outbox
from gyre.runtime.settings import ServiceSettings
from gyre.services.training.db import TRAINING_MIGRATIONS
from gyre.services.training.models import TriggerFiringRecord, TriggerRecord
from gyre.services.training.ray_jobs import JobInfo
from gyre.services.training.scheduler import Scheduler, TrainingOptions, sample_trials
from gyre.services.training.triggers import Triggers
from gyre.services.training.worker import JOB_ENV, JobSpec, Outcome
from gyre.training.v1 import experiment_pb2, run_pb2, trigger_pb2

VERSION = "datasets/elec2/versions/1"


@dataclass
class FakeRay:
    submitted: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)

    async def submit(self, submission_id: str, **kwargs: Any) -> None:
        if submission_id in self.status:
            return
        self.submitted.append({"id": submission_id, **kwargs})
        self.status[submission_id] = "RUNNING"

    async def info(self, submission_id: str) -> JobInfo | None:
        status = self.status.get(submission_id)
        return None if status is None else JobInfo(status=status, message="")

    async def stop(self, submission_id: str) -> None:
        self.stopped.append(submission_id)
        self.status[submission_id] = "STOPPED"

    async def logs(self, submission_id: str) -> str:
        return f"log of {submission_id}\nsecond line"


@dataclass
class FakeStore:
    objects: dict[str, bytes] = field(default_factory=dict)
    bucket: str = "gyre"

    async def get_bytes(self, key: str) -> bytes:
        if key not in self.objects:
            raise NotFound(key)
        return self.objects[key]

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    async def exists(self, key: str) -> bool:
        return key in self.objects


class FakeData:
    def __init__(self) -> None:
        self.data = self

    async def GetDatasetVersion(
        self, request: data_service_pb2.GetDatasetVersionRequest
    ) -> data_service_pb2.GetDatasetVersionResponse:
        no_target = request.name.startswith("datasets/untargeted/")
        if not request.name.startswith("datasets/elec2/") and not no_target:
            raise NotFound(f"{request.name} does not exist")
        version = dataset_pb2.DatasetVersion(
            name="datasets/untargeted/versions/1" if no_target else VERSION,
            digest="sha256:" + "ab" * 32,
            target_column="" if no_target else "class",
            state=dataset_pb2.DATASET_VERSION_STATE_READY,
            row_count=100,
        )
        for column in ("nswprice", "nswdemand", "class"):
            version.schema.columns.add(name=column)
        return data_service_pb2.GetDatasetVersionResponse(dataset_version=version)

    def address(self, info: Any) -> str:
        return "127.0.0.1:1"


@dataclass
class Env:
    scheduler: Scheduler
    triggers: Triggers
    ray: FakeRay
    store: FakeStore
    db: Database


def _make(db: Database, ray: FakeRay, store: FakeStore, **options: Any) -> Env:
    scheduler = Scheduler(
        db=db,
        outbox=Outbox(source="training"),
        store=store,  # type: ignore[arg-type]
        ray=ray,  # type: ignore[arg-type]
        settings=ServiceSettings(service_name="training"),
        options=TrainingOptions(**options),
        data_client=FakeData(),
    )
    scheduler.target = "127.0.0.1:2"
    return Env(scheduler, Triggers(scheduler), ray, store, db)


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[Env]:
    """The scheduler on SQLite and on PostgreSQL (the ``database_url`` fixture)."""
    url = database_url
    await migrate(url, chains=[RUNTIME_MIGRATIONS, TRAINING_MIGRATIONS])
    db = Database(url)
    made = _make(db, FakeRay(), FakeStore(), max_concurrent_runs=1)
    await made.scheduler.create_experiment("exp", experiment_pb2.Experiment())
    yield made
    await db.dispose()


def _run(*, priority: int = 0, retries: int = 0, estimator: str = "") -> run_pb2.Run:
    run = run_pb2.Run(experiment="experiments/exp")
    run.spec.dataset_version = "datasets/elec2/versions/latest"
    run.spec.task = run_pb2.TASK_CLASSIFICATION
    run.spec.trainer.builtin.estimator = (
        estimator or "sklearn.ensemble.HistGradientBoostingClassifier"
    )
    run.spec.priority = priority
    run.spec.max_retries = retries
    return run


def _succeed(env: Env, job_id: str, *, accuracy: float = 0.9) -> None:
    job = JobSpec.from_json(_job_env(env, job_id)[JOB_ENV])
    outcome = Outcome(status="succeeded")
    outcome.result.final_metrics.add(name="accuracy", value=accuracy)
    outcome.result.model_artifact.uri = f"s3://gyre/{job.artifact_prefix}model.onnx"
    outcome.result.model_artifact.sha256 = "cd" * 32
    outcome.result.signature.inputs.add(name="nswprice")
    outcome.metrics = [("val/log_loss", 0.5, 1, 1.0), ("val/log_loss", 0.4, 2, 2.0)]
    env.store.objects[job.outcome_key] = outcome.to_json().encode()
    for trial in job.trials:
        trial_outcome = Outcome(status="succeeded")
        trial_outcome.result.final_metrics.add(name="accuracy", value=accuracy)
        env.store.objects[trial["outcome_key"]] = trial_outcome.to_json().encode()
    env.ray.status[job_id] = "SUCCEEDED"


def _fail(env: Env, job_id: str, reason: str, *, retryable: bool) -> None:
    job = JobSpec.from_json(_job_env(env, job_id)[JOB_ENV])
    outcome = Outcome(status="failed", reason=reason, retryable=retryable)
    env.store.objects[job.outcome_key] = outcome.to_json().encode()
    env.ray.status[job_id] = "FAILED"


def _job_env(env: Env, job_id: str) -> dict[str, str]:
    for item in env.ray.submitted:
        if item["id"] == job_id:
            return dict(item["env_vars"])
    raise AssertionError(f"{job_id} was not submitted")


async def _events(db: Database) -> list[tuple[str, str]]:
    async with db.transaction() as session:
        rows = (await session.scalars(select(OutboxRecord).order_by(OutboxRecord.id))).all()
    out = []
    for row in rows:
        event = event_pb2.Event()
        event.ParseFromString(row.payload)
        out.append((event.type, event.subject))
    return out


async def test_run_goes_queued_running_succeeded_with_an_event_per_transition(env: Env) -> None:
    run = await env.scheduler.submit(_run())
    assert run.state == run_pb2.RUN_STATE_QUEUED
    assert run.spec.dataset_version == VERSION  # "latest" resolved at submission
    assert run.spec.target_column == "class"  # defaulted from the version
    await env.scheduler.tick()
    run = await env.scheduler.get_run(run.name)
    assert run.state == run_pb2.RUN_STATE_RUNNING
    assert run.ray_job_id == f"gyre-{run.name[5:]}-a1"
    submitted = env.ray.submitted[0]
    assert submitted["num_cpus"] == 1.0
    assert submitted["entrypoint"].endswith("-m gyre.services.training.worker")
    _succeed(env, run.ray_job_id)
    await env.scheduler.tick()
    run = await env.scheduler.get_run(run.name)
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert run.result.final_metrics[0].value == 0.9
    history, _ = await env.scheduler.metric_history(
        run.name, "val/log_loss", page_size=0, page_token=""
    )
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.4)]
    types = [t for t, s in await _events(env.db) if s == run.name]
    assert types == ["training.run.queued", "training.run.started", "training.run.succeeded"]
    lines, terminal = await env.scheduler.log_lines(run.name)
    assert terminal
    assert "log of gyre-" in [line.text for line in lines][2]


async def test_queue_respects_priority_and_the_concurrency_limit(env: Env) -> None:
    low = await env.scheduler.submit(_run(priority=0))
    high = await env.scheduler.submit(_run(priority=5))
    await env.scheduler.tick()
    assert [s["id"] for s in env.ray.submitted] == [f"gyre-{high.name[5:]}-a1"]
    assert (await env.scheduler.get_run(low.name)).state == run_pb2.RUN_STATE_QUEUED
    _succeed(env, f"gyre-{high.name[5:]}-a1")
    await env.scheduler.tick()
    assert env.ray.submitted[-1]["id"] == f"gyre-{low.name[5:]}-a1"


async def test_retryable_failure_retries_then_fails_with_the_reason(env: Env) -> None:
    run = await env.scheduler.submit(_run(retries=1))
    await env.scheduler.tick()
    _fail(env, f"gyre-{run.name[5:]}-a1", "worker died", retryable=True)
    await env.scheduler.tick()
    run = await env.scheduler.get_run(run.name)
    assert run.state == run_pb2.RUN_STATE_RUNNING
    assert run.attempt_count == 2
    _fail(env, run.ray_job_id, "worker died again", retryable=True)
    await env.scheduler.tick()
    run = await env.scheduler.get_run(run.name)
    assert run.state == run_pb2.RUN_STATE_FAILED
    assert run.failure_reason == "worker died again"
    assert run.attempt_count == 2


async def test_input_errors_are_not_retried_and_the_queue_moves_on(env: Env) -> None:
    bad = await env.scheduler.submit(_run(retries=3))
    good = await env.scheduler.submit(_run())
    await env.scheduler.tick()
    _fail(
        env, f"gyre-{bad.name[5:]}-a1", "HistGradientBoostingClassifier rejected", retryable=False
    )
    await env.scheduler.tick()
    bad = await env.scheduler.get_run(bad.name)
    assert bad.state == run_pb2.RUN_STATE_FAILED
    assert bad.attempt_count == 1
    assert (await env.scheduler.get_run(good.name)).state == run_pb2.RUN_STATE_RUNNING


async def test_job_without_outcome_fails_with_rays_status(env: Env) -> None:
    run = await env.scheduler.submit(_run())
    await env.scheduler.tick()
    env.ray.status[f"gyre-{run.name[5:]}-a1"] = "FAILED"
    await env.scheduler.tick()
    run = await env.scheduler.get_run(run.name)
    assert run.state == run_pb2.RUN_STATE_FAILED
    assert "without reporting an outcome" in run.failure_reason


async def test_cancel_stops_the_ray_job_and_is_idempotent(env: Env) -> None:
    run = await env.scheduler.submit(_run())
    await env.scheduler.tick()
    cancelled = await env.scheduler.cancel(run.name, reason="changed my mind")
    assert cancelled.state == run_pb2.RUN_STATE_CANCELLED
    assert cancelled.failure_reason == "changed my mind"
    assert env.ray.stopped == [cancelled.ray_job_id]
    again = await env.scheduler.cancel(run.name)
    assert again.state == run_pb2.RUN_STATE_CANCELLED
    await asyncio.sleep(0)


async def test_cancel_of_a_finished_run_is_refused(env: Env) -> None:
    run = await env.scheduler.submit(_run())
    await env.scheduler.tick()
    _succeed(env, f"gyre-{run.name[5:]}-a1")
    await env.scheduler.tick()
    with pytest.raises(FailedPrecondition):
        await env.scheduler.cancel(run.name)


async def test_a_restarted_scheduler_resubmits_a_claimed_but_unsubmitted_attempt(
    env: Env,
) -> None:
    run = await env.scheduler.submit(_run())
    await env.scheduler.tick()
    job_id = f"gyre-{run.name[5:]}-a1"
    # Ray lost the job (or the first scheduler crashed before submitting it).
    del env.ray.status[job_id]
    restarted = _make(env.db, env.ray, env.store, max_concurrent_runs=1)
    await restarted.scheduler.tick()
    assert env.ray.status[job_id] == "RUNNING"
    _succeed(env, job_id)
    await restarted.scheduler.tick()
    assert (await restarted.scheduler.get_run(run.name)).state == run_pb2.RUN_STATE_SUCCEEDED


async def test_submit_rejects_bad_input_without_writing(env: Env) -> None:
    with pytest.raises(NotFound):
        await env.scheduler.submit(
            _run().__class__(experiment="experiments/exp", spec=_unknown_version())
        )
    bad_target = _run()
    bad_target.spec.target_column = "klass"
    with pytest.raises(InvalidArgument, match="klass"):
        await env.scheduler.submit(bad_target)
    with pytest.raises(InvalidArgument, match="NoSuchModel"):
        await env.scheduler.submit(_run(estimator="sklearn.ensemble.NoSuchModel"))
    missing_experiment = _run()
    missing_experiment.experiment = "experiments/nope"
    with pytest.raises(NotFound):
        await env.scheduler.submit(missing_experiment)
    _, _, total = await env.scheduler.search_runs()
    assert total == 0


def _unknown_version() -> run_pb2.RunSpec:
    spec = _run().spec
    spec.dataset_version = "datasets/nope/versions/1"
    return spec


async def test_submit_is_idempotent_on_request_id(env: Env) -> None:
    first = await env.scheduler.submit(_run(), request_id="req-1")
    second = await env.scheduler.submit(_run(), request_id="req-1")
    assert first.name == second.name


async def test_sweep_creates_trial_runs_and_succeeds_with_them(env: Env) -> None:
    run = _run()
    sweep = run.spec.sweep
    sweep.num_trials = 4
    sweep.metric = "accuracy"
    sweep.mode = run_pb2.OPTIMIZATION_MODE_MAX
    dim = sweep.dimensions.add(param="max_depth")
    dim.int_range.min, dim.int_range.max = 2, 8
    dim = sweep.dimensions.add(param="learning_rate")
    dim.loguniform.min, dim.loguniform.max = 0.01, 0.3
    submitted = await env.scheduler.submit(run)
    runs, _, total = await env.scheduler.search_runs(filter=f"parent_run = {submitted.name}")
    assert total == 4
    await env.scheduler.tick()
    submission = env.ray.submitted[0]
    assert submission["num_cpus"] == 0.0  # the driver only coordinates Tune
    _succeed(env, submission["id"])
    await env.scheduler.tick()
    runs, _, _ = await env.scheduler.search_runs(
        filter=f"parent_run = {submitted.name} AND state = SUCCEEDED"
    )
    assert len(runs) == 4
    assert all(2 <= r.spec.params["max_depth"].int64_value <= 8 for r in runs)


def test_sweep_sampling_is_deterministic_and_grid_is_exhaustive() -> None:
    spec = run_pb2.RunSpec(seed=3)
    spec.sweep.num_trials = 5
    dim = spec.sweep.dimensions.add(param="a")
    dim.uniform.min, dim.uniform.max = 0.0, 1.0
    assert sample_trials(spec) == sample_trials(spec)
    assert len(sample_trials(spec)) == 5
    grid = run_pb2.RunSpec()
    grid.sweep.algorithm = run_pb2.SEARCH_ALGORITHM_GRID
    choice = grid.sweep.dimensions.add(param="depth")
    for value in (3, 6):
        choice.choice.values.add(int64_value=value)
    steps = grid.sweep.dimensions.add(param="n")
    steps.int_range.min, steps.int_range.max, steps.int_range.step = 10, 30, 10
    assert len(sample_trials(grid)) == 6


async def test_search_runs_filters_on_metrics_params_and_orders(env: Env) -> None:
    names = []
    for depth, accuracy in ((3, 0.8), (6, 0.95), (6, 0.85)):
        run = _run()
        run.spec.params["max_depth"].int64_value = depth
        submitted = await env.scheduler.submit(run)
        names.append(submitted.name)
        env.scheduler.options.max_concurrent_runs = 10
        await env.scheduler.tick()
        _succeed(env, f"gyre-{submitted.name[5:]}-a1", accuracy=accuracy)
        await env.scheduler.tick()
    runs, _, _ = await env.scheduler.search_runs(
        filter="metrics.accuracy > 0.84 and params.max_depth = 6",
        order_by="metrics.accuracy desc",
    )
    assert [r.name for r in runs] == [names[1], names[2]]
    with pytest.raises(InvalidArgument):
        await env.scheduler.search_runs(filter="metrics.accuracy >")


def _trigger(kind: int) -> trigger_pb2.Trigger:
    trigger = trigger_pb2.Trigger(
        kind=kind,  # type: ignore[arg-type]
        experiment="experiments/exp",
        enabled=True,
    )
    trigger.run_template.CopyFrom(_run().spec)
    if kind == cause_pb2.TRIGGER_KIND_NEW_DATA:
        trigger.new_data.dataset = "datasets/elec2"
    return trigger


def _committed_event(event_id: str) -> event_pb2.Event:
    event = event_pb2.Event(id=event_id, type="data.version.committed", subject=VERSION)
    event.data_version_committed.dataset = "datasets/elec2"
    event.data_version_committed.dataset_version = VERSION
    event.data_version_committed.digest = "sha256:" + "ef" * 32
    event.data_version_committed.row_count = 100
    event.data_version_committed.target_column = "class"
    event.data_version_committed.state = dataset_pb2.DATASET_VERSION_STATE_READY
    return event


async def test_the_same_cause_creates_exactly_one_run(env: Env) -> None:
    await env.triggers.create("on-data", _trigger(cause_pb2.TRIGGER_KIND_NEW_DATA))
    event = _committed_event("11111111-1111-4111-8111-111111111111")
    for _ in range(2):  # a redelivery, or a second replica seeing the event
        async with env.db.transaction() as session:
            await env.triggers.on_data_committed(event, session)
    runs, _, total = await env.scheduler.search_runs(filter="trigger = triggers/on-data")
    assert total == 1
    assert runs[0].cause.event_id == event.id
    assert runs[0].cause.kind == cause_pb2.TRIGGER_KIND_NEW_DATA
    assert runs[0].cause.trigger == "triggers/on-data"
    trigger = await env.triggers.get("triggers/on-data")
    assert trigger.fire_count == 1
    assert ("training.trigger.fired", "triggers/on-data") in await _events(env.db)


async def test_manual_fire_is_idempotent_and_honours_max_concurrent(env: Env) -> None:
    await env.triggers.create("by-hand", _trigger(cause_pb2.TRIGGER_KIND_MANUAL))
    first = await env.triggers.fire_manual(
        "triggers/by-hand", reason="try", ignore_cooldown=False, request_id="r1"
    )
    again = await env.triggers.fire_manual(
        "triggers/by-hand", reason="try", ignore_cooldown=False, request_id="r1"
    )
    assert first.name == again.name
    assert first.cause.kind == cause_pb2.TRIGGER_KIND_MANUAL
    with pytest.raises(FailedPrecondition, match="max_concurrent_runs"):
        await env.triggers.fire_manual(
            "triggers/by-hand", reason="again", ignore_cooldown=False, request_id="r2"
        )


async def test_trigger_validation(env: Env) -> None:
    wrong = _trigger(cause_pb2.TRIGGER_KIND_SCHEDULE)  # no schedule condition
    with pytest.raises(InvalidArgument):
        await env.triggers.create("bad", wrong)
    cron = _trigger(cause_pb2.TRIGGER_KIND_SCHEDULE)
    cron.schedule.cron = "61 * * * *"
    with pytest.raises(InvalidArgument, match="cron"):
        await env.triggers.create("bad", cron)
    cron.schedule.cron = "*/5 * * * *"
    created = await env.triggers.create("every-five", cron)
    assert created.name == "triggers/every-five"


async def test_a_registered_model_version_is_recorded_on_its_run(env: Env) -> None:
    run = await env.scheduler.submit(_run())
    await env.scheduler.tick()
    _succeed(env, f"gyre-{run.name[5:]}-a1")
    await env.scheduler.tick()
    event = event_pb2.Event(id=str(uuid.uuid4()), type="models.version.registered")
    event.models_version_registered.model_version.name = "models/elec2/versions/1"
    event.models_version_registered.model_version.source_run = run.name
    async with env.db.transaction() as session:
        await env.scheduler.on_model_registered(event, session)
    run = await env.scheduler.get_run(run.name)
    assert run.result.model_version == "models/elec2/versions/1"


def _monitor_trigger(kind: int, **target: str) -> trigger_pb2.Trigger:
    trigger = _trigger(cause_pb2.TRIGGER_KIND_MANUAL)
    trigger.kind = kind  # type: ignore[assignment]
    for key, value in target.items():
        setattr(trigger.monitor, key, value)
    return trigger


async def test_drift_and_performance_events_fire_their_triggers(env: Env) -> None:
    await env.triggers.create(
        "on-drift", _monitor_trigger(cause_pb2.TRIGGER_KIND_DRIFT, deployment="deployments/d1")
    )
    perf = _monitor_trigger(cause_pb2.TRIGGER_KIND_PERFORMANCE_DROP, registered_model="models/m")
    perf.monitor.metrics.append("accuracy")
    await env.triggers.create("on-perf", perf)

    drift = event_pb2.Event(id=str(uuid.uuid4()), type="monitoring.drift.detected")
    drift.monitoring_drift_detected.deployment = "deployments/d1"
    drift.monitoring_drift_detected.report.drifted_share = 0.5
    degraded_latency = event_pb2.Event(id=str(uuid.uuid4()), type="monitoring.performance.degraded")
    degraded_latency.monitoring_performance_degraded.deployment = "deployments/d2"
    degraded_latency.monitoring_performance_degraded.model_version = "models/m/versions/4"
    degraded_latency.monitoring_performance_degraded.report.metrics.add(metric="f1", degraded=True)
    degraded_accuracy = event_pb2.Event()
    degraded_accuracy.CopyFrom(degraded_latency)
    degraded_accuracy.id = str(uuid.uuid4())
    degraded_accuracy.monitoring_performance_degraded.report.metrics.add(
        metric="accuracy", degraded=True
    )
    for event in (drift, degraded_latency, degraded_accuracy):
        async with env.db.transaction() as session:
            await env.triggers.on_monitor_event(event, session)

    (drift_run,) = (await env.scheduler.search_runs(filter="trigger = triggers/on-drift"))[0]
    assert drift_run.cause.kind == cause_pb2.TRIGGER_KIND_DRIFT
    assert drift_run.cause.subject == "deployments/d1"
    assert "50%" in drift_run.cause.reason
    assert drift_run.spec.dataset_version == VERSION  # "latest" resolved when fired
    (perf_run,) = (await env.scheduler.search_runs(filter="trigger = triggers/on-perf"))[0]
    assert perf_run.cause.event_id == degraded_accuracy.id  # f1 alone is not watched


async def test_schedule_trigger_fires_once_per_tick(env: Env) -> None:
    from datetime import timedelta

    from gyre.runtime.db import utcnow

    trigger = _trigger(cause_pb2.TRIGGER_KIND_MANUAL)
    trigger.kind = cause_pb2.TRIGGER_KIND_SCHEDULE
    trigger.schedule.cron = "0 3 * * *"
    await env.triggers.create("nightly", trigger)
    async with env.db.transaction() as session:
        record = await session.get(TriggerRecord, "nightly")
        assert record is not None
        assert record.next_tick is not None
        assert record.next_tick > utcnow()
        record.next_tick = utcnow() - timedelta(minutes=1)  # the tick came due
    await env.triggers.tick_schedules()
    await env.triggers.tick_schedules()
    runs, _, total = await env.scheduler.search_runs(filter="trigger = triggers/nightly")
    assert total == 1
    assert runs[0].cause.kind == cause_pb2.TRIGGER_KIND_SCHEDULE
    assert runs[0].cause.event_id.startswith("schedule-nightly-")
    async with env.db.transaction() as session:
        record = await session.get(TriggerRecord, "nightly")
        assert record is not None
        assert record.next_tick is not None
        assert record.next_tick > utcnow()


async def test_cooldown_skips_and_is_recorded(env: Env) -> None:
    from google.protobuf.duration_pb2 import Duration

    trigger = _trigger(cause_pb2.TRIGGER_KIND_NEW_DATA)
    trigger.cooldown.CopyFrom(Duration(seconds=3600))
    trigger.max_concurrent_runs = 5
    await env.triggers.create("cool", trigger)
    for event_id in (
        "a1111111-1111-4111-8111-111111111111",
        "b1111111-1111-4111-8111-111111111111",
    ):
        async with env.db.transaction() as session:
            await env.triggers.on_data_committed(_committed_event(event_id), session)
    _, _, total = await env.scheduler.search_runs(filter="trigger = triggers/cool")
    assert total == 1
    # The skip is visible on the trigger (output-only labels: no contract field for it).
    from gyre.services.training.triggers import LAST_FIRING_LABELS

    outcome, reason, when, cause = LAST_FIRING_LABELS
    shown = await env.triggers.get("triggers/cool")
    assert shown.labels[outcome] == "skipped"
    assert "cooldown" in shown.labels[reason]
    assert shown.labels[cause] == "b1111111-1111-4111-8111-111111111111"
    assert when in shown.labels
    (listed,), _, _ = await env.triggers.list(
        page_size=10, page_token="", filter="name = triggers/cool", order_by=""
    )
    assert listed.labels[outcome] == "skipped"
    # Sent back in an update they are not stored.
    shown.labels["team"] = "ml"
    await env.triggers.update(shown, ["labels"])
    async with env.db.transaction() as session:
        record = await session.get(TriggerRecord, "cool")
        assert record is not None
        stored = trigger_pb2.Trigger.FromString(record.spec)
    assert dict(stored.labels) == {"team": "ml"}


async def test_logs_resume_after_an_offset_and_filter_by_attempt(env: Env) -> None:
    run = await env.scheduler.submit(_run(retries=1))
    await env.scheduler.tick()
    _fail(env, f"gyre-{run.name[5:]}-a1", "worker died", retryable=True)
    await env.scheduler.tick()
    _succeed(env, f"gyre-{run.name[5:]}-a2")
    await env.scheduler.tick()

    async def read(**kwargs: Any) -> list[Any]:
        options = {"follow": False, "start_offset": 0, "tail_lines": 0, "attempt": 0}
        options.update(kwargs)
        return [
            line async for batch in env.scheduler.stream_logs(run.name, **options) for line in batch
        ]

    everything = await read()
    assert [line.offset for line in everything] == list(range(1, len(everything) + 1))
    assert everything[-1].text == "succeeded"
    assert [line.offset for line in await read(start_offset=3)] == [
        line.offset for line in everything[3:]
    ]
    assert [line.text for line in await read(tail_lines=1)] == ["succeeded"]
    second = await read(attempt=2)
    assert {line.attempt for line in second} == {0, 2}
    assert {line.offset for line in second} <= {line.offset for line in everything}
    with pytest.raises(OutOfRange):
        await read(start_offset=len(everything) + 5)


async def test_an_attempt_past_its_timeout_is_stopped_and_fails(env: Env) -> None:
    from datetime import timedelta

    from gyre.runtime.db import utcnow
    from gyre.services.training.models import RunRecord

    spec_run = _run()
    spec_run.spec.timeout.seconds = 60
    run = await env.scheduler.submit(spec_run)
    await env.scheduler.tick()
    async with env.db.transaction() as session:
        record = await session.scalar(select(RunRecord).where(RunRecord.id == run.name[5:]))
        assert record is not None
        record.attempt_start_time = utcnow() - timedelta(minutes=5)
    await env.scheduler.tick()
    run = await env.scheduler.get_run(run.name)
    assert run.state == run_pb2.RUN_STATE_FAILED
    assert "timed out" in run.failure_reason
    assert env.ray.stopped == [run.ray_job_id]


async def test_trigger_runs_without_a_target_use_the_dataset_versions(env: Env) -> None:
    # Created without --target (as the docs show): runs train on the version's target.
    await env.triggers.create("on-data", _trigger(cause_pb2.TRIGGER_KIND_NEW_DATA))
    event = _committed_event("21111111-1111-4111-8111-111111111111")  # target "class"
    async with env.db.transaction() as session:
        await env.triggers.on_data_committed(event, session)
    (run,) = (await env.scheduler.search_runs(filter="trigger = triggers/on-data"))[0]
    assert run.spec.target_column == "class"
    await env.triggers.create("by-hand", _trigger(cause_pb2.TRIGGER_KIND_MANUAL))
    fired = await env.triggers.fire_manual(
        "triggers/by-hand", reason="try", ignore_cooldown=False, request_id="t1"
    )
    assert fired.spec.target_column == "class"  # from the resolved "latest" version
    # The template's own target wins.
    own = _trigger(cause_pb2.TRIGGER_KIND_MANUAL)
    own.run_template.target_column = "nswdemand"
    await env.triggers.create("own-target", own)
    fired = await env.triggers.fire_manual(
        "triggers/own-target", reason="try", ignore_cooldown=False, request_id="t2"
    )
    assert fired.spec.target_column == "nswdemand"


async def test_trigger_without_any_target_is_refused_not_failed_on_ray(env: Env) -> None:
    untargeted = _trigger(cause_pb2.TRIGGER_KIND_MANUAL)
    untargeted.run_template.dataset_version = "datasets/untargeted/versions/latest"
    with pytest.raises(InvalidArgument, match="no target column") as caught:
        await env.triggers.create("untargeted", untargeted)
    assert caught.value.field_violations[0].field == "trigger.run_template.target_column"
    with pytest.raises(NotFound):
        await env.triggers.get("triggers/untargeted")  # nothing half-written
    # With a target in the template it is fine.
    untargeted.run_template.target_column = "class"
    await env.triggers.create("untargeted", untargeted)

    # A new-data trigger on a dataset not pushed yet is created; a version without a
    # target column is then skipped with the reason, never run.
    future = _trigger(cause_pb2.TRIGGER_KIND_NEW_DATA)
    future.new_data.dataset = "datasets/future"
    await env.triggers.create("future", future)
    event = _committed_event("31111111-1111-4111-8111-111111111111")
    event.data_version_committed.dataset = "datasets/future"
    event.data_version_committed.dataset_version = "datasets/future/versions/1"
    event.data_version_committed.target_column = ""
    async with env.db.transaction() as session:
        await env.triggers.on_data_committed(event, session)
    _, _, total = await env.scheduler.search_runs(filter="trigger = triggers/future")
    assert total == 0
    assert env.ray.submitted == []
    async with env.db.transaction() as session:
        firing = await session.scalar(
            select(TriggerFiringRecord).where(TriggerFiringRecord.trigger == "future")
        )
    assert firing is not None
    assert "no target column" in firing.skipped_reason
