"""The training scheduler end to end: real Ray head (token auth, 1 CPU), real S3, real NATS,
the real data registry in-process; runs, sweeps, cancel, failures, restart, triggers."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from support.gyre_services import UNREACHABLE_PEER
from training_helpers import RUN_DEADLINE_S, Stack, eventually, stack

from gyre.common.v1 import cause_pb2, value_pb2
from gyre.events.v1.event_pb2 import Event
from gyre.runtime.events import connect_nats, event_subject
from gyre.runtime.objectstore import SyncObjectStore
from gyre.runtime.settings import NatsSettings, S3Settings
from gyre.sdk import GyreClient, InvalidArgument, NotFound, training
from gyre.sdk import data as sdk_data
from gyre.services.training import packaging
from gyre.training.v1 import run_pb2

pytestmark = pytest.mark.integration
__all__ = ["stack"]  # the module fixture, imported for pytest

HGB = "sklearn.ensemble.HistGradientBoostingClassifier"
MAJORITY_RATE = 0.575


def _wait(gyre: GyreClient, name: str) -> run_pb2.Run:
    return training.wait(gyre, name, timeout_s=RUN_DEADLINE_S, poll_s=0.3)


def _store(stack: Stack) -> SyncObjectStore:
    settings = S3Settings(
        endpoint=stack.s3.endpoint,
        access_key=stack.s3.access_key,
        secret_key=stack.s3.secret_key,
        bucket="gyre-training-tests",
    )
    return SyncObjectStore.from_settings(settings)


def _stored_events(stack: Stack, event_type: str, subject: str) -> list[Event]:
    """Every event of ``event_type`` about ``subject`` stored in the stream so far."""

    async def collect() -> list[Event]:
        settings = NatsSettings(url=stack.nats.url)
        nc = await connect_nats(settings, initial_timeout_s=10)
        found: list[Event] = []
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe(
                event_subject(settings, event_type), stream=settings.stream
            )
            pending = (await sub.consumer_info()).num_pending
            while pending > 0:
                msgs = await sub.fetch(min(pending, 256), timeout=10)
                pending -= len(msgs)
                for msg in msgs:
                    event = Event()
                    event.ParseFromString(msg.data)
                    if event.subject == subject:
                        found.append(event)
            await sub.unsubscribe()
        finally:
            await nc.close()
        return found

    return asyncio.run(collect())


def _events(stack: Stack, event_type: str, subject: str) -> list[Event]:
    """The events of ``event_type`` about ``subject``, once the relay has published one."""
    result: list[Event] = eventually(lambda: _stored_events(stack, event_type, subject))
    return result


def test_training_elec2_classifier_packages_a_matching_onnx_model(stack: Stack) -> None:
    with stack.client() as gyre:
        submitted = training.submit(
            gyre,
            dataset_version=stack.elec2,
            estimator=HGB,
            params={"max_iter": 60},
            seed=3,
            registered_model="models/elec2",
            experiment="elec2",
            labels={"team": "energy"},
        )
        assert submitted.state == run_pb2.RUN_STATE_QUEUED
        run = _wait(gyre, submitted.name)
        assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.failure_reason
        result = run.result
        metrics = {m.name: m.value for m in result.final_metrics}
        assert metrics["accuracy"] > MAJORITY_RATE + 0.15
        assert {m.name for m in result.train_metrics} >= {"accuracy", "roc_auc"}
        assert result.onnx_parity.passed
        assert result.onnx_parity.rows_compared > 5000
        assert result.onnx_parity.label_mismatch_rate == 0.0
        # Tracking: params (defaults resolved), seed, data digest, environment, usage.
        assert result.params["max_iter"].int64_value == 60
        version = sdk_data.get_version(gyre, stack.elec2)
        assert result.data_digest == version.digest
        assert result.environment.packages["scikit-learn"]
        assert result.environment.ray_version
        assert len(result.code_version.source_sha256) == 64
        assert result.resource_usage.wall_seconds > 0
        assert result.resource_usage.peak_memory_bytes > 0
        staged = training.metric_history(gyre, run.name, "val/log_loss")
        assert len(staged) > 5
        assert staged[-1][1] < staged[0][1]  # the validation loss fell while boosting

        # The artifact in S3 has the recorded digest, and its predictions on the
        # validation split give the accuracy the run reported (labels match the native
        # model's row for row: mismatch rate 0).
        store = _store(stack)
        key = result.model_artifact.uri.removeprefix("s3://gyre-training-tests/")
        onnx_bytes = store.get_bytes(key)
        assert hashlib.sha256(onnx_bytes).hexdigest() == result.model_artifact.sha256
        assert result.model_artifact.size_bytes == len(onnx_bytes)
        validation = sdk_data.read_pandas(gyre, stack.elec2, split="validation")
        features = [i.name for i in result.signature.inputs]
        assert features == ["date", "day", "period", "nswprice", "nswdemand", "vicprice",
                            "vicdemand", "transfer"]  # fmt: skip
        x = packaging.prepare_features(validation, features, [])
        session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        labels, probabilities = session.run(None, packaging.onnx_feed(x, []))
        onnx_accuracy = float(np.mean(labels == validation["class"].to_numpy()))
        assert onnx_accuracy == pytest.approx(metrics["accuracy"], abs=1e-9)
        assert probabilities.shape == (len(validation), 2)
        assert list(result.signature.outputs[0].categories) == ["DOWN", "UP"]

        # Search with the filter language.
        found = training.search_runs(
            gyre, filter="metrics.accuracy > 0.7 and params.max_iter = 60 and labels.team = energy"
        )
        assert run.name in [r.name for r in found]
        lines = [line.text for line in training.logs(gyre, run.name)]
        assert any(line.startswith("GYRE_RUN_CODE_STARTED") for line in lines)
        assert lines[-1] == "succeeded"

    # training.run.succeeded carries what the model registry needs.
    (event,) = _events(stack, "training.run.succeeded", run.name)
    payload = event.training_run_succeeded
    assert payload.registered_model == "models/elec2"
    assert payload.model_artifact.sha256 == result.model_artifact.sha256
    assert payload.dataset_version == stack.elec2
    assert payload.dataset_digest == result.data_digest
    assert payload.signature == result.signature
    assert payload.target_column == "class"
    assert payload.task == run_pb2.TASK_CLASSIFICATION
    assert {m.name for m in payload.metrics} >= {"accuracy", "roc_auc"}
    assert [e.type for e in _events(stack, "training.run.queued", run.name)] == [
        "training.run.queued"
    ]


def test_training_bank_marketing_with_categorical_columns(stack: Stack) -> None:
    with stack.client() as gyre:
        run = _wait(
            gyre,
            training.submit(
                gyre, dataset_version=stack.bank, estimator=HGB, params={"max_iter": 30}
            ).name,
        )
        assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.failure_reason
        inputs = {i.name: i for i in run.result.signature.inputs}
        assert inputs["V2"].data_type == value_pb2.DATA_TYPE_STRING
        assert inputs["V2"].categorical
        assert inputs["V1"].data_type == value_pb2.DATA_TYPE_FLOAT32
        assert run.result.onnx_parity.passed
        metrics = {m.name: m.value for m in run.result.final_metrics}
        assert metrics["accuracy"] > 0.85


def test_training_sweep_runs_four_trials_with_ray_tune(stack: Stack) -> None:
    with stack.client() as gyre:
        submitted = training.submit(
            gyre,
            dataset_version=stack.elec2_small,
            estimator=HGB,
            params={"max_iter": 20},
            cpus=0.5,  # per trial: two trials at a time on the 1-CPU head
            sweep={
                "metric": "accuracy",
                "mode": "max",
                "num_trials": 4,
                "parameters": {
                    "max_depth": {"int": [2, 8]},
                    "learning_rate": {"loguniform": [0.02, 0.3]},
                },
            },
            seed=11,
            experiment="sweeps",
        )
        run = _wait(gyre, submitted.name)
        assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.failure_reason
        trials = training.search_runs(
            gyre, filter=f'parent_run = "{run.name}"', order_by="metrics.accuracy desc"
        )
        assert len(trials) == 4
        assert all(t.state == run_pb2.RUN_STATE_SUCCEEDED for t in trials)
        assert run.result.best_trial == trials[0].name
        best_accuracy = {m.name: m.value for m in trials[0].result.final_metrics}["accuracy"]
        sweep_accuracy = {m.name: m.value for m in run.result.final_metrics}["accuracy"]
        assert sweep_accuracy == best_accuracy
        assert run.result.model_artifact.sha256 == trials[0].result.model_artifact.sha256
        assert {t.spec.params["max_depth"].int64_value for t in trials} <= set(range(2, 9))
        header, rows = training.compare(gyre, [t.name for t in trials])
        assert len(header) == 5
        assert "metrics.accuracy" in [row[0] for row in rows]


def test_training_cancel_stops_the_ray_job(stack: Stack) -> None:
    with stack.client() as gyre:
        submitted = training.submit(
            gyre,
            dataset_version=stack.elec2_small,
            entrypoint="gyre_test_trainers:fit",
            code_dir=stack.code_dir,
            params={"sleep_s": 600},
            cpus=0.25,
        )
        eventually(lambda: training.metric_history(gyre, submitted.name, "warmup"))
        cancelled = training.cancel(gyre, submitted.name, reason="no longer needed")
        assert cancelled.state == run_pb2.RUN_STATE_CANCELLED
        from ray.job_submission import JobSubmissionClient

        jobs = JobSubmissionClient(stack.ray_head.address, headers=stack.ray_head.auth_headers)
        eventually(lambda: jobs.get_job_status(cancelled.ray_job_id).is_terminal())
        assert str(jobs.get_job_status(cancelled.ray_job_id).value) == "STOPPED"
        assert training.get_run(gyre, submitted.name).failure_reason == "no longer needed"


def test_training_bad_input_is_refused_or_fails_with_the_reason(stack: Stack) -> None:
    with stack.client() as gyre:
        with pytest.raises(NotFound):
            training.submit(gyre, dataset_version="datasets/nope/versions/1", estimator=HGB)
        with pytest.raises(InvalidArgument, match="klass"):
            training.submit(gyre, dataset_version=stack.elec2_small, estimator=HGB, target="klass")
        with pytest.raises(InvalidArgument, match="NoSuchForest"):
            training.submit(
                gyre, dataset_version=stack.elec2_small, estimator="sklearn.ensemble.NoSuchForest"
            )
        rejected = training.submit(
            gyre,
            dataset_version=stack.elec2_small,
            estimator=HGB,
            params={"max_iter": -3},
            cpus=0.3,  # the three runs of this test share the 1-CPU head
        )
        broken = training.submit(
            gyre,
            dataset_version=stack.elec2_small,
            entrypoint="gyre_test_trainers:broken",
            code_dir=stack.code_dir,
            cpus=0.3,
        )
        after = training.submit(
            gyre, dataset_version=stack.elec2_small, estimator=HGB, params={"max_iter": 5}, cpus=0.3
        )
        rejected = _wait(gyre, rejected.name)
        assert rejected.state == run_pb2.RUN_STATE_FAILED
        assert "max_iter" in rejected.failure_reason
        broken = _wait(gyre, broken.name)
        assert broken.state == run_pb2.RUN_STATE_FAILED
        assert "the trainer broke on purpose" in broken.failure_reason
        assert "RuntimeError" in broken.failure_reason
        # The queue moved on.
        assert _wait(gyre, after.name).state == run_pb2.RUN_STATE_SUCCEEDED
    failed = _events(stack, "training.run.failed", broken.name)
    assert failed[0].training_run_failed.reason == broken.failure_reason


def test_training_run_completes_across_a_scheduler_restart(stack: Stack) -> None:
    with stack.client() as gyre:
        submitted = training.submit(
            gyre,
            dataset_version=stack.elec2_small,
            entrypoint="gyre_test_trainers:fit",
            code_dir=stack.code_dir,
            params={"sleep_s": 4},
        )
        eventually(lambda: training.metric_history(gyre, submitted.name, "warmup"))
    stack.training.stop()
    stack.training.start()  # same database; a new port
    with stack.client() as gyre:
        run = _wait(gyre, submitted.name)
        assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.failure_reason
        assert run.attempt_count == 1  # the job outlived the scheduler: not resubmitted
        assert run.result.model_artifact.sha256
        assert run.result.params["trainer"].string_value == "fit"
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=stack.code_dir, capture_output=True, text=True
        ).stdout.strip()
        assert run.result.code_version.git_commit == commit
        assert not run.result.code_version.git_dirty
        assert len(run.result.code_version.source_sha256) == 64
        # Points streamed to the old scheduler are kept, the rest backfilled from the
        # outcome: the whole history is there.
        assert training.metric_history(gyre, run.name, "warmup") == [
            (step, float(step)) for step in range(4)
        ]


def test_training_duplicated_trigger_event_creates_one_run(stack: Stack) -> None:
    dataset = f"ct-{uuid.uuid4().hex[:8]}"
    with stack.client() as gyre:
        template = run_pb2.RunSpec(task=run_pb2.TASK_CLASSIFICATION)
        template.trainer.builtin.estimator = HGB
        template.params["max_iter"].int64_value = 5
        trigger = training.create_trigger(
            gyre,
            f"on-{dataset}",
            kind="new_data",
            dataset=dataset,
            template=template,
            experiment="ct",
        )
        version = sdk_data.push(
            gyre,
            stack.code_dir.parent / "data" / "elec2-small.csv",
            dataset=dataset,
            target="class",
        )

        def trigger_runs() -> list[run_pb2.Run]:
            return training.search_runs(gyre, filter=f'trigger = "{trigger.name}"')

        (run,) = eventually(trigger_runs)
        assert run.cause.kind == cause_pb2.TRIGGER_KIND_NEW_DATA
        assert run.cause.subject == version.name
        assert run.spec.dataset_version == version.name
        (committed,) = _events(stack, "data.version.committed", version.name)
        assert run.cause.event_id == committed.id

        # Deliver the very same event again, bypassing JetStream's de-duplication
        # (as a redelivery or a second publisher would), and wait until it is consumed.
        async def redeliver() -> None:
            settings = NatsSettings(url=stack.nats.url)
            nc = await connect_nats(settings, initial_timeout_s=10)
            try:
                js = nc.jetstream()
                ack = await js.publish(
                    event_subject(settings, "data.version.committed"),
                    committed.SerializeToString(),
                )
                for _ in range(200):
                    info = await js.consumer_info(settings.stream, "training-triggers-data")
                    if info.ack_floor.stream_seq >= ack.seq:
                        return
                    await asyncio.sleep(0.2)
                pytest.fail("the redelivered event was not consumed")
            finally:
                await nc.close()

        asyncio.run(redeliver())
        assert [r.name for r in trigger_runs()] == [run.name]
        fired = training.list_triggers(gyre, filter=f'name = "{trigger.name}"')
        assert fired[0].fire_count == 1
        assert fired[0].last_run == run.name
        training.cancel(gyre, run.name, reason="test done")
    (event,) = _events(stack, "training.trigger.fired", trigger.name)
    assert event.training_trigger_fired.run == run.name
    assert event.training_trigger_fired.cause.event_id == committed.id


def _json_values(text: str) -> list[Any]:
    decoder = json.JSONDecoder()
    values, position = [], text.find("{")
    while position >= 0:
        value, end = decoder.raw_decode(text, position)
        values.append(value)
        position = text.find("{", end)
    return values


def test_training_cli_submit_runs_and_triggers(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import typer
    from typer.testing import CliRunner

    from gyre.cli.training import register

    monkeypatch.setenv("GYRE_TRAINING_ADDRESS", stack.training.target)
    monkeypatch.setenv("GYRE_DATA_REGISTRY_ADDRESS", stack.registry.target)
    # Every other service at a closed port, and no ~/.gyre/stack.json of a local stack.
    for key in ("model_registry", "validation", "inference", "monitoring"):
        monkeypatch.setenv(f"GYRE_{key.upper()}_ADDRESS", UNREACHABLE_PEER)
    monkeypatch.setenv("GYRE_HOME", str(tmp_path))
    app = typer.Typer()
    register(app)
    runner = CliRunner()

    def gyre_cli(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    experiment = f"cli-{uuid.uuid4().hex[:6]}"
    out = gyre_cli(
        "train", "submit", "--dataset", stack.elec2_small, "--trainer", HGB,
        "--param", "max_iter=5", "--cpus", "0.5", "--experiment", experiment, "--wait",
    )  # fmt: skip
    assert "SUCCEEDED" in out
    assert "accuracy = " in out
    # (The in-process services' access log shares stdout with the CLI: parse what is JSON.)
    (summary,) = _json_values(gyre_cli("runs", "ls", "--experiment", experiment, "--json"))
    assert summary["state"] == "SUCCEEDED"
    assert summary["params.max_iter"] == 5
    run = summary["run"]
    (shown,) = _json_values(gyre_cli("runs", "show", run, "--json"))
    assert shown["result"]["onnx_parity"]["passed"] is True
    assert "succeeded" in gyre_cli("runs", "logs", run, "--tail", "1")
    table = gyre_cli("runs", "compare", run, run)
    assert "metrics.accuracy" in table
    filtered = gyre_cli("runs", "ls", "--filter", f'experiment = "experiments/{experiment}"')
    assert run.removeprefix("runs/") in filtered
    # DATA in the short form --dataset accepts (elec2-small/1), consistently.
    short = stack.elec2_small.removeprefix("datasets/").replace("/versions/", "/")
    assert re.search(rf"\s{re.escape(short)}\s", filtered), filtered
    text = gyre_cli("runs", "show", run)
    assert "registered_model: " in text
    assert "params.max_iter: 5" in text
    assert "target_column: class" in text
    # --cpus: the help says what 0 / not given means (the scheduler's default_cpus, 1).
    assert "default_cpus" in gyre_cli("train", "submit", "--help")
    gyre_cli(
        "triggers", "create", f"{experiment}-manual", "--kind", "manual",
        "--dataset", stack.elec2_small, "--trainer", HGB, "--experiment", experiment,
    )  # fmt: skip
    assert f"{experiment}-manual" in gyre_cli("triggers", "ls")
    fired = gyre_cli("triggers", "fire", f"{experiment}-manual", "--reason", "cli test")
    fired_run = re.findall(r"(runs/\S+) (?:QUEUED|RUNNING)", fired)[0]
    assert "CANCELLED" in gyre_cli("runs", "cancel", fired_run)
    # The last firing is visible in ls and show; a disabled trigger is refused; delete.
    trigger_id = f"{experiment}-manual"
    listed = gyre_cli("triggers", "ls")
    assert re.search(rf"{trigger_id}\s.*fired \d{{4}}-", listed), listed
    shown = gyre_cli("triggers", "show", trigger_id)
    assert "last_firing: fired" in shown
    assert f"last_run: {fired_run}" in shown
    assert "target_column: (the dataset version's)" in shown
    assert fired_run.removeprefix("runs/") in {
        run.removeprefix("runs/") for run in re.findall(r"runs/\S+", shown)
    }
    (as_json,) = _json_values(gyre_cli("triggers", "show", trigger_id, "--json"))
    assert as_json["labels"]["gyre.dev/last-firing-outcome"] == "fired"
    assert "disabled" in gyre_cli("triggers", "disable", trigger_id)
    refused = runner.invoke(app, ["triggers", "fire", trigger_id])
    assert refused.exit_code == 1
    assert "disabled" in refused.output
    assert "enabled" in gyre_cli("triggers", "enable", trigger_id)
    assert f"triggers/{trigger_id} deleted" in gyre_cli("triggers", "delete", trigger_id)
    assert trigger_id not in gyre_cli("triggers", "ls")
    gone = runner.invoke(app, ["triggers", "show", trigger_id])
    assert gone.exit_code == 1
    assert "NotFound" in gone.output
    bad = runner.invoke(
        app, ["train", "submit", "--dataset", stack.elec2_small, "--trainer", "sklearn.Nope"]
    )
    assert bad.exit_code == 1
    assert "InvalidArgument" in bad.output
