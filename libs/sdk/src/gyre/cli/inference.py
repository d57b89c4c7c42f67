"""`gyre` commands of the inference gateway.

::

    gyre deploy elec2 --version 3 --name elec2-live      # without --version: the champion,
                                                          # or wait for the next validated
    gyre deployments ls
    gyre deployments show elec2-live --json
    gyre deployments history elec2-live
    gyre deployments policy elec2-live --min-requests 500 --no-auto-promote
    gyre rollout elec2-live 4 --weight 20                 # --shadow to mirror instead
    gyre promote elec2-live --reason "canary healthy"
    gyre rollback elec2-live --reason "bad canary"
    gyre predict elec2-live --json '[{"nswprice": 0.05, "day": 2, ...}]'
    gyre predict elec2-live --csv rows.csv
    gyre feedback elec2-live <request id> UP
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

__all__ = ["register"]

T = TypeVar("T")

deployments_app = typer.Typer(
    name="deployments",
    help="Inference deployments: ls, show, history, policy.",
    no_args_is_help=True,
)


@contextmanager
def _client() -> Iterator[Any]:
    from gyre.sdk import GyreClient

    with GyreClient() as client:
        yield client


def _run(work: Callable[[], T]) -> T:
    from gyre.sdk.errors import GyreError

    try:
        return work()
    except GyreError as err:
        typer.echo(f"error: {type(err).__name__}: {err}", err=True)
        raise typer.Exit(1) from err


def _to_dict(message: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    result: dict[str, Any] = MessageToDict(message, preserving_proto_field_name=True)
    return result


def _short(value: str, prefix: str) -> str:
    return value.removeprefix(prefix)


def _routes(deployment: Any) -> str:
    from gyre.inference.v1 import deployment_pb2

    parts = []
    for route in deployment.routes:
        role = deployment_pb2.RouteRole.Name(route.role).removeprefix("ROUTE_ROLE_").lower()
        parts.append(f"{route.model_version.removeprefix('models/')} {role} {route.weight}%")
    return ", ".join(parts) or "-"


def _state(deployment: Any) -> str:
    from gyre.inference.v1 import deployment_pb2

    return deployment_pb2.DeploymentState.Name(deployment.state).removeprefix("DEPLOYMENT_STATE_")


def _print_deployment(deployment: Any) -> None:
    typer.echo(f"{deployment.name}  ({_state(deployment)})")
    typer.echo(f"  model:    {deployment.registered_model}")
    typer.echo(f"  routes:   {_routes(deployment)}")
    typer.echo(f"  policy:   {_policy_line(deployment)}")
    if deployment.previous_champion:
        typer.echo(f"  previous champion: {deployment.previous_champion}")
    if deployment.HasField("rollout"):
        typer.echo(f"  rollout:  {deployment.rollout.message}")
    if deployment.state_message:
        typer.echo(f"  detail:   {deployment.state_message}")


@deployments_app.command("ls")
def ls_command(
    model: Annotated[str, typer.Option(help="Only deployments of this model.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List deployments."""
    from gyre.inference.v1 import inference_service_pb2 as pb

    filter_text = ""
    if model:
        filter_text = (
            f'registered_model = "{model if model.startswith("models/") else "models/" + model}"'
        )
    with _client() as client:
        response = _run(
            lambda: client.inference.ListDeployments(
                pb.ListDeploymentsRequest(filter=filter_text, page_size=1000)
            )
        )
    if as_json:
        typer.echo(json.dumps([_to_dict(d) for d in response.deployments], indent=2))
        return
    for deployment in response.deployments:
        typer.echo(
            f"{_short(deployment.name, 'deployments/'):<24} {_state(deployment):<16} "
            f"{_routes(deployment)}"
        )


