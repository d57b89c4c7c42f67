"""``gyre monitor``: drift reports, alerts and monitoring policies.

::

    gyre monitor report elec2                  # feature table + chart of the top feature
    gyre monitor report elec2 --feature nswprice --json
    gyre monitor reports elec2                 # drift reports over time
    gyre monitor performance elec2             # latest live metrics vs baseline
    gyre monitor stats                         # ingestion: unmatched feedback, unknown ...
    gyre monitor alerts --deployment elec2 --state OPEN
    gyre monitor policy show elec2
    gyre monitor policy set elec2 --window-rows 2000 --psi-threshold 0.25 \\
        --reference datasets/elec2/versions/1 --webhook-url https://hooks.example/x
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer

__all__ = ["register"]

T = TypeVar("T")

monitor_app = typer.Typer(
    name="monitor",
    help="Monitor: drift report(s), performance, stats, alerts, policy show|set.",
    no_args_is_help=True,
)
policy_app = typer.Typer(name="policy", help="Monitoring policy: show, set.", no_args_is_help=True)
monitor_app.add_typer(policy_app)


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


def _echo_json(message: Any) -> None:
    from google.protobuf.json_format import MessageToDict

    typer.echo(json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2))


@monitor_app.command("report")
def report_command(
    deployment: Annotated[str, typer.Argument(help="Deployment, e.g. elec2.")],
    report: Annotated[str, typer.Option("--report", help="Report id.")] = "latest",
    feature: Annotated[
        str | None, typer.Option("--feature", help="Feature to chart (default: top PSI).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a drift report: features with PSI and a reference-vs-live histogram."""
    from gyre.sdk import monitoring

    def work() -> None:
        with _client() as gyre:
            result = monitoring.drift_report(gyre, deployment, report)
        if as_json:
            _echo_json(result)
        else:
            typer.echo(monitoring.render_report(result, feature=feature))

    _run(work)


def _echo_json_list(messages: list[Any]) -> None:
    from google.protobuf.json_format import MessageToDict

    typer.echo(
        json.dumps([MessageToDict(m, preserving_proto_field_name=True) for m in messages], indent=2)
    )


