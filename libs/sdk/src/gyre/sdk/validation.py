"""Client-side helpers for the validation gate (``gyre.validation.v1.ValidationService``).

Every helper takes a :class:`~gyre.sdk.GyreClient` (and returns the result) or an
:class:`~gyre.sdk.AsyncGyreClient` (and returns an awaitable of it)::

    v = validate(gyre, "models/fraud/versions/3")                  # PENDING at once
    v = wait_for_validation(gyre, v.name, timeout_s=600)           # COMPLETED
    print(verdict_name(v.verdict), [c.name for c in failed_checks(v)])
    print(get_report(gyre, v.name))                                # Markdown
    set_policy(gyre, "fraud", thresholds={"roc_auc": 0.75}, max_drop={"roc_auc": 0.01})

A model's own policy (``models/{model}/validationPolicy``) replaces the default policy
(``validationPolicies/default``) as a whole.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar, overload

from google.protobuf import field_mask_pb2

from gyre.sdk.client import AsyncGyreClient, GyreClient
from gyre.sdk.errors import DeadlineExceeded
from gyre.sdk.models import actor_metadata
from gyre.validation.v1 import validation_pb2, validation_policy_pb2, validation_service_pb2

__all__ = [
    "DEFAULT_POLICY",
    "Validation",
    "ValidationPolicy",
    "failed_checks",
    "get_policy",
    "get_report",
    "get_validation",
    "iter_validations",
    "list_validations",
    "policy_name",
    "set_policy",
    "validate",
    "verdict_name",
    "wait_for_validation",
]

Validation = validation_pb2.Validation
ValidationPolicy = validation_policy_pb2.ValidationPolicy
DEFAULT_POLICY: Final = "validationPolicies/default"
# Seconds between polls of wait_for_validation.
DEFAULT_POLL_S: Final = 0.5
_REPORT_FORMATS: Final = {
    "markdown": validation_service_pb2.REPORT_FORMAT_MARKDOWN,
    "md": validation_service_pb2.REPORT_FORMAT_MARKDOWN,
    "html": validation_service_pb2.REPORT_FORMAT_HTML,
    "json": validation_service_pb2.REPORT_FORMAT_JSON,
}
T = TypeVar("T")
Client = GyreClient | AsyncGyreClient


def _unary(client: Client, rpc: str, request: Any, post: Callable[[Any], T]) -> T | Awaitable[T]:
    method = getattr(client.validation, rpc)
    # Who asks (recorded as a validation's creator): $GYRE_ACTOR, else $USER.
    metadata = actor_metadata()
    if isinstance(client, AsyncGyreClient):

        async def run() -> T:
            return post(await method(request, metadata=metadata))

        return run()
    return post(method(request, metadata=metadata))


def policy_name(target: str) -> str:
    """The policy resource for ``target``: ``"default"`` (or the default policy's name),
    a model id, ``"models/{model}"`` or a policy name."""
    if target in ("default", DEFAULT_POLICY):
        return DEFAULT_POLICY
    if target.endswith("/validationPolicy"):
        return target
    model = target.removeprefix("models/").split("/")[0]
    return f"models/{model}/validationPolicy"


def verdict_name(verdict: int) -> str:
    """``"PASSED"``, ``"FAILED"``, ``"ERROR"`` or ``"UNSPECIFIED"``."""
    return validation_pb2.ValidationVerdict.Name(verdict).removeprefix("VALIDATION_VERDICT_")


def failed_checks(validation: validation_pb2.Validation) -> list[validation_pb2.ValidationCheck]:
    """The checks that FAILED or ERRORED."""
    blocking = (validation_pb2.CHECK_VERDICT_FAILED, validation_pb2.CHECK_VERDICT_ERROR)
    return [c for c in validation.checks if c.verdict in blocking]


@overload
def validate(
    client: GyreClient,
    model_version: str,
    *,
    dataset_version: str = "",
    request_id: str | None = None,
) -> validation_pb2.Validation: ...
@overload
def validate(
    client: AsyncGyreClient,
    model_version: str,
    *,
    dataset_version: str = "",
    request_id: str | None = None,
) -> Awaitable[validation_pb2.Validation]: ...
def validate(
    client: Client, model_version: str, *, dataset_version: str = "", request_id: str | None = None
) -> validation_pb2.Validation | Awaitable[validation_pb2.Validation]:
    """Start a validation of ``model_version`` (PENDING; see :func:`wait_for_validation`).

    ``dataset_version`` evaluates on that version instead of the policy's choice;
    ``request_id`` (default: a new UUID) makes retries return the same validation.

    Raises:
        NotFound: the version or the dataset version does not exist.
        FailedPrecondition: the version is archived, or the data has no usable split.
    """
    request = validation_service_pb2.ValidateModelVersionRequest(
        model_version=model_version,
        dataset_version=dataset_version,
        request_id=request_id or str(uuid.uuid4()),
    )
    return _unary(client, "ValidateModelVersion", request, lambda r: r.validation)


@overload
def get_validation(client: GyreClient, name: str) -> validation_pb2.Validation: ...
@overload
def get_validation(client: AsyncGyreClient, name: str) -> Awaitable[validation_pb2.Validation]: ...
def get_validation(
    client: Client, name: str
) -> validation_pb2.Validation | Awaitable[validation_pb2.Validation]:
    """The validation ``validations/{id}``. Raises NotFound."""
    request = validation_service_pb2.GetValidationRequest(name=name)
    return _unary(client, "GetValidation", request, lambda r: r.validation)


@overload
def wait_for_validation(
    client: GyreClient, name: str, *, timeout_s: float = 600.0, poll_s: float = DEFAULT_POLL_S
) -> validation_pb2.Validation: ...
@overload
def wait_for_validation(
    client: AsyncGyreClient, name: str, *, timeout_s: float = 600.0, poll_s: float = DEFAULT_POLL_S
) -> Awaitable[validation_pb2.Validation]: ...
def wait_for_validation(
    client: Client, name: str, *, timeout_s: float = 600.0, poll_s: float = DEFAULT_POLL_S
) -> validation_pb2.Validation | Awaitable[validation_pb2.Validation]:
    """Poll until the validation is COMPLETED and return it.

    Raises:
        DeadlineExceeded: not completed within ``timeout_s`` seconds.
    """
    completed = validation_pb2.VALIDATION_STATE_COMPLETED
    request = validation_service_pb2.GetValidationRequest(name=name)

    def timed_out() -> DeadlineExceeded:
        return DeadlineExceeded(f"{name} did not complete within {timeout_s:g} s")

    if isinstance(client, AsyncGyreClient):
        aclient = client

        async def run() -> validation_pb2.Validation:
            deadline = time.monotonic() + timeout_s
            while True:
                validation = (await aclient.validation.GetValidation(request)).validation
                if validation.state == completed:
                    return validation  # type: ignore[no-any-return]
                if time.monotonic() >= deadline:
                    raise timed_out()
                await asyncio.sleep(poll_s)

        return run()
    deadline = time.monotonic() + timeout_s
    while True:
        validation = client.validation.GetValidation(request).validation
        if validation.state == completed:
            return validation  # type: ignore[no-any-return]
        if time.monotonic() >= deadline:
            raise timed_out()
        time.sleep(poll_s)


@overload
def list_validations(
    client: GyreClient,
    *,
    filter: str = "",
    order_by: str = "",
    page_size: int = 0,
    page_token: str = "",
) -> validation_service_pb2.ListValidationsResponse: ...
@overload
def list_validations(
    client: AsyncGyreClient,
    *,
    filter: str = "",
    order_by: str = "",
    page_size: int = 0,
    page_token: str = "",
) -> Awaitable[validation_service_pb2.ListValidationsResponse]: ...
def list_validations(
    client: Client,
    *,
    filter: str = "",
    order_by: str = "",
    page_size: int = 0,
    page_token: str = "",
) -> (
    validation_service_pb2.ListValidationsResponse
    | Awaitable[validation_service_pb2.ListValidationsResponse]
):
    """One page of validations, newest first by default. ``filter``: terms
    ``field = "value"`` joined by AND over model_version, registered_model,
    champion_version, dataset_version, cause, creator, verdict (PASSED, FAILED,
    ERROR) and state (PENDING, RUNNING, COMPLETED)."""
    request = validation_service_pb2.ListValidationsRequest(
        filter=filter, order_by=order_by, page_size=page_size, page_token=page_token
    )
    return _unary(client, "ListValidations", request, lambda r: r)


def iter_validations(
    client: GyreClient, *, filter: str = "", order_by: str = "", page_size: int = 100
) -> Iterator[validation_pb2.Validation]:
    """Every matching validation, page by page (blocking client)."""
    token = ""
    while True:
        page = list_validations(
            client, filter=filter, order_by=order_by, page_size=page_size, page_token=token
        )
        yield from page.validations
        token = page.next_page_token
        if not token:
            return


@overload
def get_report(client: GyreClient, name: str, *, format: str = "markdown") -> str: ...
@overload
def get_report(
    client: AsyncGyreClient, name: str, *, format: str = "markdown"
) -> Awaitable[str]: ...
def get_report(client: Client, name: str, *, format: str = "markdown") -> str | Awaitable[str]:
    """A completed validation's report: ``"markdown"`` (the stored artifact), ``"html"``
    or ``"json"``.

    Raises:
        NotFound: no such validation. FailedPrecondition: not completed yet.
        ValueError: unknown format.
    """
    if format not in _REPORT_FORMATS:
        raise ValueError(f"unknown report format {format!r}; one of {', '.join(_REPORT_FORMATS)}")
    request = validation_service_pb2.GetValidationReportRequest(
        name=name,
        format=_REPORT_FORMATS[format],
    )
    return _unary(client, "GetValidationReport", request, lambda r: r.content)


@overload
def get_policy(
    client: GyreClient, target: str
) -> tuple[validation_policy_pb2.ValidationPolicy, bool]: ...
@overload
def get_policy(
    client: AsyncGyreClient, target: str
) -> Awaitable[tuple[validation_policy_pb2.ValidationPolicy, bool]]: ...
def get_policy(
    client: Client, target: str
) -> (
    tuple[validation_policy_pb2.ValidationPolicy, bool]
    | Awaitable[tuple[validation_policy_pb2.ValidationPolicy, bool]]
):
    """The policy in force for ``target`` (see :func:`policy_name`) and whether it is
    the default one."""
    request = validation_service_pb2.GetValidationPolicyRequest(name=policy_name(target))
    return _unary(
        client, "GetValidationPolicy", request, lambda r: (r.validation_policy, r.is_default)
    )


def build_policy(
    *,
    thresholds: Mapping[str, float] | None = None,
    max_drop: Mapping[str, float] | None = None,
    max_relative_drop: Mapping[str, float] | None = None,
    min_test_rows: int | None = None,
    leakage_check: bool | None = None,
    allow_breaking_signature_change: bool | None = None,
    p95_single_row_ms: float | None = None,
    p95_batch_ms: float | None = None,
    holdout_dataset_version: str | None = None,
    champion_alias: str | None = None,
) -> tuple[validation_policy_pb2.ValidationPolicy, list[str]]:
    """A policy holding the given rules and the update mask naming them (comparators
    follow each metric's direction: the gate fills them in)."""
    policy = validation_policy_pb2.ValidationPolicy()
    mask: list[str] = []
    if thresholds is not None:
        for metric, value in thresholds.items():
            policy.metric_thresholds.add(metric=metric, value=value)
        mask.append("metric_thresholds")
    if max_drop is not None or max_relative_drop is not None:
        absolute, relative = dict(max_drop or {}), dict(max_relative_drop or {})
        for metric in dict.fromkeys([*absolute, *relative]):
            policy.non_regression_rules.add(
                metric=metric,
                max_absolute_drop=absolute.get(metric, 0.0),
                max_relative_drop=relative.get(metric, 0.0),
            )
        mask.append("non_regression_rules")
    if min_test_rows is not None:
        policy.min_test_rows = min_test_rows
        mask.append("min_test_rows")
    if leakage_check is not None:
        policy.leakage_check_enabled = leakage_check
        mask.append("leakage_check_enabled")
    if allow_breaking_signature_change is not None:
        policy.allow_breaking_signature_change = allow_breaking_signature_change
        mask.append("allow_breaking_signature_change")
    if p95_single_row_ms is not None or p95_batch_ms is not None:
        policy.latency_budget.p95_single_row_ms = p95_single_row_ms or 0.0
        policy.latency_budget.p95_batch_ms = p95_batch_ms or 0.0
        mask.append("latency_budget")
    if holdout_dataset_version is not None:
        policy.holdout_dataset_version = holdout_dataset_version
        mask.append("holdout_dataset_version")
    if champion_alias is not None:
        policy.champion_alias = champion_alias
        mask.append("champion_alias")
    return policy, mask


@overload
def set_policy(
    client: GyreClient,
    target: str,
    policy: validation_policy_pb2.ValidationPolicy | None = None,
    *,
    update_mask: Sequence[str] | None = None,
    etag: str = "",
    allow_missing: bool = True,
    **rules: Any,
) -> validation_policy_pb2.ValidationPolicy: ...
@overload
def set_policy(
    client: AsyncGyreClient,
    target: str,
    policy: validation_policy_pb2.ValidationPolicy | None = None,
    *,
    update_mask: Sequence[str] | None = None,
    etag: str = "",
    allow_missing: bool = True,
    **rules: Any,
) -> Awaitable[validation_policy_pb2.ValidationPolicy]: ...
def set_policy(
    client: Client,
    target: str,
    policy: validation_policy_pb2.ValidationPolicy | None = None,
    *,
    update_mask: Sequence[str] | None = None,
    etag: str = "",
    allow_missing: bool = True,
    **rules: Any,
) -> validation_policy_pb2.ValidationPolicy | Awaitable[validation_policy_pb2.ValidationPolicy]:
    """Update (or create) the policy of ``target`` (a model, or ``"default"``).

    Either pass a whole ``policy`` (``update_mask`` defaults to ``["*"]``: every rule
    replaced) or keyword rules as in :func:`build_policy` (only those fields change).
    ``etag`` makes it a compare-and-set (Aborted on mismatch).

    Raises:
        InvalidArgument: a malformed rule. NotFound: the model does not exist.
        Aborted: etag mismatch.
    """
    if policy is None:
        policy, mask = build_policy(**rules)
        if update_mask is None:
            update_mask = mask
        if not update_mask:
            raise ValueError("no rule to set: pass a policy or keyword rules")
    elif rules:
        raise TypeError("pass either a policy or keyword rules, not both")
    body = validation_policy_pb2.ValidationPolicy()
    body.CopyFrom(policy)
    body.name = policy_name(target)
    if etag:
        body.etag = etag
    request = validation_service_pb2.UpdateValidationPolicyRequest(
        validation_policy=body,
        update_mask=field_mask_pb2.FieldMask(
            paths=list(update_mask) if update_mask is not None else ["*"]
        ),
        allow_missing=allow_missing,
    )
    return _unary(client, "UpdateValidationPolicy", request, lambda r: r.validation_policy)
