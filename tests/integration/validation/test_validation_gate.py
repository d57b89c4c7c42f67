"""The validation gate end to end: Elec2 pushed to the real data registry, models
registered in the real model registry, validated automatically on
``models.version.registered`` and manually, verdicts applied by the registry."""

# The fixture imported from validation_support is a test parameter of the same name.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import uuid
from typing import Any

import pandas as pd
import pytest
import typer
from google.protobuf.field_mask_pb2 import FieldMask
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier
from support.datasets import ELECTRICITY, dataset_path
from support.onnx_models import train_onnx
from typer.testing import CliRunner
from validation_support import (  # noqa: F401 - the fixture is used by name
    CHECK_ERROR,
    CHECK_FAILED,
    CHECK_PASSED,
    CHECK_SKIPPED,
    ERROR,
    FAILED,
    PASSED,
    Stack,
    checks_by_name,
    gate_stack,
    new_model_id,
)

from gyre.cli.validation import register as register_cli
from gyre.common.v1 import split_pb2, value_pb2
from gyre.events.v1.event_pb2 import Event
from gyre.events.v1.models_events_pb2 import ModelsVersionRegistered
from gyre.models.v1 import model_version_pb2
from gyre.runtime.events import build_event, connect_nats, event_subject, tail_events
from gyre.runtime.objectstore import ObjectStore
from gyre.sdk import Aborted, FailedPrecondition, InvalidArgument, NotFound
from gyre.sdk import data as data_sdk
from gyre.sdk import models as models_sdk
from gyre.sdk import validation as validation_sdk
from gyre.services.validation._gate import CONSUMER_NAME
from gyre.validation.v1 import validation_pb2, validation_policy_pb2, validation_service_pb2

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")
VALIDATED = model_version_pb2.MODEL_VERSION_STATUS_VALIDATED
REJECTED = model_version_pb2.MODEL_VERSION_STATUS_REJECTED


def strong() -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=20, max_depth=10, random_state=0)


def stump() -> DecisionTreeClassifier:
    return DecisionTreeClassifier(max_depth=1, random_state=0)


async def _champion(gate_stack: Stack, model_id: str) -> model_version_pb2.ModelVersion:
    """Register the strong model, let the gate pass it, make it the champion."""
    version = await gate_stack.register(model_id, gate_stack.model("strong", strong))
    validation = await gate_stack.validation_of(version.name)
    assert validation.verdict == PASSED, validation
    await gate_stack.status_of(version.name, VALIDATED)
    await models_sdk.set_alias(gate_stack.client, model_id, "champion", version.version)
    return version


async def test_good_candidate_passes_and_the_registry_validates_it(gate_stack: Stack) -> None:
    model_id = new_model_id("good")
    version = await gate_stack.register(model_id, gate_stack.model("strong", strong))
    validation = await gate_stack.validation_of(version.name)

    assert validation.verdict == PASSED
    assert validation.state == validation_pb2.VALIDATION_STATE_COMPLETED
    assert validation.model_version == version.name
    assert validation.champion_version == ""
    assert validation.dataset_version == gate_stack.dataset_version.name
    assert validation.split == split_pb2.SPLIT_TEST
    test_rows = next(
        s.row_count
        for s in gate_stack.dataset_version.split_stats
        if s.split == split_pb2.SPLIT_TEST
    )
    assert validation.test_row_count == test_rows
    assert validation.duration.ToTimedelta().total_seconds() > 0
    assert validation.cause != "manual"  # the registered event's id
    assert validation.policy.name == "validationPolicies/default"
    checks = checks_by_name(validation)
    assert checks["artifact"].verdict == CHECK_PASSED
    assert checks["leakage"].verdict == CHECK_PASSED
    assert checks["leakage"].observed_value == 0
    assert checks["sample_size"].observed_value == test_rows
    assert checks["non_regression:accuracy"].verdict == CHECK_SKIPPED
    assert "no champion yet" in checks["non_regression:accuracy"].message
    metrics = {m.name: m.value for m in validation.candidate_metrics}
    assert metrics["accuracy"] > 0.75
    assert metrics["roc_auc"] > 0.8

    registered = await gate_stack.status_of(version.name, VALIDATED)
    assert registered.validation == validation.name


