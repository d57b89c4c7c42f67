"""Client-side helpers for the inference gateway (``gyre.inference.v1.InferenceService``).

Each helper takes a blocking :class:`~gyre.sdk.GyreClient` (and returns the result)
or an :class:`~gyre.sdk.AsyncGyreClient` (and returns an awaitable)::

    from gyre.sdk import GyreClient
    from gyre.sdk.inference import deploy, predict, record_feedback

    with GyreClient() as gyre:
        deployment = deploy(gyre, "elec2", version=3, name="elec2-live")
        answer = predict(gyre, "elec2-live", [{"nswprice": 0.05, "day": 2, ...}])
        print(answer.model_version, answer.predictions[0].prediction.string_value)
        record_feedback(gyre, "elec2-live", answer.request_id, "UP")

Control-plane helpers (``deploy``, ``rollout``, ``promote``, ``rollback``,
``update_policy``) send the actor (``by=``, else :func:`actor`) as gRPC metadata
``gyre-actor``; the gateway records it in the deployment's history.

Rows are dicts of column name to a Python scalar (``None``/NaN for missing values):
floats become ``double_value``, ints ``int64_value``, strings ``string_value``,
bools ``bool_value``; the gateway converts them to the model's signature and answers
INVALID_ARGUMENT (``InvalidArgument``) naming the expected inputs when they do not fit.
"""

from __future__ import annotations

import getpass
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from google.protobuf import duration_pb2, field_mask_pb2

from gyre.common.v1 import value_pb2
from gyre.inference.v1 import deployment_pb2, inference_service_pb2, prediction_pb2
from gyre.models.v1 import models_service_pb2
from gyre.sdk.client import AsyncGyreClient, GyreClient
from gyre.sdk.errors import DeadlineExceeded, NotFound

__all__ = [
    "actor",
    "actor_metadata",
    "deploy",
    "deployment_name",
    "predict",
    "promote",
    "record_feedback",
    "record_feedback_batch",
    "rollback",
    "rollout",
    "rollout_policy",
    "to_row",
    "to_value",
    "update_policy",
    "wait_until_serving",
]

T = TypeVar("T")
R = TypeVar("R")
Client = GyreClient | AsyncGyreClient
_CHAMPION = deployment_pb2.ROUTE_ROLE_CHAMPION


ACTOR_METADATA_KEY = "gyre-actor"


def actor(explicit: str | None = None) -> str:
    """Who acts: ``explicit``, else ``$GYRE_ACTOR``, ``$USER``, the login name
    (``getpass.getuser()``), else ``cli@<hostname>`` — never empty, so history entries
    name someone even where ``$USER`` is unset (containers, CI)."""
    who = explicit or os.environ.get("GYRE_ACTOR") or os.environ.get("USER") or ""
    if not who:
        try:
            who = getpass.getuser()
        except (OSError, KeyError, ImportError):
            who = ""
    return who or f"cli@{socket.gethostname() or 'unknown'}"


def actor_metadata(explicit: str | None = None) -> tuple[tuple[str, str], ...]:
    """gRPC metadata naming the actor (see :func:`actor`); the gateway records it."""
    return ((ACTOR_METADATA_KEY, actor(explicit)),)


def deployment_name(deployment: str) -> str:
    """``"deployments/x"`` for ``"x"`` or ``"deployments/x"``."""
    return deployment if deployment.startswith("deployments/") else f"deployments/{deployment}"


def _model(model: str) -> str:
    return model if model.startswith("models/") else f"models/{model}"


def _version(model: str, version: int | str) -> str:
    text = str(version)
    return text if text.startswith("models/") else f"{_model(model)}/versions/{text}"


def to_value(value: Any) -> value_pb2.Value:
    """A ``gyre.common.v1.Value`` holding a Python scalar (None/NaN: null)."""
    cell = value_pb2.Value()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        cell.null_value = 0  # type: ignore[assignment]
    elif isinstance(value, bool):
        cell.bool_value = value
    elif isinstance(value, int):
        cell.int64_value = value
    elif isinstance(value, float):
        cell.double_value = value
    elif isinstance(value, bytes):
        cell.bytes_value = value
    elif hasattr(value, "item"):  # numpy scalars
        return to_value(value.item())
    else:
        cell.string_value = str(value)
    return cell