@monitor_app.command("reports")
def reports_command(
    deployment: Annotated[str, typer.Argument(help="Deployment, e.g. elec2.")],
    limit: Annotated[int, typer.Option("--limit", help="Newest N (0: all).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List drift reports over time: window, rows, drifted share, verdict (oldest first)."""
    from gyre.sdk import monitoring

    def work() -> None:
        with _client() as gyre:
            reports = list(
                monitoring.list_drift_reports(gyre, deployment, order_by="create_time desc")
            )
        reports = (reports[:limit] if limit > 0 else reports)[::-1]
        if as_json:
            _echo_json_list(reports)
        else:
            typer.echo(monitoring.render_drift_reports(reports))

    _run(work)


@monitor_app.command("performance")
def performance_command(
    deployment: Annotated[str, typer.Argument(help="Deployment, e.g. elec2.")],
    report: Annotated[str, typer.Option("--report", help="Report id.")] = "latest",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a performance report (default the latest): live metrics vs the baseline."""
    from gyre.sdk import monitoring

    def work() -> None:
        with _client() as gyre:
            result = monitoring.performance_report(gyre, deployment, report)
        if as_json:
            _echo_json(result)
        else:
            typer.echo(monitoring.render_performance(result))

    _run(work)


@monitor_app.command("stats")
def stats_command(
    deployment: Annotated[
        str | None, typer.Argument(help="Only this deployment's per-deployment counts.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Ingestion stats since the monitor started: records, unmatched feedback, unknown
    deployments, records without a reference, rows missing monitored columns."""
    from gyre.sdk import monitoring

    def work() -> None:
        with _client() as gyre:
            stats = monitoring.ingestion_stats(gyre)
        if deployment:
            name = monitoring.deployment_name(deployment)
            for counts in (stats.unknown_deployment_records, stats.unreferenced_records):
                for other in [k for k in counts if k != name]:
                    del counts[other]
        if as_json:
            _echo_json(stats)
        else:
            typer.echo(monitoring.render_stats(stats))

    _run(work)


@monitor_app.command("alerts")
def alerts_command(
    deployment: Annotated[str | None, typer.Option("--deployment", help="Only this one.")] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="OPEN, ACKNOWLEDGED or RESOLVED.")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="DRIFT or PERFORMANCE.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List alerts, newest first."""
    from gyre.sdk import monitoring

    def work() -> None:
        with _client() as gyre:
            alerts = list(
                monitoring.list_alerts(gyre, deployment=deployment, state=state, kind=kind)
            )
        if as_json:
            from google.protobuf.json_format import MessageToDict

            typer.echo(
                json.dumps(
                    [MessageToDict(a, preserving_proto_field_name=True) for a in alerts], indent=2
                )
            )
        else:
            typer.echo(monitoring.render_alerts(alerts))

    _run(work)


@policy_app.command("show")
def policy_show_command(
    deployment: Annotated[str, typer.Argument(help="Deployment, e.g. elec2.")],
) -> None:
    """Print the deployment's monitoring policy (JSON; zero fields mean the defaults)."""
    from gyre.sdk import monitoring

    def work() -> None:
        with _client() as gyre:
            _echo_json(monitoring.get_policy(gyre, deployment))

    _run(work)


@policy_app.command("set")
def policy_set_command(
    deployment: Annotated[str, typer.Argument(help="Deployment, e.g. elec2.")],
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled")] = None,
    window_rows: Annotated[int | None, typer.Option("--window-rows")] = None,
    window_seconds: Annotated[float | None, typer.Option("--window-seconds")] = None,
    min_window_rows: Annotated[int | None, typer.Option("--min-window-rows")] = None,
    evaluation_seconds: Annotated[float | None, typer.Option("--evaluation-seconds")] = None,
    psi_threshold: Annotated[float | None, typer.Option("--psi-threshold")] = None,
    chi_square_p: Annotated[float | None, typer.Option("--chi-square-p")] = None,
    drifted_share: Annotated[float | None, typer.Option("--drifted-share")] = None,
    prediction_psi: Annotated[float | None, typer.Option("--prediction-psi")] = None,
    min_feedback_rows: Annotated[int | None, typer.Option("--min-feedback-rows")] = None,
    cooldown_seconds: Annotated[float | None, typer.Option("--cooldown-seconds")] = None,
    webhook_url: Annotated[str | None, typer.Option("--webhook-url")] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="datasets/{d}/versions/{v}")
    ] = None,
    features: Annotated[
        str | None, typer.Option("--features", help="Comma-separated feature names.")
    ] = None,
    max_accuracy_drop: Annotated[
        float | None, typer.Option("--max-accuracy-drop", help="Absolute accuracy drop allowed.")
    ] = None,
) -> None:
    """Change the named policy fields (the rest stay as they are)."""
    from gyre.monitoring.v1 import monitoring_policy_pb2
    from gyre.sdk import monitoring

    values: dict[str, Any] = {
        "enabled": enabled,
        "window_rows": window_rows,
        "window_duration": window_seconds,
        "min_window_rows": min_window_rows,
        "evaluation_interval": evaluation_seconds,
        "psi_threshold": psi_threshold,
        "chi_square_p_value_threshold": chi_square_p,
        "drifted_share_threshold": drifted_share,
        "prediction_psi_threshold": prediction_psi,
        "min_feedback_rows": min_feedback_rows,
        "alert_cooldown": cooldown_seconds,
        "webhook_url": webhook_url,
        "reference_dataset_version": reference,
    }
    fields = {k: v for k, v in values.items() if v is not None}
    if features is not None:
        fields["features"] = [f.strip() for f in features.split(",") if f.strip()]
    if max_accuracy_drop is not None:
        fields["performance_thresholds"] = [
            monitoring_policy_pb2.PerformanceThreshold(
                metric="accuracy", max_absolute_drop=max_accuracy_drop, higher_is_better=True
            )
        ]
    if not fields:
        typer.echo("error: nothing to set (see --help)", err=True)
        raise typer.Exit(2)

    def work() -> None:
        with _client() as gyre:
            _echo_json(monitoring.set_policy(gyre, deployment, **fields))

    _run(work)


def register(app: typer.Typer) -> None:
    """Add ``gyre monitor`` to ``app``."""
    app.add_typer(monitor_app)