async def test_depth_one_tree_fails_non_regression_against_a_stronger_champion(
    gate_stack: Stack,
) -> None:
    model_id = new_model_id("weak")
    champion = await _champion(gate_stack, model_id)
    candidate = await gate_stack.register(model_id, gate_stack.model("stump", stump))
    validation = await gate_stack.validation_of(candidate.name)

    assert validation.verdict == FAILED
    assert validation.champion_version == champion.name
    check = checks_by_name(validation)["non_regression:accuracy"]
    assert check.verdict == CHECK_FAILED
    candidate_accuracy = {m.name: m.value for m in validation.candidate_metrics}["accuracy"]
    champion_accuracy = {m.name: m.value for m in validation.champion_metrics}["accuracy"]
    assert check.observed_value == pytest.approx(candidate_accuracy)
    assert check.threshold == pytest.approx(champion_accuracy - 0.02)
    assert candidate_accuracy < champion_accuracy - 0.02
    assert champion.name in check.message
    rejected = await gate_stack.status_of(candidate.name, REJECTED)
    assert "non_regression:accuracy" in rejected.status_message


async def test_per_slice_minimum_fails(gate_stack: Stack) -> None:
    model_id = new_model_id("slice")
    await _champion(gate_stack, model_id)  # creates the model; the policy then applies
    policy = validation_policy_pb2.ValidationPolicy(
        slice_rules=[
            validation_policy_pb2.SliceRule(
                name="weekend",
                column="day",
                range=validation_policy_pb2.NumericRange(min=6),
                metric="accuracy",
                threshold=0.99,
            ),
            validation_policy_pb2.SliceRule(
                column="day",
                equals=value_pb2.Value(int64_value=2),
                metric="accuracy",
                threshold=0.5,
            ),
        ],
        leakage_check_enabled=True,
        min_test_rows=100,
        latency_budget=validation_policy_pb2.LatencyBudget(
            p95_single_row_ms=1000, p95_batch_ms=10_000, batch_size=128
        ),
    )
    updated = await validation_sdk.set_policy(gate_stack.client, model_id, policy)
    assert updated.name == f"models/{model_id}/validationPolicy"
    assert updated.slice_rules[1].name == "day=2"

    candidate = await gate_stack.register(model_id, gate_stack.model("strong", strong))
    result = await validation_sdk.validate(gate_stack.client, candidate.name)
    done = await validation_sdk.wait_for_validation(gate_stack.client, result.name, timeout_s=90)

    assert done.verdict == FAILED
    assert done.policy.name == f"models/{model_id}/validationPolicy"
    checks = checks_by_name(done)
    weekend = checks["slice:weekend:accuracy"]
    assert weekend.verdict == CHECK_FAILED
    assert weekend.threshold == 0.99
    assert 0.5 < weekend.observed_value < 0.99
    assert checks["slice:day=2:accuracy"].verdict == CHECK_PASSED
    for budget in ("latency:p95_single_row_ms", "latency:p95_batch_ms"):
        assert checks[budget].verdict == CHECK_PASSED
        assert checks[budget].observed_value > 0
    assert [c.name for c in validation_sdk.failed_checks(done)] == ["slice:weekend:accuracy"]


async def test_signature_change_is_refused(gate_stack: Stack) -> None:
    model_id = new_model_id("sig")
    await _champion(gate_stack, model_id)
    narrower = gate_stack.model("no-transfer", strong, drop=("transfer",))
    candidate = await gate_stack.register(model_id, narrower)
    validation = await gate_stack.validation_of(candidate.name)

    assert validation.verdict == FAILED
    check = checks_by_name(validation)["signature"]
    assert check.verdict == CHECK_FAILED
    assert "input 'transfer' was removed" in check.message
    await gate_stack.status_of(candidate.name, REJECTED)

    # The policy may allow breaking changes; a manual re-run then passes the check.
    await validation_sdk.set_policy(
        gate_stack.client, model_id, allow_breaking_signature_change=True
    )
    rerun = await validation_sdk.validate(gate_stack.client, candidate.name)
    rerun = await validation_sdk.wait_for_validation(gate_stack.client, rerun.name, timeout_s=90)
    assert rerun.cause == "manual"
    assert checks_by_name(rerun)["signature"].verdict == CHECK_PASSED
    assert "breaking change allowed" in checks_by_name(rerun)["signature"].message