def to_row(record: Mapping[str, Any]) -> value_pb2.Row:
    """A ``gyre.common.v1.Row`` from a dict of column name to scalar."""
    row = value_pb2.Row()
    for column, value in record.items():
        row.values[column].CopyFrom(to_value(value))
    return row


def _then(result: Any, after: Callable[[Any], R]) -> R | Awaitable[R]:
    if isinstance(result, Awaitable):

        async def finish() -> R:
            return after(await result)

        return finish()
    return after(result)


# Defaults of a policy built client-side (proto3 cannot tell an unset bool from false):
# a newer version that passes validation starts a canary by itself, which is judged
# after 100 requests and promoted or rolled back on its own.
DEFAULT_POLICY: dict[str, Any] = {
    "canary_weight": 10,
    "min_requests": 100,
    "max_error_rate": 0.01,
    "max_p99_latency_ms": 0.0,
    "live_metric": "",
    "max_live_metric_drop": 0.05,
    "auto_promote": True,
    "auto_rollback": True,
    "auto_rollout_on_validation": True,
}
_DURATIONS = ("judge_interval", "max_duration")


def _set_policy_field(policy: deployment_pb2.RolloutPolicy, field: str, value: Any) -> None:
    if field in _DURATIONS:
        getattr(policy, field).CopyFrom(
            duration_pb2.Duration(seconds=int(value), nanos=round((float(value) % 1) * 1e9))
        )
    elif field in DEFAULT_POLICY:
        setattr(policy, field, value)
    else:
        raise ValueError(f"unknown rollout policy field {field!r}")


def rollout_policy(**fields: Any) -> deployment_pb2.RolloutPolicy:
    """A ``RolloutPolicy``: :data:`DEFAULT_POLICY` (auto-rollout on validation,
    auto-promote and auto-rollback on, judged after 100 requests, at most 1 % errors)
    overridden by ``fields``
    (``canary_weight``, ``min_requests``, ``max_error_rate``, ``max_p99_latency_ms``,
    ``live_metric``, ``max_live_metric_drop``, ``auto_promote``, ``auto_rollback``,
    ``auto_rollout_on_validation``, ``judge_interval`` / ``max_duration`` in seconds).
    """
    policy = deployment_pb2.RolloutPolicy()
    for field, value in {**DEFAULT_POLICY, **fields}.items():
        _set_policy_field(policy, field, value)
    return policy


def update_policy(client: Client, deployment: str, *, by: str | None = None, **fields: Any) -> Any:
    """Change only the given rollout policy ``fields`` of ``deployment`` (same names as
    :func:`rollout_policy`, plus ``sample_rate`` for the prediction log); returns the
    updated ``Deployment``.

    Raises:
        NotFound, InvalidArgument (a value out of range), ValueError (unknown field or
        none given).
    """
    if not fields:
        raise ValueError("give at least one rollout policy field to change")
    change = deployment_pb2.Deployment(name=deployment_name(deployment))
    paths = []
    for field, value in fields.items():
        if field == "sample_rate":  # the deployment's, not the policy's
            change.prediction_log_sample_rate = float(value)
            paths.append("prediction_log_sample_rate")
            continue
        _set_policy_field(change.rollout_policy, field, value)
        paths.append(f"rollout_policy.{field}")
    request = inference_service_pb2.UpdateDeploymentRequest(
        deployment=change, update_mask=field_mask_pb2.FieldMask(paths=paths)
    )
    return _then(
        client.inference.UpdateDeployment(request, metadata=actor_metadata(by)),
        lambda r: r.deployment,
    )