@deployments_app.command("show")
def show_command(
    deployment: Annotated[str, typer.Argument(help="Deployment id or name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one deployment: routes, state, rollout."""
    from gyre.inference.v1 import inference_service_pb2 as pb
    from gyre.sdk.inference import deployment_name

    with _client() as client:
        response = _run(
            lambda: client.inference.GetDeployment(
                pb.GetDeploymentRequest(name=deployment_name(deployment))
            )
        )
    if as_json:
        typer.echo(json.dumps(_to_dict(response.deployment), indent=2))
    else:
        _print_deployment(response.deployment)


@deployments_app.command("history")
def history_command(
    deployment: Annotated[str, typer.Argument(help="Deployment id or name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every change of a deployment, newest first, with its reason."""
    from gyre.inference.v1 import deployment_pb2
    from gyre.inference.v1 import inference_service_pb2 as pb
    from gyre.sdk.inference import deployment_name

    with _client() as client:
        response = _run(
            lambda: client.inference.ListDeploymentHistory(
                pb.ListDeploymentHistoryRequest(parent=deployment_name(deployment), page_size=1000)
            )
        )
    if as_json:
        typer.echo(json.dumps([_to_dict(e) for e in response.entries], indent=2))
        return
    for entry in response.entries:
        action = deployment_pb2.DeploymentAction.Name(entry.action).removeprefix(
            "DEPLOYMENT_ACTION_"
        )
        who = "auto" if entry.automatic else (entry.actor or "-")
        when = entry.time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
        routes = ", ".join(
            f"{r.model_version.removeprefix('models/')} {r.weight}%" for r in entry.to_routes
        )
        typer.echo(f"{when}  {action:<16} {who:<10} [{routes}]  {entry.reason}")


_CanaryWeight = Annotated[
    int | None, typer.Option(help="Canary traffic percent when a rollout starts (1-99).")
]
_MinRequests = Annotated[
    int | None, typer.Option(help="Requests the canary serves before it is judged.")
]
_MaxErrorRate = Annotated[
    float | None, typer.Option(help="Largest acceptable canary error rate (0-1).")
]
_MaxP99 = Annotated[
    float | None,
    typer.Option("--max-p99-ms", help="Largest acceptable canary p99 latency, ms (0: not judged)."),
]
_LiveMetric = Annotated[
    str | None,
    typer.Option(help="Live metric from feedback compared with the champion: accuracy, mae."),
]
_MaxMetricDrop = Annotated[
    float | None,
    typer.Option(
        "--max-metric-drop", help="Largest acceptable drop of the live metric vs the champion."
    ),
]
_AutoPromote = Annotated[
    bool | None,
    typer.Option("--auto-promote/--no-auto-promote", help="Promote a canary that meets every SLO."),
]
_AutoRollback = Annotated[
    bool | None,
    typer.Option(
        "--auto-rollback/--no-auto-rollback", help="Roll back a canary that violates an SLO."
    ),
]
_AutoRollout = Annotated[
    bool | None,
    typer.Option(
        "--auto-rollout/--no-auto-rollout",
        help="Start a canary when a newer version of the model passes validation.",
    ),
]


def _policy_fields(**options: Any) -> dict[str, Any]:
    """The policy fields given on the command line (None: not given)."""
    names = {"max_p99_ms": "max_p99_latency_ms", "max_metric_drop": "max_live_metric_drop"}
    return {names.get(k, k): v for k, v in options.items() if v is not None}


def _policy_line(deployment: Any) -> str:
    policy = deployment.rollout_policy
    parts = [
        f"canary {policy.canary_weight or 10}%",
        f"min requests {policy.min_requests or 100}",
        f"max error rate {policy.max_error_rate:g}",
    ]
    if policy.max_p99_latency_ms:
        parts.append(f"max p99 {policy.max_p99_latency_ms:g} ms")
    if policy.live_metric:
        parts.append(f"{policy.live_metric} drop <= {policy.max_live_metric_drop:g}")
    parts.append(f"auto-promote {'on' if policy.auto_promote else 'off'}")
    parts.append(f"auto-rollback {'on' if policy.auto_rollback else 'off'}")
    parts.append(f"auto-rollout {'on' if policy.auto_rollout_on_validation else 'off'}")
    return ", ".join(parts)


@deployments_app.command("policy")
def policy_command(
    deployment: Annotated[str, typer.Argument(help="Deployment id or name.")],
    canary_weight: _CanaryWeight = None,
    min_requests: _MinRequests = None,
    max_error_rate: _MaxErrorRate = None,
    max_p99_ms: _MaxP99 = None,
    live_metric: _LiveMetric = None,
    max_metric_drop: _MaxMetricDrop = None,
    auto_promote: _AutoPromote = None,
    auto_rollback: _AutoRollback = None,
    auto_rollout: _AutoRollout = None,
    sample_rate: Annotated[
        float | None, typer.Option(help="Share of predictions logged for the monitor (0-1).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Change a deployment's rollout policy (only the options given); no option: show it."""
    from gyre.inference.v1 import inference_service_pb2 as pb
    from gyre.sdk.inference import deployment_name, update_policy

    fields = _policy_fields(
        canary_weight=canary_weight,
        min_requests=min_requests,
        max_error_rate=max_error_rate,
        max_p99_ms=max_p99_ms,
        live_metric=live_metric,
        max_metric_drop=max_metric_drop,
        auto_promote=auto_promote,
        auto_rollback=auto_rollback,
        auto_rollout_on_validation=auto_rollout,
        sample_rate=sample_rate,
    )
    with _client() as client:
        if fields:
            result = _run(lambda: update_policy(client, deployment, **fields))
        else:
            result = _run(
                lambda: (
                    client.inference.GetDeployment(
                        pb.GetDeploymentRequest(name=deployment_name(deployment))
                    ).deployment
                )
            )
    if as_json:
        typer.echo(json.dumps(_to_dict(result.rollout_policy), indent=2))
    else:
        typer.echo(f"{result.name}  policy: {_policy_line(result)}")
        typer.echo(f"  prediction log sample rate: {result.prediction_log_sample_rate:g}")


deployments_app.command("update", help="Same as `gyre deployments policy`.")(policy_command)


def deploy_command(
    model: Annotated[str, typer.Argument(help="Registered model, e.g. elec2.")],
    version: Annotated[
        str | None,
        typer.Option(
            help="Version number or alias; default: the champion alias, else the latest "
            "VALIDATED version, else wait for the next version that passes validation."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Deployment id (default: the model id).")] = None,
    allow_unvalidated: Annotated[
        bool, typer.Option(help="Deploy a version that has not passed validation.")
    ] = False,
    sample_rate: Annotated[
        float,
        typer.Option(
            help="Share of predictions logged for the monitor (0-1; a full log queue drops, "
            "never blocks)."
        ),
    ] = 1.0,
    canary_weight: _CanaryWeight = None,
    min_requests: _MinRequests = None,
    max_error_rate: _MaxErrorRate = None,
    max_p99_ms: _MaxP99 = None,
    live_metric: _LiveMetric = None,
    max_metric_drop: _MaxMetricDrop = None,
    auto_promote: _AutoPromote = None,
    auto_rollback: _AutoRollback = None,
    auto_rollout: _AutoRollout = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Deploy a model version on Triton as a new deployment's champion.

    Rollout policy defaults: canary 10 %, judged after 100 requests, at most 1 %
    errors, auto-promote and auto-rollback on (change later with
    `gyre deployments policy`).
    """
    from gyre.sdk.inference import deploy, rollout_policy

    policy = rollout_policy(
        **_policy_fields(
            canary_weight=canary_weight,
            min_requests=min_requests,
            max_error_rate=max_error_rate,
            max_p99_ms=max_p99_ms,
            live_metric=live_metric,
            max_metric_drop=max_metric_drop,
            auto_promote=auto_promote,
            auto_rollback=auto_rollback,
            auto_rollout_on_validation=auto_rollout,
        )
    )
    with _client() as client:
        deployment = _run(
            lambda: deploy(
                client,
                model,
                version=version,
                name=name,
                allow_unvalidated=allow_unvalidated,
                sample_rate=sample_rate,
                policy=policy,
            )
        )
    if as_json:
        typer.echo(json.dumps(_to_dict(deployment), indent=2))
        return
    _print_deployment(deployment)
    if _state(deployment) == "AWAITING_VERSION":
        typer.echo(
            f"  waiting: {deployment.registered_model} has no champion and no VALIDATED "
            "version yet; the next version that passes validation becomes the champion"
        )


def rollout_command(
    deployment: Annotated[str, typer.Argument(help="Deployment id or name.")],
    version: Annotated[str, typer.Argument(help="Version number, or models/m/versions/n.")],
    weight: Annotated[int, typer.Option(help="Traffic percent (0: the policy's).")] = 0,
    shadow: Annotated[bool, typer.Option(help="Mirror traffic instead of serving it.")] = False,
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    allow_unvalidated: Annotated[bool, typer.Option(help="Allow an unvalidated version.")] = False,
) -> None:
    """Start a canary (or shadow) rollout of a version."""
    from gyre.sdk.inference import rollout

    with _client() as client:
        result = _run(
            lambda: rollout(
                client,
                deployment,
                version,
                weight=weight,
                shadow=shadow,
                reason=reason,
                allow_unvalidated=allow_unvalidated,
            )
        )
    _print_deployment(result)


def promote_command(
    deployment: Annotated[str, typer.Argument(help="Deployment id or name.")],
    reason: Annotated[str, typer.Option(help="Why.")] = "",
) -> None:
    """Promote the canary to champion."""
    from gyre.sdk.inference import promote

    with _client() as client:
        result = _run(lambda: promote(client, deployment, reason=reason))
    _print_deployment(result)


def rollback_command(
    deployment: Annotated[str, typer.Argument(help="Deployment id or name.")],
    reason: Annotated[str, typer.Option(help="Why.")] = "",
) -> None:
    """Remove the canary or shadow, or revert the last promotion."""
    from gyre.sdk.inference import rollback

    with _client() as client:
        result = _run(lambda: rollback(client, deployment, reason=reason))
    _print_deployment(result)


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with path.open(newline="") as handle:
        for record in csv.DictReader(handle):
            row: dict[str, Any] = {}
            for key, text in record.items():
                if text is None or text == "":
                    row[key] = None
                    continue
                try:
                    row[key] = float(text)
                except ValueError:
                    row[key] = text
            rows.append(row)
    return rows


def predict_command(
    deployment: Annotated[str, typer.Argument(help="Deployment id or name.")],
    rows_json: Annotated[
        str | None, typer.Option("--json", help="Rows as a JSON list of objects (or one object).")
    ] = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Rows from a CSV file with a header.")
    ] = None,
    drop: Annotated[
        list[str] | None, typer.Option(help="Columns of the CSV not sent (e.g. the target).")
    ] = None,
    version: Annotated[str, typer.Option(help="Serve from this route's version.")] = "",
    key: Annotated[str, typer.Option(help="Sticky routing key.")] = "",
) -> None:
    """Predict rows and print the answer as JSON."""
    from gyre.sdk.inference import predict

    if (rows_json is None) == (csv_file is None):
        typer.echo("error: give exactly one of --json ROWS or --csv FILE", err=True)
        raise typer.Exit(2)
    if rows_json is not None:
        try:
            parsed = json.loads(rows_json)
        except json.JSONDecodeError as exc:
            typer.echo(f"error: --json is not valid JSON: {exc}", err=True)
            raise typer.Exit(2) from exc
        rows = parsed if isinstance(parsed, list) else [parsed]
    else:
        assert csv_file is not None
        rows = _csv_rows(csv_file)
    for column in drop or []:
        for row in rows:
            row.pop(column, None)
    with _client() as client:
        response = _run(
            lambda: predict(client, deployment, rows, model_version=version, routing_key=key)
        )
    typer.echo(json.dumps(_to_dict(response), indent=2))


def feedback_command(
    deployment: Annotated[str, typer.Argument(help="Deployment id or name.")],
    request_id: Annotated[str, typer.Argument(help="Request id of the prediction.")],
    label: Annotated[str, typer.Argument(help="The true label or value.")],
    row: Annotated[int, typer.Option(min=0, help="Row index within the request.")] = 0,
    as_string: Annotated[
        bool, typer.Option("--string", help="Send LABEL as text even if it looks numeric.")
    ] = False,
) -> None:
    """Record the ground truth of a served prediction.

    The gateway checks the label's type but cannot check the request id (it keeps no
    database on the predict path): the monitor matches the feedback with the logged
    prediction later, so an unknown id is accepted and simply never matched.
    """
    from gyre.sdk.inference import record_feedback

    truth: Any = label
    if not as_string:
        try:
            truth = int(label)
        except ValueError:
            try:
                truth = float(label)
            except ValueError:
                truth = label
    with _client() as client:
        _run(lambda: record_feedback(client, deployment, request_id, truth, row_index=row))
    typer.echo(
        f"recorded feedback for request {request_id} row {row}: the monitor matches it with "
        "the logged prediction later (the gateway does not check that the request id exists)"
    )


def register(app: typer.Typer) -> None:
    """Add this domain's commands to ``app``."""
    app.add_typer(deployments_app)
    app.command("deploy")(deploy_command)
    app.command("rollout")(rollout_command)
    app.command("promote")(promote_command)
    app.command("rollback")(rollback_command)
    app.command("predict")(predict_command)
    app.command("feedback")(feedback_command)