async def test_leakage_detected_when_evaluated_on_rows_it_trained_on(gate_stack: Stack) -> None:
    model_id = new_model_id("leak")
    await _champion(gate_stack, model_id)
    await validation_sdk.set_policy(
        gate_stack.client,
        model_id,
        validation_policy_pb2.ValidationPolicy(
            leakage_check_enabled=True, split=split_pb2.SPLIT_TRAIN
        ),
        update_mask=["leakage_check_enabled", "split"],
    )
    candidate = await gate_stack.register(model_id, gate_stack.model("strong", strong))
    validation = await gate_stack.validation_of(candidate.name)

    assert validation.verdict == FAILED
    assert validation.split == split_pb2.SPLIT_TRAIN
    leakage = checks_by_name(validation)["leakage"]
    assert leakage.verdict == CHECK_FAILED
    assert leakage.observed_value == validation.test_row_count == len(gate_stack.train)
    assert leakage.threshold == 0
    assert "trained on rows it is evaluated on" in leakage.message

    # A "hold-out" dataset version that contains 400 of the training rows (all of its
    # rows in its test split): evaluated on it by request, the overlap is found.
    def push_holdout() -> str:
        path = gate_stack.home / f"holdout-{model_id}.csv"
        gate_stack.train.head(400).to_csv(path, index=False)
        with gate_stack.sync_client() as gyre:
            version = data_sdk.push(
                gyre, path, dataset=f"holdout-{model_id}", target="class", split=(0.0, 0.0, 1.0)
            )
        return str(version.name)

    holdout = await asyncio.to_thread(push_holdout)
    await validation_sdk.set_policy(
        gate_stack.client,
        model_id,
        validation_policy_pb2.ValidationPolicy(split=split_pb2.SPLIT_TEST),
        update_mask=["split"],
    )
    manual = await validation_sdk.validate(
        gate_stack.client, candidate.name, dataset_version=holdout
    )
    manual = await validation_sdk.wait_for_validation(gate_stack.client, manual.name, timeout_s=90)
    assert manual.dataset_version == holdout
    assert manual.test_row_count == 400
    leakage = checks_by_name(manual)["leakage"]
    assert leakage.verdict == CHECK_FAILED
    assert leakage.observed_value == 400
    assert gate_stack.dataset_version.name in leakage.message


async def test_report_shows_every_check_with_observed_value_threshold_and_verdict(
    gate_stack: Stack,
) -> None:
    model_id = new_model_id("report")
    await _champion(gate_stack, model_id)
    candidate = await gate_stack.register(model_id, gate_stack.model("stump", stump))
    validation = await gate_stack.validation_of(candidate.name)

    response = await gate_stack.report(validation.name)
    assert response.media_type == "text/markdown"
    markdown = response.content
    assert response.report.uri == validation.report.uri
    assert response.report.sha256 == hashlib.sha256(markdown.encode()).hexdigest()
    # The stored artifact is the very report served.
    bucket, key = validation.report.uri.removeprefix("s3://").split("/", 1)
    store = ObjectStore.from_settings(gate_stack.settings["validation"].s3, bucket=bucket)
    assert (await store.get_bytes(key)).decode() == markdown

    assert "| check | kind | observed | comparator | threshold | verdict | detail |" in markdown
    for check in validation.checks:
        row = next(line for line in markdown.splitlines() if line.startswith(f"| {check.name} |"))
        verdict = validation_pb2.CheckVerdict.Name(check.verdict).removeprefix("CHECK_VERDICT_")
        assert f"| {verdict} |" in row
        if check.HasField("observed_value"):
            assert f"{check.observed_value:.4f}" in row or f"| {int(check.observed_value)} |" in row
        if check.HasField("threshold"):
            assert f"{check.threshold:.4f}" in row or f"| {int(check.threshold)} |" in row
    assert "Confusion matrix (candidate" in markdown
    assert "Confusion matrix (champion)" in markdown

    html = await gate_stack.report(validation.name, validation_service_pb2.REPORT_FORMAT_HTML)
    assert html.media_type == "text/html"
    assert "non_regression:accuracy" in html.content
    as_json = await gate_stack.report(validation.name, validation_service_pb2.REPORT_FORMAT_JSON)
    assert as_json.media_type == "application/json"
    assert validation.name in as_json.content