def deploy(
    client: Client,
    model: str,
    *,
    version: int | str | None = None,
    name: str | None = None,
    allow_unvalidated: bool = False,
    sample_rate: float = 1.0,
    policy: deployment_pb2.RolloutPolicy | None = None,
    by: str | None = None,
) -> Any:
    """Create a deployment of ``model`` (``"fraud"`` or ``"models/fraud"``).

    ``version`` (a number, an alias such as ``"champion"``, or a full version name)
    becomes the champion; without it the model's ``champion`` alias does, else its
    latest VALIDATED version, and when it has neither the deployment waits
    (AWAITING_VERSION) for its next version that passes validation
    (``auto_rollout_on_validation``). ``name`` defaults to the
    model id. ``sample_rate`` (default 1.0: every prediction) is the share of
    predictions logged for the monitor; the gateway's bounded queue drops records
    rather than slow predictions. ``policy`` defaults to :func:`rollout_policy` () (auto-promote and
    auto-rollback on). Returns the ``Deployment`` (awaitable with an async client).

    Raises:
        AlreadyExists, NotFound, FailedPrecondition (version not VALIDATED unless
        ``allow_unvalidated``), InvalidArgument, Unavailable (Triton).
    """
    model_name = _model(model)
    deployment_id = (name or model_name.removeprefix("models/")).removeprefix("deployments/")
    policy_message = rollout_policy() if policy is None else policy
    metadata = actor_metadata(by)

    def request_for(champion: str) -> inference_service_pb2.CreateDeploymentRequest:
        deployment = deployment_pb2.Deployment(
            registered_model=model_name,
            rollout_policy=policy_message,
            prediction_log_sample_rate=sample_rate,
        )
        if champion:
            deployment.routes.add(
                model_version=champion, role=deployment_pb2.ROUTE_ROLE_CHAMPION, weight=100
            )
        else:
            deployment.rollout_policy.auto_rollout_on_validation = True
        return inference_service_pb2.CreateDeploymentRequest(
            deployment_id=deployment_id, deployment=deployment, allow_unvalidated=allow_unvalidated
        )

    if version is not None:
        request = request_for(_version(model_name, version))
        return _then(
            client.inference.CreateDeployment(request, metadata=metadata), lambda r: r.deployment
        )
    # No version: the model's champion if it has one, else its latest VALIDATED version,
    # else wait for the next version that passes validation.
    lookup = models_service_pb2.GetModelVersionRequest(name=f"{model_name}/versions/champion")
    latest = models_service_pb2.ListModelVersionsRequest(
        parent=model_name, filter="status = VALIDATED", order_by="version desc", page_size=1
    )
    if isinstance(client, AsyncGyreClient):

        async def run() -> Any:
            try:
                champion = (await client.models.GetModelVersion(lookup)).model_version.name
            except NotFound:
                champion = ""
            if not champion:
                try:
                    versions = (await client.models.ListModelVersions(latest)).model_versions
                except NotFound:
                    versions = []
                champion = versions[0].name if versions else ""
            return (
                await client.inference.CreateDeployment(request_for(champion), metadata=metadata)
            ).deployment

        return run()
    try:
        champion = client.models.GetModelVersion(lookup).model_version.name
    except NotFound:
        champion = ""
    if not champion:
        try:
            found = list(client.models.ListModelVersions(latest).model_versions)
        except NotFound:
            found = []
        champion = found[0].name if found else ""
    return client.inference.CreateDeployment(request_for(champion), metadata=metadata).deployment


def predict(
    client: Client,
    deployment: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    request_id: str = "",
    routing_key: str = "",
    model_version: str = "",
    include_tensors: bool = False,
    timeout: float | None = None,
) -> Any:
    """Predict ``rows`` (dicts of column -> scalar) on ``deployment``.

    Returns the ``PredictResponse`` (request id, serving version and role, one
    ``RowPrediction`` per row); awaitable with an async client.

    Raises:
        NotFound, InvalidArgument (says which inputs the model expects),
        FailedPrecondition, Unavailable, DeadlineExceeded.
    """
    request = inference_service_pb2.PredictRequest(
        deployment=deployment_name(deployment),
        request_id=request_id,
        routing_key=routing_key,
        model_version=model_version,
        include_tensors=include_tensors,
    )
    request.rows.rows.extend(to_row(record) for record in rows)
    kwargs = {"timeout": timeout} if timeout is not None else {}
    return _then(client.inference.Predict(request, **kwargs), lambda r: r)


def record_feedback(
    client: Client,
    deployment: str,
    request_id: str,
    ground_truth: Any,
    *,
    row_index: int = 0,
) -> Any:
    """Record the true label (or value) of one served prediction row.

    Raises:
        NotFound, InvalidArgument (empty request id, or a truth whose type does not
        match the model's prediction).
    """
    feedback = prediction_pb2.Feedback(
        request_id=request_id, row_index=row_index, ground_truth=to_value(ground_truth)
    )
    request = inference_service_pb2.RecordFeedbackRequest(
        deployment=deployment_name(deployment), feedback=feedback
    )
    return _then(client.inference.RecordFeedback(request), lambda r: r)


