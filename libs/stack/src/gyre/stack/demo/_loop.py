"""``gyre demo``: the whole continuous-training loop on real data, driven by events.

The loop touches only what a user would touch — it pushes data, creates two triggers,
a deployment and a monitoring policy, sends prediction traffic and ground-truth
feedback — and then waits, at every stage, for the event the responsible service
publishes on its own:

1. push dataset version 1 → ``data.version.committed`` → the new-data trigger fires
   (``training.trigger.fired``) → a run trains on Ray (``training.run.succeeded``) →
   the registry registers it (``models.version.registered``) → the gate validates it
   (``validation.completed``) → the waiting deployment serves it on Triton as champion
   (``inference.deployment.promoted``);
2. push dataset version 2 (version 1 plus the later rows, as labelled data lands);
   the new-data trigger is in its cooldown, so nothing retrains yet;
3. send the later rows as prediction traffic with feedback → the monitor compares
   them with version 1's reference profile (``monitoring.drift.detected``);
4. the drift trigger retrains on the latest version (2) → registered → validated
   against the champion → canary (``inference.deployment.rollout_started``), judged on
   live traffic → ``inference.deployment.promoted`` (``champion`` moves) or
   ``inference.deployment.rolled_back`` / a rejection, with the reason shown;
5. a summary of every resource, the event timeline, and the champion's lineage.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import tenacity
from google.protobuf import json_format

from gyre.inference.v1 import inference_service_pb2
from gyre.runtime.settings import NatsSettings
from gyre.sdk import GyreClient, GyreError, NotFound, Unavailable
from gyre.sdk import data as sdk_data
from gyre.sdk import inference as sdk_inference
from gyre.sdk import monitoring as sdk_monitoring
from gyre.sdk import training as sdk_training
from gyre.stack.demo._data import DemoData
from gyre.stack.demo._events import EventRecorder, RecordedEvent, StageFailed, StageTimeout
from gyre.training.v1 import run_pb2

__all__ = ["DemoFailed", "DemoOptions", "DemoResult", "run_demo"]

DEFAULT_CLASSIFIER: Final = "sklearn.ensemble.HistGradientBoostingClassifier"
DEFAULT_REGRESSOR: Final = "sklearn.ensemble.HistGradientBoostingRegressor"
# One hour: the new-data trigger fires for version 1 and lets version 2 wait for the
# monitor; the drift trigger retrains once per drift episode.
TRIGGER_COOLDOWN_S: Final = 3600
# Quick events (a commit, a registration) and slow stages (a run on Ray, a canary).
SHORT_WAIT_S: Final = 120.0
# How long traffic waits out an unavailable gateway (a restart takes a few seconds).
UNAVAILABLE_RETRY_S: Final = 20.0


class DemoFailed(RuntimeError):
    """A stage failed or timed out; the message says which and why."""


@dataclass
class DemoOptions:
    """How the loop runs.

    Attributes:
        home: Stack state directory (its ``stack.json`` names the services).
        data: The table and its replay order.
        nats: Where the lifecycle events are.
        trainer: Built-in estimator's import path (default: HistGradientBoosting).
        task: ``classification`` or ``regression``.
        stage_timeout_s: Longest wait for a slow stage (a run, validation, a canary).
        batch_rows: Rows per prediction request.
        canary_weight: Percent of requests the canary serves.
        min_canary_requests: Requests the canary serves before it is judged.
        window_rows: Rows per monitoring window.
        seed: Split and training seed.
        echo: Where progress lines go.
    """

    home: Path
    data: DemoData
    nats: NatsSettings
    trainer: str = ""
    task: str = "classification"
    stage_timeout_s: float = 600.0
    batch_rows: int = 50
    canary_weight: int = 30
    min_canary_requests: int = 30
    window_rows: int = 0
    seed: int = 0
    echo: Callable[[str], None] = print


@dataclass
class DemoResult:
    """What the loop did: resource names, outcomes, and the summary."""

    prefix: str
    outcome: str = ""
    summary: dict[str, Any] = field(default_factory=dict)


def _short(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


class _Loop:
    def __init__(self, options: DemoOptions, client: GyreClient, recorder: EventRecorder):
        self.o = options
        self.client = client
        self.rec = recorder
        self.echo = options.echo
        data = options.data
        self.prefix = f"{data.name}-{uuid.uuid4().hex[:6]}"
        if not self.prefix[0].isalpha():
            self.prefix = f"d-{self.prefix}"
        self.dataset = f"datasets/{self.prefix}"
        self.model = f"models/{self.prefix}"
        self.deployment = f"deployments/{self.prefix}"
        self.new_data_trigger = f"triggers/{self.prefix}-new-data"
        self.drift_trigger = f"triggers/{self.prefix}-drift"
        for name in (self.dataset, self.model, self.deployment):
            recorder.watch(name)
        recorder.watch(self.new_data_trigger)
        recorder.watch(self.drift_trigger)
        self.versions: list[str] = []
        self.runs: list[str] = []
        self.model_versions: list[str] = []
        self.validations: list[str] = []
        self.outcome = ""
        self.traffic_requests = 0
        self.traffic_rows = 0
        self.canary_requests = 0
        self.canary_rows = 0
        self.correct = 0
        self.judged = 0
        self.start = time.monotonic()
        self._canary_rows: Iterator[int] = iter(())

    # -- narration ---------------------------------------------------------------------
    def stage(self, number: int, text: str) -> None:
        self.echo(f"\n[{number}/5] {text}")

    def wait(
        self,
        event_type: str | tuple[str, ...],
        match: Callable[[RecordedEvent], bool],
        *,
        why: str,
        timeout_s: float | None = None,
        fail_on: dict[str, Callable[[RecordedEvent], str | None]] | None = None,
        while_waiting: Callable[[], None] | None = None,
        hint: Callable[[], str] | None = None,
    ) -> RecordedEvent:
        types = event_type if isinstance(event_type, str) else " or ".join(event_type)
        self.echo(f"  … waiting for {types} ({why})")
        begun = time.monotonic()
        try:
            event = self.rec.wait_for(
                event_type,
                match,
                timeout_s=min(timeout_s or self.o.stage_timeout_s, self.o.stage_timeout_s),
                what=why,
                fail_on=fail_on,
                while_waiting=while_waiting,
            )
        except StageTimeout as exc:
            extra = ""
            if hint is not None:
                try:
                    extra = f"; {hint()}"
                except GyreError as err:
                    extra = f"; ({err})"
            raise DemoFailed(f"{exc}{extra}") from exc
        except StageFailed as exc:
            raise DemoFailed(str(exc)) from exc
        self.echo(
            f"  ✓ {event.type} {event.subject} (+{time.monotonic() - begun:.1f}s, "
            f"from {event.source or '?'})"
        )
        return event

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> None:
        o = self.o
        data = o.data
        self.echo(
            f"Gyre demo: {data.description}\n"
            f"  {len(data.frame)} rows, target {data.target!r}, {len(data.features)} features; "
            f"{data.order_note}.\n"
            f"  dataset version 1: the first {data.first_rows} rows; the later "
            f"{len(data.later)} rows arrive as traffic, then as dataset version 2.\n"
            f"  resources: {self.dataset}, {self.model}, {self.deployment}"
        )
        workdir = o.home / "demo" / self.prefix
        v1_path, v2_path = data.write_versions(workdir)
        self.setup()

        self.stage(1, "dataset version 1 → train on Ray → register → validate → serve")
        version1 = sdk_data.push(
            self.client,
            v1_path,
            dataset=self.dataset,
            target=data.target,
            seed=o.seed,
            description="the data known before the model went live",
            dataset_info=self._dataset_info(),
        )
        self.versions.append(version1.name)
        self.echo(
            f"  pushed {version1.name}: {version1.row_count} rows, digest {version1.digest[:19]}…"
        )
        self.wait(
            "data.version.committed",
            lambda e: e.payload.get("dataset_version") == version1.name,
            why="the data registry's commit",
            timeout_s=SHORT_WAIT_S,
        )
        run1 = self.train_and_register(self.new_data_trigger, "new data")
        first = self.validate(run1)
        if first != "PASSED":
            raise DemoFailed(
                f"the first model version {self.model_versions[-1]} did not pass validation "
                f"({first}); nothing can be served. See: gyre validations show "
                f"{self.validations[-1]}"
            )
        mv1 = self.model_versions[-1]
        self.wait(
            "inference.deployment.promoted",
            lambda e: e.payload.get("model_version") == mv1,
            why=f"the gateway to load {mv1} on Triton and serve it as champion",
            timeout_s=SHORT_WAIT_S * 2,
            fail_on=self._rollback_fails(mv1),
        )
        self.wait_champion_alias(mv1)

        self.stage(2, "dataset version 2: the later rows land, labelled")
        version2 = sdk_data.push(
            self.client,
            v2_path,
            dataset=self.dataset,
            target=data.target,
            seed=o.seed,
            description="version 1 plus the rows labelled since",
        )
        self.versions.append(version2.name)
        self.echo(f"  pushed {version2.name}: {version2.row_count} rows (parent {version1.name})")
        committed = self.wait(
            "data.version.committed",
            lambda e: e.payload.get("dataset_version") == version2.name,
            why="the data registry's commit",
            timeout_s=SHORT_WAIT_S,
        )
        self.echo(
            f"  {self.new_data_trigger}: {self._firing_for(self.new_data_trigger, committed)}"
        )

        self.stage(3, f"the later {len(data.later)} rows as prediction traffic, with feedback")
        self.send_traffic()
        drift = self.wait(
            "monitoring.drift.detected",
            lambda e: e.payload.get("deployment") == self.deployment,
            why="the monitor to compare live traffic with version 1's reference profile",
            timeout_s=SHORT_WAIT_S,
            hint=self._drift_hint,
        )
        self.echo(f"  {self._drift_line(drift.payload.get('report', {}))}")

        self.stage(4, "the drift trigger retrains on the latest version, judged vs champion")
        run2 = self.train_and_register(self.drift_trigger, "drift")
        verdict = self.validate(run2)
        mv2 = self.model_versions[-1]
        if verdict != "PASSED":
            self.outcome = f"rejected: {mv2} did not pass validation ({verdict})"
            self.echo(f"  ✗ {self.outcome}; {mv1} stays champion")
        else:
            self.wait(
                "inference.deployment.rollout_started",
                lambda e: e.payload.get("model_version") == mv2,
                why=f"the gateway to start a canary of {mv2}",
                timeout_s=SHORT_WAIT_S * 2,
            )
            self._canary_rows = itertools.cycle(range(len(data.later)))
            decided = self.wait(
                ("inference.deployment.promoted", "inference.deployment.rolled_back"),
                lambda e: e.payload.get("model_version") == mv2,
                why=(
                    f"the canary ({o.canary_weight}% of requests) to be judged after "
                    f"{o.min_canary_requests} requests; sending traffic"
                ),
                while_waiting=self.send_canary_batch,
                hint=self._rollout_hint,
            )
            reason = decided.payload.get("reason", "")
            if decided.type == "inference.deployment.rolled_back":
                self.outcome = f"rolled back: {mv2} ({reason})"
                self.echo(f"  ✗ {self.outcome}; {mv1} stays champion")
            else:
                self.outcome = f"promoted: {mv2} is the champion"
                self.echo(f"  ✓ {reason or 'promoted'}")
                self.wait_champion_alias(mv2)
        self.stage(5, "summary: every resource read back from the services")

    def setup(self) -> None:
        o = self.o
        data = o.data
        template = run_pb2.RunSpec(
            target_column=data.target,
            feature_columns=data.features,
            task=run_pb2.TASK_REGRESSION if o.task == "regression" else run_pb2.TASK_CLASSIFICATION,
            seed=o.seed,
            registered_model=self.model,
        )
        template.trainer.builtin.estimator = o.trainer or (
            DEFAULT_REGRESSOR if o.task == "regression" else DEFAULT_CLASSIFIER
        )
        sdk_training.create_trigger(
            self.client,
            self.new_data_trigger.removeprefix("triggers/"),
            kind="new_data",
            template=template,
            dataset=self.dataset,
            cooldown_s=TRIGGER_COOLDOWN_S,
            experiment=self.prefix,
            display_name="train on new data (at most once an hour)",
        )
        drift_template = run_pb2.RunSpec()
        drift_template.CopyFrom(template)
        drift_template.dataset_version = f"{self.dataset}/versions/latest"
        sdk_training.create_trigger(
            self.client,
            self.drift_trigger.removeprefix("triggers/"),
            kind="drift",
            template=drift_template,
            deployment=self.deployment,
            cooldown_s=TRIGGER_COOLDOWN_S,
            experiment=self.prefix,
            display_name="retrain on the latest data when the monitor sees drift",
        )
        live_metric = "mae" if o.task == "regression" else "accuracy"
        # The drop allowed is in the metric's units: 0.05 accuracy, or a tenth of the
        # target's spread for MAE.
        max_drop = 0.05
        if o.task == "regression":
            max_drop = round(0.1 * float(data.first[data.target].std() or 1.0), 6)
        sdk_inference.deploy(
            self.client,
            self.model,
            name=self.prefix,
            sample_rate=1.0,
            policy=sdk_inference.rollout_policy(
                canary_weight=o.canary_weight,
                min_requests=o.min_canary_requests,
                auto_rollout_on_validation=True,
                live_metric=live_metric,
                max_live_metric_drop=max_drop,
            ),
            by="gyre-demo",
        )
        window = o.window_rows or max(100, min(1000, len(data.later) // 4))
        sdk_monitoring.set_policy(
            self.client,
            self.deployment,
            enabled=True,
            window_rows=window,
            min_window_rows=min(window, 100),
            evaluation_interval=2,
            min_feedback_rows=min(window, 100),
            alert_cooldown=TRIGGER_COOLDOWN_S,
        )
        self.echo(
            f"  created {self.new_data_trigger} (new data, 1 h cooldown), "
            f"{self.drift_trigger} (drift on {self.deployment}), {self.deployment} "
            f"(waiting for its first validated version; canary {o.canary_weight}% judged "
            f"after {o.min_canary_requests} requests on errors and live {live_metric}), "
            f"and its monitoring policy (windows of {window} rows)"
        )

    def _dataset_info(self) -> Any:
        from gyre.data.v1 import dataset_pb2

        data = self.o.data
        return dataset_pb2.Dataset(
            display_name=data.name,
            description=data.description,
            owner="gyre-demo",
            source=data.source,
            preprocessing_notes=data.order_note,
            labels={"gyre.dev/demo": self.prefix},
        )

    # -- stages ------------------------------------------------------------------------
    def train_and_register(self, trigger: str, why: str) -> run_pb2.Run:
        fired = self.wait(
            "training.trigger.fired",
            lambda e: e.payload.get("trigger") == trigger,
            why=f"{trigger} to fire on {why}",
            timeout_s=SHORT_WAIT_S,
            hint=lambda: f"{trigger}: {self._trigger_last_firing(trigger)}",
        )
        run_name = fired.payload.get("run", "")
        self.runs.append(run_name)
        self.rec.watch(run_name)
        self.echo(f"  cause: {fired.payload.get('cause', {}).get('reason', why)}")

        def run_failed(event: RecordedEvent) -> str | None:
            if event.payload.get("run") != run_name:
                return None
            return (
                f"{run_name} {event.type.rsplit('.', 1)[-1]}: "
                f"{event.payload.get('reason', 'no reason recorded')} "
                f"(gyre runs logs {run_name.removeprefix('runs/')})"
            )

        succeeded = self.wait(
            "training.run.succeeded",
            lambda e: e.payload.get("run") == run_name,
            why=f"{run_name} to train on Ray",
            fail_on={"training.run.failed": run_failed, "training.run.cancelled": run_failed},
        )
        run = sdk_training.get_run(self.client, run_name)
        metrics = ", ".join(
            f"{m.get('name')} {_short(float(m.get('value', 0.0)))}"
            for m in succeeded.payload.get("metrics", [])[:3]
        )
        wall = float(succeeded.payload.get("resource_usage", {}).get("wall_seconds", 0.0))
        self.echo(
            f"  {run_name} on {succeeded.payload.get('dataset_version', '?')}: validation split "
            f"{metrics or '-'} ({wall:.1f}s on Ray)"
        )
        registered = self.wait(
            "models.version.registered",
            lambda e: e.payload.get("model_version", {}).get("source_run") == run_name,
            why=f"the model registry to register {run_name}'s ONNX model",
            timeout_s=SHORT_WAIT_S,
        )
        version = registered.payload.get("model_version", {}).get("name", "")
        self.model_versions.append(version)
        self.rec.watch(version)
        return run

    def validate(self, run: run_pb2.Run) -> str:
        version = self.model_versions[-1]
        event = self.wait(
            "validation.completed",
            lambda e: e.payload.get("model_version") == version,
            why=f"the validation gate to evaluate {version} on held-out data",
        )
        self.validations.append(event.payload.get("validation", ""))
        verdict = str(event.payload.get("verdict", "")).removeprefix("VALIDATION_VERDICT_")
        champion = event.payload.get("champion_version", "")
        failed = event.payload.get("failed_checks", [])
        metrics = ", ".join(
            f"{m.get('name')} {_short(float(m.get('value', 0.0)))}"
            for m in event.payload.get("candidate_metrics", [])[:4]
        )
        against = f" against champion {champion}" if champion else " (no champion yet)"
        self.echo(f"  {verdict}{against}: {metrics}")
        for check in failed:
            self.echo(
                f"    ✗ {check.get('name', '?')}: observed {check.get('observed_value', '-')}, "
                f"threshold {check.get('threshold', '-')} — {check.get('message', '')}"
            )
        if verdict == "ERROR":
            raise DemoFailed(
                f"validation of {version} errored: {event.payload.get('error_message', '')}"
            )
        return verdict

    def wait_champion_alias(self, version: str) -> None:
        self.wait(
            "models.alias.changed",
            lambda e: (
                str(e.payload.get("change", {}).get("alias", "")).endswith("champion")
                and e.payload.get("change", {}).get("to_version") == version
            ),
            why=f"the registry to move alias champion to {version}",
            timeout_s=SHORT_WAIT_S,
        )

    def send_traffic(self) -> None:
        data = self.o.data
        later = data.later
        batch = max(1, self.o.batch_rows)
        began = time.monotonic()
        for start in range(0, len(later), batch):
            self._predict_with_feedback(later.iloc[start : start + batch])
        elapsed = time.monotonic() - began
        accuracy = f", champion accuracy {self.correct / self.judged:.3f}" if self.judged else ""
        self.echo(
            f"  sent {self.traffic_rows} rows in {self.traffic_requests} requests "
            f"({elapsed:.1f}s) with feedback{accuracy}"
        )

    def send_canary_batch(self) -> None:
        later = self.o.data.later
        rows = [next(self._canary_rows) for _ in range(max(1, self.o.batch_rows // 5))]
        self.canary_requests += 1
        self.canary_rows += len(rows)
        self._predict_with_feedback(later.iloc[rows])

    def _predict_with_feedback(self, rows: Any) -> None:
        data = self.o.data
        records = data.feature_records(rows)
        # A service restarted by the stack's supervisor is back within seconds: retry
        # UNAVAILABLE for a while, as a client of a real deployment would.
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(Unavailable),
            stop=tenacity.stop_after_delay(UNAVAILABLE_RETRY_S),
            wait=tenacity.wait_fixed(0.5),
            reraise=True,
        )
        try:
            response = retrying(
                sdk_inference.predict, self.client, self.deployment, records, timeout=30
            )
        except Unavailable as exc:
            raise DemoFailed(
                f"sending traffic: the inference gateway stayed unavailable for "
                f"{UNAVAILABLE_RETRY_S:g}s ({exc}); see gyre status and gyre logs inference"
            ) from exc
        truths = data.labels(rows)
        self.traffic_requests += 1
        self.traffic_rows += len(truths)
        if self.o.task != "regression":
            for prediction, truth in zip(response.predictions, truths, strict=False):
                predicted = _scalar(prediction)
                if predicted is not None:
                    self.judged += 1
                    self.correct += int(str(predicted) == str(truth))
        retrying(
            sdk_inference.record_feedback_batch,
            self.client,
            self.deployment,
            [(response.request_id, i, truth) for i, truth in enumerate(truths)],
        )

    # -- hints and checks --------------------------------------------------------------
    def _firing_for(self, trigger: str, cause: RecordedEvent, *, within_s: float = 15.0) -> str:
        """What ``trigger`` made of ``cause`` (fired, or skipped and why), once the
        training service has handled it."""
        deadline = time.monotonic() + within_s
        while True:
            found = sdk_training.get_trigger(self.client, trigger)
            if found.labels.get(sdk_training.LAST_FIRING_LABELS[3]) == cause.id:
                return sdk_training.last_firing_text(found)
            if time.monotonic() > deadline:
                return f"has not handled {cause.type} yet ({sdk_training.last_firing_text(found)})"
            time.sleep(0.3)

    def _trigger_last_firing(self, trigger: str) -> str:
        return sdk_training.last_firing_text(sdk_training.get_trigger(self.client, trigger))

    def _drift_hint(self) -> str:
        try:
            report = sdk_monitoring.drift_report(self.client, self.deployment)
        except NotFound:
            return "the monitor has no drift report for it yet (too little traffic?)"
        return "the latest report: " + self._drift_line(
            json_format.MessageToDict(report, preserving_proto_field_name=True)
        )

    @staticmethod
    def _drift_line(report: dict[str, Any]) -> str:
        features = sorted(report.get("features", []), key=lambda f: -float(f.get("psi", 0.0)))
        drifted = [f for f in features if f.get("drifted")]
        top = ", ".join(
            f"{f.get('feature')} PSI {float(f.get('psi', 0.0)):.2f}" for f in features[:4]
        )
        return (
            f"{len(drifted)}/{len(features)} features drifted "
            f"(share {float(report.get('drifted_share', 0.0)):.2f}); top: {top}"
        )

    def _rolled_back(self, version: str) -> RecordedEvent | None:
        for event in self.rec.events:
            if (
                event.type == "inference.deployment.rolled_back"
                and event.payload.get("model_version") == version
            ):
                return event
        return None

    def _rollback_fails(self, version: str) -> dict[str, Callable[[RecordedEvent], str | None]]:
        def check(event: RecordedEvent) -> str | None:
            if event.payload.get("model_version") != version:
                return None
            return f"{version} was rolled back: {event.payload.get('reason', '')}"

        return {"inference.deployment.rolled_back": check}

    def _rollout_hint(self) -> str:
        deployment = self.client.inference.GetDeployment(
            inference_service_pb2.GetDeploymentRequest(name=self.deployment)
        ).deployment
        return f"rollout status: {deployment.rollout.message or deployment.state_message}"


def _scalar(prediction: Any) -> Any:
    """The predicted label or value of one ``RowPrediction``, or None."""
    if not prediction.HasField("prediction"):
        return None
    kind = prediction.prediction.WhichOneof("kind")
    return getattr(prediction.prediction, kind) if kind and kind != "null_value" else None


def run_demo(options: DemoOptions) -> DemoResult:
    """Run the loop against the stack in ``options.home``; return its summary.

    Raises:
        DemoFailed: a stage failed or timed out (the message names it and why).
        ConnectionError: NATS is unreachable.
        gyre.sdk.GyreError: a service refused a call the demo made.
    """
    from gyre.stack.demo._summary import build_summary

    with (
        GyreClient(home=options.home, timeout=60) as client,
        EventRecorder(options.nats, set()) as recorder,
    ):
        loop = _Loop(options, client, recorder)
        result = DemoResult(prefix=loop.prefix)
        try:
            loop.run()
        finally:
            result.outcome = loop.outcome
            # Let the last events (alias history, lineage) reach their consumers.
            time.sleep(0.5)
        result.summary = build_summary(loop)
        result.summary["elapsed_s"] = round(time.monotonic() - loop.start, 1)
        return result