async def test_bad_inputs_complete_with_verdict_error_and_a_reason(gate_stack: Stack) -> None:
    model_id = new_model_id("bad")
    good = gate_stack.model("strong", strong)

    # Not ONNX at all (the registry checks integrity, not the format).
    garbage = await gate_stack.register(
        model_id, b"\x00not an onnx model" * 64, signature=good.signature
    )
    validation = await gate_stack.validation_of(garbage.name)
    assert validation.verdict == ERROR
    assert "not a valid ONNX model" in validation.error_message
    assert checks_by_name(validation)["artifact"].verdict == CHECK_ERROR
    await gate_stack.status_of(garbage.name, REJECTED)

    # A signature naming columns the data does not have.
    renamed = gate_stack.train.rename(columns={"nswprice": "price"})
    other = train_onnx(renamed, "class", DecisionTreeClassifier(max_depth=3, random_state=0))
    mismatch = await gate_stack.register(model_id, other)
    validation = await gate_stack.validation_of(mismatch.name)
    assert validation.verdict == ERROR
    assert "signature does not match the data's columns" in validation.error_message
    assert "'price'" in validation.error_message

    # A dataset version without a test split.
    def push_train_only() -> str:
        path = gate_stack.home / "train-only.csv"
        gate_stack.train.head(500).to_csv(path, index=False)
        with gate_stack.sync_client() as gyre:
            version = data_sdk.push(
                gyre,
                path,
                dataset=f"trainonly-{uuid.uuid4().hex[:6]}",
                target="class",
                split=(1.0, 0.0, 0.0),
            )
        return str(version.name)

    train_only = await asyncio.to_thread(push_train_only)
    no_split = await gate_stack.register(model_id, good, dataset_version=train_only)
    validation = await gate_stack.validation_of(no_split.name)
    assert validation.verdict == ERROR
    assert f"{train_only} has no test split" in validation.error_message
    # The manual RPC refuses it up front.
    with pytest.raises(FailedPrecondition) as refused:
        await validation_sdk.validate(gate_stack.client, no_split.name)
    assert refused.value.reason == "NO_USABLE_SPLIT"


async def test_rpc_errors_have_the_right_status(gate_stack: Stack) -> None:
    with pytest.raises(NotFound):
        await validation_sdk.validate(gate_stack.client, "models/nope-123/versions/1")
    with pytest.raises(InvalidArgument):
        await validation_sdk.validate(gate_stack.client, "fraud-3")
    with pytest.raises(NotFound):
        await validation_sdk.get_validation(gate_stack.client, "validations/doesnotexist")
    with pytest.raises(InvalidArgument):
        await validation_sdk.get_validation(gate_stack.client, "models/x")
    with pytest.raises(NotFound):
        await validation_sdk.get_policy(gate_stack.client, "nope-123")
    with pytest.raises(InvalidArgument):
        await validation_sdk.list_validations(gate_stack.client, filter="color = blue")

    model_id = new_model_id("rpc")
    version = await gate_stack.register(model_id, gate_stack.model("strong", strong))
    # Policies: a malformed rule, a stale etag, a missing policy without allow_missing.
    with pytest.raises(InvalidArgument) as bad_rule:
        await validation_sdk.set_policy(gate_stack.client, model_id, thresholds={"accurracy": 0.7})
    assert any("accurracy" in v.description for v in bad_rule.value.field_violations)
    with pytest.raises(NotFound):
        await validation_sdk.set_policy(
            gate_stack.client, model_id, min_test_rows=5, allow_missing=False
        )
    created = await validation_sdk.set_policy(gate_stack.client, model_id, min_test_rows=5)
    policy, is_default = await validation_sdk.get_policy(gate_stack.client, model_id)
    assert not is_default
    assert policy.min_test_rows == 5
    assert policy.etag == created.etag
    # Rules not in the mask come from the default policy the model's policy started from.
    assert {r.metric for r in policy.non_regression_rules} == {"accuracy", "rmse"}
    await validation_sdk.set_policy(gate_stack.client, model_id, min_test_rows=6, etag=created.etag)
    with pytest.raises(Aborted):
        await validation_sdk.set_policy(
            gate_stack.client, model_id, min_test_rows=7, etag=created.etag
        )
    with pytest.raises(InvalidArgument):
        await gate_stack.client.validation.UpdateValidationPolicy(
            validation_service_pb2.UpdateValidationPolicyRequest(
                validation_policy=validation_policy_pb2.ValidationPolicy(
                    name=f"models/{model_id}/validationPolicy"
                ),
                update_mask=FieldMask(paths=["update_time"]),
            )
        )
    default, is_default = await validation_sdk.get_policy(gate_stack.client, "default")
    assert is_default
    assert default.name == "validationPolicies/default"

    # ValidateModelVersion is idempotent on request_id.
    first = await validation_sdk.validate(gate_stack.client, version.name, request_id="req-1")
    again = await validation_sdk.validate(gate_stack.client, version.name, request_id="req-1")
    assert first.name == again.name
    assert first.state in (
        validation_pb2.VALIDATION_STATE_PENDING,
        validation_pb2.VALIDATION_STATE_RUNNING,
    )
    done = await validation_sdk.wait_for_validation(gate_stack.client, first.name, timeout_s=90)
    assert done.verdict == PASSED
    assert done.policy.min_test_rows == 6