def record_feedback_batch(
    client: Client,
    deployment: str,
    entries: Sequence[tuple[str, int, Any]],
) -> Any:
    """Record many ``(request_id, row_index, ground_truth)`` at once; the count accepted."""
    request = inference_service_pb2.RecordFeedbackBatchRequest(
        deployment=deployment_name(deployment),
        feedback=[
            prediction_pb2.Feedback(request_id=rid, row_index=index, ground_truth=to_value(truth))
            for rid, index, truth in entries
        ],
    )
    return _then(client.inference.RecordFeedbackBatch(request), lambda r: r.accepted_count)


def rollout(
    client: Client,
    deployment: str,
    version: str,
    *,
    weight: int = 0,
    shadow: bool = False,
    reason: str = "",
    allow_unvalidated: bool = False,
    by: str | None = None,
) -> Any:
    """Start a canary (or, with ``shadow``, a mirror) of ``version`` on ``deployment``.

    ``version`` is ``"models/m/versions/3"`` or, for the deployment's own model,
    ``"3"``. ``weight`` 0 uses the policy's canary weight.
    """
    name = deployment_name(deployment)

    def request_for(model: str) -> inference_service_pb2.RolloutRequest:
        return inference_service_pb2.RolloutRequest(
            name=name,
            model_version=_version(model, version),
            role=deployment_pb2.ROUTE_ROLE_SHADOW if shadow else deployment_pb2.ROUTE_ROLE_CANARY,
            weight=weight,
            reason=reason,
            allow_unvalidated=allow_unvalidated,
        )

    if str(version).startswith("models/"):
        request = request_for("")
        return _then(
            client.inference.Rollout(request, metadata=actor_metadata(by)), lambda r: r.deployment
        )
    get = client.inference.GetDeployment(inference_service_pb2.GetDeploymentRequest(name=name))
    if isinstance(get, Awaitable):

        async def run() -> Any:
            current = await get
            response = await client.inference.Rollout(
                request_for(current.deployment.registered_model), metadata=actor_metadata(by)
            )
            return response.deployment

        return run()
    return client.inference.Rollout(
        request_for(get.deployment.registered_model), metadata=actor_metadata(by)
    ).deployment


def promote(client: Client, deployment: str, *, reason: str = "", by: str | None = None) -> Any:
    """Promote the canary of ``deployment`` to champion."""
    request = inference_service_pb2.PromoteRequest(name=deployment_name(deployment), reason=reason)
    return _then(
        client.inference.Promote(request, metadata=actor_metadata(by)), lambda r: r.deployment
    )


def rollback(client: Client, deployment: str, *, reason: str = "", by: str | None = None) -> Any:
    """Remove the canary/shadow of ``deployment``, or revert its last promotion."""
    request = inference_service_pb2.RollbackRequest(name=deployment_name(deployment), reason=reason)
    return _then(
        client.inference.Rollback(request, metadata=actor_metadata(by)), lambda r: r.deployment
    )


def wait_until_serving(
    client: GyreClient,
    deployment: str,
    *,
    version: str = "",
    timeout_s: float = 600.0,
    poll_s: float = 0.5,
) -> deployment_pb2.Deployment:
    """Poll until ``deployment`` serves (state SERVING with a champion route), and, when
    ``version`` is given (a full version name), until that version is its champion.

    A deployment created before its model had a validated version waits
    (AWAITING_VERSION) until the registry has registered a run's model and the gate has
    passed it; this is how a script waits for that.

    Raises:
        NotFound: no such deployment.
        DeadlineExceeded: not serving (that version) within ``timeout_s`` seconds; the
            message has the deployment's state message.
    """
    request = inference_service_pb2.GetDeploymentRequest(name=deployment_name(deployment))
    deadline = time.monotonic() + timeout_s
    while True:
        current: deployment_pb2.Deployment = client.inference.GetDeployment(request).deployment
        champions = [r.model_version for r in current.routes if r.role == _CHAMPION]
        serving = current.state == deployment_pb2.DEPLOYMENT_STATE_SERVING and champions
        if serving and (not version or version in champions):
            return current
        if time.monotonic() >= deadline:
            state = deployment_pb2.DeploymentState.Name(current.state)
            raise DeadlineExceeded(
                f"{current.name} is not serving{' ' + version if version else ''} after "
                f"{timeout_s:g} s ({state}: {current.state_message or 'no message'})"
            )
        time.sleep(poll_s)
