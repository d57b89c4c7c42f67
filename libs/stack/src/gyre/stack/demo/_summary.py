"""The demo's summary: every resource the loop made, read back from the services.

:func:`build_summary` asks each service for what it holds (nothing comes from the
demo's own bookkeeping but the resource names), so the summary shows what a user would
find afterwards with ``gyre data show``, ``gyre runs show``, ``gyre models lineage``…
:func:`render_summary` prints it as text; ``gyre demo --json`` prints it as JSON.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format

from gyre.common.v1 import cause_pb2, split_pb2
from gyre.inference.v1 import deployment_pb2, inference_service_pb2
from gyre.models.v1 import model_version_pb2, models_service_pb2
from gyre.sdk import GyreError
from gyre.sdk import data as sdk_data
from gyre.sdk import models as sdk_models
from gyre.sdk import monitoring as sdk_monitoring
from gyre.sdk import training as sdk_training
from gyre.sdk import validation as sdk_validation
from gyre.validation.v1 import validation_pb2

if TYPE_CHECKING:
    from gyre.stack.demo._loop import _Loop

__all__ = ["build_summary", "dumps", "render_summary"]


def _enum(value: int, enum: Any, prefix: str) -> str:
    try:
        return str(enum.Name(value)).removeprefix(prefix)
    except ValueError:
        return str(value)


def _datasets(loop: _Loop) -> list[dict[str, Any]]:
    out = []
    for name in loop.versions:
        version = sdk_data.get_version(loop.client, name)
        out.append(
            {
                "name": version.name,
                "rows": version.row_count,
                "columns": len(version.schema.columns),
                "digest": version.digest,
                "parents": list(version.parent_versions),
                "splits": {
                    _enum(s.split, split_pb2.Split, "SPLIT_").lower(): s.row_count
                    for s in version.split_stats
                },
            }
        )
    return out


def _runs(loop: _Loop) -> list[dict[str, Any]]:
    out = []
    for name in loop.runs:
        run = sdk_training.get_run(loop.client, name)
        item = sdk_training.run_summary(run)
        item["cause"] = {
            "kind": _enum(run.cause.kind, cause_pb2.TriggerKind, "TRIGGER_KIND_").lower(),
            "trigger": run.cause.trigger,
            "event_type": run.cause.event_type,
            "event_id": run.cause.event_id,
            "reason": run.cause.reason,
        }
        out.append(item)
    return out


def _model_versions(loop: _Loop) -> list[dict[str, Any]]:
    out = []
    for name in loop.model_versions:
        version = loop.client.models.GetModelVersion(
            models_service_pb2.GetModelVersionRequest(name=name)
        ).model_version
        out.append(
            {
                "name": version.name,
                "status": _enum(
                    version.status, model_version_pb2.ModelVersionStatus, "MODEL_VERSION_STATUS_"
                ),
                "source_run": version.source_run,
                "dataset_version": version.dataset_version,
                "aliases": list(version.aliases),
                "sha256": version.artifact.sha256,
                "validation": version.validation,
            }
        )
    return out


def _validations(loop: _Loop) -> list[dict[str, Any]]:
    out = []
    for name in loop.validations:
        validation = sdk_validation.get_validation(loop.client, name)
        checks = []
        for check in validation.checks:
            checks.append(
                {
                    "name": check.name,
                    "observed": check.observed_value if check.HasField("observed_value") else None,
                    "threshold": check.threshold if check.HasField("threshold") else None,
                    "verdict": _check_verdict(check.verdict),
                    "message": check.message,
                }
            )
        out.append(
            {
                "name": validation.name,
                "model_version": validation.model_version,
                "champion_version": validation.champion_version,
                "dataset_version": validation.dataset_version,
                "verdict": sdk_validation.verdict_name(validation.verdict),
                "checks": checks,
            }
        )
    return out


def _check_verdict(value: int) -> str:
    return _enum(value, validation_pb2.CheckVerdict, "CHECK_VERDICT_")


def _deployment(loop: _Loop) -> dict[str, Any]:
    deployment = loop.client.inference.GetDeployment(
        inference_service_pb2.GetDeploymentRequest(name=loop.deployment)
    ).deployment
    history = loop.client.inference.ListDeploymentHistory(
        inference_service_pb2.ListDeploymentHistoryRequest(parent=loop.deployment, page_size=100)
    )
    entries = []
    for entry in history.entries:
        as_dict = json_format.MessageToDict(entry, preserving_proto_field_name=True)
        entries.append(
            {
                "action": str(as_dict.get("action", "")).removeprefix("DEPLOYMENT_ACTION_"),
                "reason": as_dict.get("reason", ""),
                "automatic": as_dict.get("automatic", False),
                "time": as_dict.get("time", ""),
            }
        )
    return {
        "name": deployment.name,
        "state": _enum(deployment.state, deployment_pb2.DeploymentState, "DEPLOYMENT_STATE_"),
        "routes": [
            {
                "model_version": route.model_version,
                "role": _enum(route.role, deployment_pb2.RouteRole, "ROUTE_ROLE_").lower(),
                "weight": route.weight,
            }
            for route in deployment.routes
        ],
        "previous_champion": deployment.previous_champion,
        "rollout": deployment.rollout.message,
        "history": entries,
    }


def _drift_reports(loop: _Loop) -> list[dict[str, Any]]:
    out = []
    for report in sdk_monitoring.list_drift_reports(loop.client, loop.deployment):
        ranked = sorted(report.features, key=lambda f: -f.psi)
        out.append(
            {
                "name": report.name,
                "model_version": report.model_version,
                "reference_dataset_version": report.reference_dataset_version,
                "rows": report.row_count,
                "drifted": report.drifted,
                "drifted_share": round(report.drifted_share, 4),
                "prediction_psi": round(report.prediction_drift.psi, 4),
                "top_features": [
                    {"feature": f.feature, "psi": round(f.psi, 4), "drifted": f.drifted}
                    for f in ranked[:5]
                ],
            }
        )
    return out


def _lineage(loop: _Loop, champion: str) -> dict[str, Any]:
    from gyre.cli.models import render_lineage

    graph = sdk_models.get_lineage(loop.client, champion, direction="up", depth=6)
    names = [node.name for node in graph.nodes]
    datasets = sorted(n for n in names if n.startswith(f"{loop.dataset}/versions/"))
    return {
        "start": champion,
        "dataset_versions": datasets,
        "nodes": names,
        "edges": [
            {"source": e.source, "target": e.target, "relation": e.relation} for e in graph.edges
        ],
        "tree": render_lineage(graph, champion, "up"),
    }


def build_summary(loop: _Loop) -> dict[str, Any]:
    """Read back every resource of the loop from the services (see module docstring)."""
    summary: dict[str, Any] = {
        "prefix": loop.prefix,
        "outcome": loop.outcome,
        "data": {
            "description": loop.o.data.description,
            "order": loop.o.data.order_note,
            "rows": len(loop.o.data.frame),
            "target": loop.o.data.target,
        },
    }
    parts: list[tuple[str, Any]] = [
        ("dataset_versions", lambda: _datasets(loop)),
        (
            "triggers",
            lambda: [
                sdk_training.trigger_summary(sdk_training.get_trigger(loop.client, t))
                for t in (loop.new_data_trigger, loop.drift_trigger)
            ],
        ),
        ("runs", lambda: _runs(loop)),
        ("model_versions", lambda: _model_versions(loop)),
        ("validations", lambda: _validations(loop)),
        ("deployment", lambda: _deployment(loop)),
        ("drift_reports", lambda: _drift_reports(loop)),
    ]
    for key, read in parts:
        try:
            summary[key] = read()
        except GyreError as err:
            summary[key] = {"error": str(err)}
    summary["traffic"] = {
        "requests": loop.traffic_requests,
        "rows": loop.traffic_rows,
        # Of those, sent while the canary was judged (the later rows again, cycled).
        "canary_phase_requests": loop.canary_requests,
        "canary_phase_rows": loop.canary_rows,
        "live_accuracy": round(loop.correct / loop.judged, 4) if loop.judged else None,
    }
    champion = ""
    try:
        found = sdk_models.resolve_alias(loop.client, loop.model, "champion")
        champion = found.name if found is not None else ""
    except GyreError:
        champion = ""
    summary["champion"] = champion
    if champion:
        try:
            summary["lineage"] = _lineage(loop, champion)
        except GyreError as err:
            summary["lineage"] = {"error": str(err)}
    summary["events"] = [e.summary() for e in loop.rec.events]
    summary["event_counts"] = loop.rec.counts
    return summary


def _table(rows: list[list[str]]) -> list[str]:
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]


def render_summary(summary: dict[str, Any]) -> str:
    """The summary as text sections (what ``gyre demo`` prints at the end)."""
    lines = ["", "=" * 78, f"Gyre demo summary ({summary.get('prefix')})", "=" * 78]
    lines.append(f"outcome: {summary.get('outcome') or '-'}")
    lines.append(f"champion: {summary.get('champion') or '-'}")

    def section(title: str) -> None:
        lines.extend(["", title])

    section("Dataset versions")
    versions = summary.get("dataset_versions")
    if isinstance(versions, list):
        lines.extend(
            _table(
                [["version", "rows", "splits", "digest"]]
                + [
                    [
                        v["name"],
                        str(v["rows"]),
                        " ".join(f"{k}={n}" for k, n in v["splits"].items()),
                        v["digest"][:23] + "…",
                    ]
                    for v in versions
                ]
            )
        )
    section("Runs (on Ray)")
    runs = summary.get("runs")
    if isinstance(runs, list):
        rows = [["run", "state", "data", "cause", "validation metrics"]]
        for run in runs:
            metrics = " ".join(
                f"{k.removeprefix('metrics.')}={v:.3f}"
                for k, v in run.items()
                if k.startswith("metrics.") and isinstance(v, float)
            )
            cause = run["cause"]
            rows.append(
                [
                    run["run"],
                    run["state"],
                    run["dataset_version"].split("/", 1)[-1],
                    f"{cause['kind']} ({cause['event_type'] or '-'})",
                    metrics[:60],
                ]
            )
        lines.extend(_table(rows))
    section("Model versions and validations")
    validations = {
        v["model_version"]: v for v in summary.get("validations", []) if isinstance(v, dict)
    }
    for version in (
        summary.get("model_versions", []) if isinstance(summary.get("model_versions"), list) else []
    ):
        validation = validations.get(version["name"], {})
        aliases = f" [{', '.join(version['aliases'])}]" if version["aliases"] else ""
        lines.append(
            f"  {version['name']}{aliases}: {version['status']}, trained on "
            f"{version['dataset_version']}; validation {validation.get('verdict', '-')}"
            + (
                f" against {validation['champion_version']}"
                if validation.get("champion_version")
                else ""
            )
        )
        for check in validation.get("checks", []):
            observed = "-" if check["observed"] is None else f"{check['observed']:.4g}"
            threshold = "-" if check["threshold"] is None else f"{check['threshold']:.4g}"
            lines.append(
                f"      {check['verdict']:<7} {check['name']:<34} observed {observed:<9} "
                f"threshold {threshold}"
            )
    section("Deployment")
    deployment = summary.get("deployment")
    if isinstance(deployment, dict) and "routes" in deployment:
        routes = ", ".join(
            f"{r['model_version']} ({r['role']} {r['weight']}%)" for r in deployment["routes"]
        )
        lines.append(f"  {deployment['name']}: {deployment['state']}, routes {routes}")
        for entry in deployment["history"]:
            auto = " (automatic)" if entry["automatic"] else ""
            lines.append(f"    {entry['action']:<18} {entry['reason']}{auto}")
    traffic = summary.get("traffic", {})
    lines.append(
        f"  traffic: {traffic.get('requests')} requests, {traffic.get('rows')} rows with feedback "
        f"({traffic.get('canary_phase_requests')} requests while the canary was judged)"
        + (
            f"; accuracy of what was served {traffic['live_accuracy']:.3f}"
            if traffic.get("live_accuracy") is not None
            else ""
        )
    )
    section("Drift reports (PSI against the training data's reference profile)")
    reports = summary.get("drift_reports")
    if isinstance(reports, list):
        drifted = [r for r in reports if r["drifted"]]
        lines.append(f"  {len(reports)} windows, {len(drifted)} over threshold")
        for report in (drifted or reports)[:3]:
            top = ", ".join(f"{f['feature']} {f['psi']:.2f}" for f in report["top_features"][:4])
            lines.append(
                f"  {report['name'].rsplit('/', 1)[-1]}: {report['rows']} rows, drifted share "
                f"{report['drifted_share']:.2f} ({top})"
            )
    section("Events that drove the loop, in order")
    for event in summary.get("events", []):
        lines.append(f"  {event['time'][11:19]}  {event['type']:<38} {event['subject']}")
    counts = summary.get("event_counts", {})
    volume = [
        f"{counts[t]} {t}"
        for t in sorted(counts)
        if t.startswith("inference.")
        and (t.endswith("prediction.logged") or t.endswith("feedback.recorded"))
    ]
    if volume:
        lines.append(f"  (in all: {', '.join(volume)})")
    lineage = summary.get("lineage")
    if isinstance(lineage, dict) and "tree" in lineage:
        section("Lineage of the champion")
        lines.extend("  " + line for line in lineage["tree"].splitlines())
    lines.append("")
    return "\n".join(lines)


def dumps(summary: dict[str, Any]) -> str:
    """The summary as indented JSON (what ``gyre demo --json`` prints)."""
    return json.dumps(summary, indent=2, default=str)