async def test_listing_filters_and_pages(gate_stack: Stack) -> None:
    model_id = new_model_id("list")
    version = await gate_stack.register(model_id, gate_stack.model("strong", strong))
    await gate_stack.validation_of(version.name)
    for _ in range(2):
        manual = await validation_sdk.validate(gate_stack.client, version.name)
        await validation_sdk.wait_for_validation(gate_stack.client, manual.name, timeout_s=90)
    seen: list[str] = []
    token = ""
    while True:
        page = await validation_sdk.list_validations(
            gate_stack.client,
            filter=f'registered_model = "models/{model_id}"',
            page_size=2,
            page_token=token,
        )
        seen += [v.name for v in page.validations]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 3
    newest_first = await validation_sdk.list_validations(
        gate_stack.client, filter=f'model_version = "{version.name}" AND verdict = PASSED'
    )
    times = [v.create_time.ToDatetime() for v in newest_first.validations]
    assert times == sorted(times, reverse=True)
    failed = await validation_sdk.list_validations(
        gate_stack.client, filter=f'registered_model = "models/{model_id}" AND verdict = FAILED'
    )
    assert list(failed.validations) == []


async def _drained(nc: Any, stream: str, consumer: str) -> None:
    js = nc.jetstream()
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        info = await js.consumer_info(stream, consumer)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        assert asyncio.get_running_loop().time() < deadline, info
        await asyncio.sleep(0.2)


async def test_redelivered_registration_is_validated_once(gate_stack: Stack) -> None:
    settings = gate_stack.settings["validation"]
    nc = await connect_nats(settings.nats)
    completed: list[Any] = []
    events = tail_events(
        nc, settings.nats, subject=event_subject(settings.nats, "validation.completed")
    )

    async def collect() -> None:
        async for event in events:
            completed.append(event)

    collector = asyncio.ensure_future(collect())
    try:
        await asyncio.sleep(0.3)
        model_id = new_model_id("once")
        version = await gate_stack.register(model_id, gate_stack.model("strong", strong))
        first = await gate_stack.validation_of(version.name)
        registered_event_id = first.cause

        # The same event delivered again (twice: two stream messages with one event id),
        # and a second event about the same version under a new id.
        js = nc.jetstream()
        subject = event_subject(settings.nats, "models.version.registered")
        for event_id in (registered_event_id, registered_event_id, str(uuid.uuid4())):
            envelope = build_event(
                Event,
                type="models.version.registered",
                source="model-registry",
                subject=version.name,
                payload=ModelsVersionRegistered(model_version=version),
                id=event_id,
            )
            await js.publish(subject, envelope.SerializeToString(), stream=settings.nats.stream)
        await _drained(nc, settings.nats.stream, CONSUMER_NAME)
        page = await validation_sdk.list_validations(
            gate_stack.client, filter=f'model_version = "{version.name}"'
        )
        assert [v.name for v in page.validations] == [first.name]

        # Exactly one validation.completed for it, with the verdict and the report link.
        deadline = asyncio.get_running_loop().time() + 30
        while not any(e.subject == first.name for e in completed):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        mine = [e for e in completed if e.validation_completed.model_version == version.name]
        assert len(mine) == 1
        payload = mine[0].validation_completed
        assert payload.validation == first.name
        assert payload.registered_model == f"models/{model_id}"
        assert payload.verdict == PASSED
        assert list(payload.failed_checks) == []
        assert payload.dataset_version == gate_stack.dataset_version.name
        assert payload.report_uri == first.report.uri
        assert {m.name for m in payload.candidate_metrics} >= {"accuracy", "roc_auc"}
        assert mine[0].causation_id == registered_event_id
    finally:
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
        await events.aclose()
        await nc.close()


async def test_cli_validate_wait_show_list_and_policies(gate_stack: Stack) -> None:
    model_id = new_model_id("cli")
    await _champion(gate_stack, model_id)
    candidate = await gate_stack.register(model_id, gate_stack.model("stump", stump))
    await gate_stack.validation_of(candidate.name)
    app = typer.Typer()
    register_cli(app)
    runner = CliRunner()
    env = {
        "GYRE_VALIDATION_ADDRESS": gate_stack.targets["validation"],
        "GYRE_MODEL_REGISTRY_ADDRESS": gate_stack.targets["model_registry"],
        "GYRE_HOME": str(gate_stack.home),
    }

    class Output:
        def __init__(self, exit_code: int, output: str) -> None:
            self.exit_code, self.output = exit_code, output

    def cli(*args: str) -> Output:
        result = runner.invoke(app, list(args), env=env)
        # CliRunner swaps sys.stdout for the whole process: drop the in-process
        # services' log lines that land in it meanwhile.
        lines = [line for line in result.output.splitlines() if not LOG_LINE.match(line)]
        return Output(result.exit_code, "\n".join(lines))

    result = await asyncio.to_thread(
        cli, "policies", "set", model_id, "--threshold", "accuracy>=0.6", "--min-test-rows", "50"
    )
    assert result.exit_code == 0, result.output
    assert f"updated models/{model_id}/validationPolicy" in result.output
    result = await asyncio.to_thread(cli, "policies", "show", model_id, "--json")
    shown = json.loads(result.output)
    assert shown["is_default"] is False
    assert shown["policy"]["min_test_rows"] == "50"
    assert shown["policy"]["metric_thresholds"][0]["metric"] == "accuracy"

    # --wait exits 1 on FAILED (the stump is worse than the champion).
    result = await asyncio.to_thread(cli, "validate", candidate.name, "--wait", "--json")
    assert result.exit_code == 1, result.output
    validation = json.loads(result.output)
    assert validation["verdict"] == "VALIDATION_VERDICT_FAILED"
    name = validation["name"]

    result = await asyncio.to_thread(cli, "validations", "show", name)
    assert result.exit_code == 0, result.output
    assert "FAILED" in result.output
    for check in validation["checks"]:
        assert check["name"] in result.output
    assert "[FAILED ] non_regression:accuracy: observed" in result.output

    result = await asyncio.to_thread(cli, "validations", "show", name, "--report")
    assert result.output.startswith(f"# Validation {name}")
    result = await asyncio.to_thread(
        cli, "validations", "ls", "--model", model_id, "--verdict", "failed"
    )
    assert result.exit_code == 0, result.output
    assert name in result.output
    assert "non_regression:accuracy" in result.output
    result = await asyncio.to_thread(cli, "validations", "show", "validations/nope")
    assert result.exit_code == 1
    assert "does not exist" in result.output


async def test_regressor_gets_rmse_non_regression_and_a_residual_summary(gate_stack: Stack) -> None:
    model_id = new_model_id("reg")
    columns = ["date", "period", "nswprice", "vicprice", "vicdemand", "transfer", "nswdemand"]

    def push_and_read() -> tuple[str, Any]:
        path = gate_stack.home / f"{model_id}.csv"
        sample = pd.read_csv(dataset_path(ELECTRICITY)).sample(n=3000, random_state=21)
        sample[columns].to_csv(path, index=False)
        with gate_stack.sync_client() as gyre:
            version = data_sdk.push(gyre, path, dataset=model_id, target="nswdemand")
            train = data_sdk.read_pandas(gyre, version.name, split="train")
        return str(version.name), train

    dataset_version, train = await asyncio.to_thread(push_and_read)
    model = train_onnx(train, "nswdemand", LinearRegression())
    version = await gate_stack.register(model_id, model, dataset_version=dataset_version)
    validation = await gate_stack.validation_of(version.name)

    assert validation.verdict == PASSED, validation
    checks = checks_by_name(validation)
    assert checks["non_regression:accuracy"].verdict == CHECK_SKIPPED
    assert "does not apply to a regression model" in checks["non_regression:accuracy"].message
    assert checks["leakage"].verdict == CHECK_PASSED
    assert {m.name for m in validation.candidate_metrics} == {"rmse", "mse", "mae", "r2"}
    report = await gate_stack.report(validation.name)
    assert "Residuals (candidate; prediction - truth)" in report.content
    assert "| mean_absolute |" in report.content
