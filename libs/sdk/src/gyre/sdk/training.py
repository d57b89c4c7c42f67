"""Training runs, sweeps, experiment tracking and CT triggers from Python.

::

    from gyre.sdk import GyreClient
    from gyre.sdk import training

    with GyreClient() as gyre:
        run = training.submit(
            gyre,
            dataset_version="datasets/elec2/versions/latest",
            target="class",
            estimator="sklearn.ensemble.HistGradientBoostingClassifier",
            params={"max_iter": 100},
            registered_model="models/elec2",
        )
        run = training.wait(gyre, run.name)
        print(run.state, {m.name: m.value for m in run.result.final_metrics})
        best = training.search_runs(gyre, filter="metrics.accuracy > 0.8",
                                    order_by="metrics.accuracy desc")

Every function takes a blocking :class:`gyre.sdk.GyreClient`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import time
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from google.protobuf import duration_pb2, field_mask_pb2

from gyre.common.v1 import artifact_pb2, cause_pb2, value_pb2
from gyre.sdk.errors import AlreadyExists, NotFound
from gyre.training.v1 import experiment_pb2, run_pb2, trigger_pb2
from gyre.training.v1 import training_service_pb2 as ts

__all__ = [
    "CODE_VERSION_FILE",
    "DEFAULT_EXPERIMENT",
    "LAST_FIRING_LABELS",
    "TERMINAL_STATES",
    "cancel",
    "compare",
    "create_trigger",
    "delete_trigger",
    "ensure_experiment",
    "fire_trigger",
    "get_run",
    "get_trigger",
    "last_firing_text",
    "list_triggers",
    "logs",
    "metric_history",
    "parse_params",
    "run_summary",
    "search_runs",
    "set_trigger_enabled",
    "submit",
    "sweep_spec",
    "trigger_summary",
    "upload_code",
    "value",
    "wait",
]

DEFAULT_EXPERIMENT: Final = "default"
# Written into a custom trainer's code zip by upload_code when the directory is in a git
# checkout: {"git_commit": ..., "git_dirty": ...}; the run records it as its code version.
CODE_VERSION_FILE: Final = ".gyre-code-version.json"
TERMINAL_STATES: Final = frozenset(
    {run_pb2.RUN_STATE_SUCCEEDED, run_pb2.RUN_STATE_FAILED, run_pb2.RUN_STATE_CANCELLED}
)
_TASKS: Final = {
    "classification": run_pb2.TASK_CLASSIFICATION,
    "regression": run_pb2.TASK_REGRESSION,
}


def value(item: Any) -> value_pb2.Value:
    """A Python scalar as a typed ``gyre.common.v1.Value``."""
    out = value_pb2.Value()
    if item is None:
        out.null_value = 0  # type: ignore[assignment]
    elif isinstance(item, bool):
        out.bool_value = item
    elif isinstance(item, int):
        out.int64_value = item
    elif isinstance(item, float):
        out.double_value = item
    elif isinstance(item, bytes):
        out.bytes_value = item
    else:
        out.string_value = str(item)
    return out


def python_value(item: value_pb2.Value) -> Any:
    """A typed ``Value`` as a Python scalar."""
    kind = item.WhichOneof("kind")
    return None if kind in (None, "null_value") else getattr(item, kind)


def parse_params(pairs: Iterable[str]) -> dict[str, Any]:
    """``["max_depth=6", "lr=0.1", "loss=log_loss", "flag=true"]`` as typed values
    (JSON scalars where they parse, strings otherwise).

    Raises:
        ValueError: an item has no ``=``.
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {pair!r}")
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            parsed = raw
        if isinstance(parsed, list | dict):
            parsed = raw
        params[key.strip()] = parsed
    return params


def sweep_spec(config: Mapping[str, Any]) -> run_pb2.SweepSpec:
    """A ``SweepSpec`` from a plain mapping (what ``gyre train submit --sweep FILE`` reads)::

    {"metric": "roc_auc", "mode": "max", "num_trials": 8, "algorithm": "random",
     "max_concurrent_trials": 2,
     "parameters": {"max_depth": {"int": [2, 10]},
                    "learning_rate": {"loguniform": [0.01, 0.3]},
                    "l2_regularization": {"uniform": [0.0, 1.0]},
                    "max_leaf_nodes": {"choice": [15, 31, 63]}}}
    """
    sweep = run_pb2.SweepSpec(
        metric=str(config["metric"]),
        num_trials=int(config.get("num_trials", 0)),
        max_concurrent_trials=int(config.get("max_concurrent_trials", 0)),
    )
    mode = str(config.get("mode", "max")).lower()
    sweep.mode = run_pb2.OPTIMIZATION_MODE_MIN if mode == "min" else run_pb2.OPTIMIZATION_MODE_MAX
    algorithm = str(config.get("algorithm", "random")).lower()
    sweep.algorithm = (
        run_pb2.SEARCH_ALGORITHM_GRID if algorithm == "grid" else run_pb2.SEARCH_ALGORITHM_RANDOM
    )
    for name, domain in dict(config.get("parameters", {})).items():
        dim = sweep.dimensions.add(param=name)
        if "choice" in domain:
            for item in domain["choice"]:
                dim.choice.values.append(value(item))
        elif "uniform" in domain:
            dim.uniform.min, dim.uniform.max = (float(x) for x in domain["uniform"])
        elif "loguniform" in domain:
            dim.loguniform.min, dim.loguniform.max = (float(x) for x in domain["loguniform"])
        elif "int" in domain:
            bounds = [int(x) for x in domain["int"]]
            dim.int_range.min, dim.int_range.max = bounds[0], bounds[1]
            if len(bounds) > 2:
                dim.int_range.step = bounds[2]
        else:
            raise ValueError(f"sweep parameter {name!r}: use choice, uniform, loguniform or int")
    return sweep


def ensure_experiment(client: Any, experiment: str) -> str:
    """The experiment's name, creating it when it does not exist."""
    experiment_id = experiment.removeprefix("experiments/")
    name = f"experiments/{experiment_id}"
    try:
        client.training.GetExperiment(ts.GetExperimentRequest(name=name))
    except NotFound:
        with contextlib.suppress(AlreadyExists):
            client.training.CreateExperiment(
                ts.CreateExperimentRequest(
                    experiment_id=experiment_id, experiment=experiment_pb2.Experiment()
                )
            )
    return name


def upload_code(client: Any, directory: str | os.PathLike[str]) -> artifact_pb2.ArtifactRef:
    """Zip ``directory`` (deterministically) and upload it for a custom trainer.

    Returns the reference to put in ``CustomTrainer.code``; nothing is uploaded
    when the scheduler already stores the same zip.
    """
    import httpx

    root = Path(directory)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root)
            if "__pycache__" in relative.parts or ".git" in relative.parts:
                continue
            info = zipfile.ZipInfo(str(relative), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
        version = _git_version(root)
        if version is not None:
            info = zipfile.ZipInfo(CODE_VERSION_FILE, date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, json.dumps(version, sort_keys=True))
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    response = client.training.CreateCodeUploadUrl(
        ts.CreateCodeUploadUrlRequest(sha256=digest, size_bytes=len(data))
    )
    if not response.already_exists:
        upload = response.upload_url
        result = httpx.request(
            upload.method or "PUT",
            upload.url,
            content=data,
            headers=dict(upload.headers),
            timeout=60.0,
        )
        result.raise_for_status()
    code: artifact_pb2.ArtifactRef = response.code
    return code


def _git_version(root: Path) -> dict[str, Any] | None:
    """Commit and dirtiness of the git checkout holding ``root``; None outside one."""
    import subprocess

    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"git_commit": commit, "git_dirty": bool(status)} if commit else None


def submit(
    client: Any,
    *,
    dataset_version: str,
    estimator: str | None = None,
    entrypoint: str | None = None,
    code_dir: str | os.PathLike[str] | None = None,
    pip_requirements: Sequence[str] = (),
    target: str | None = None,
    features: Sequence[str] = (),
    task: str = "classification",
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    cpus: float = 0.0,
    gpus: float = 0.0,
    memory_bytes: int = 0,
    priority: int = 0,
    max_retries: int = 0,
    timeout_s: float = 0.0,
    sweep: run_pb2.SweepSpec | Mapping[str, Any] | None = None,
    registered_model: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    display_name: str = "",
    labels: Mapping[str, str] | None = None,
    run_id: str = "",
    request_id: str | None = None,
) -> run_pb2.Run:
    """Submit a run (``SubmitRun``); the experiment is created if missing.

    Exactly one of ``estimator`` (a built-in: an import path such as
    ``"sklearn.ensemble.HistGradientBoostingClassifier"``) or ``entrypoint``
    (``"module:function"``, with ``code_dir`` uploaded for it) names the trainer.

    Raises:
        ValueError: neither or both trainers given, or an unknown task.
        gyre.sdk.errors.NotFound / InvalidArgument: as the scheduler reports them.
    """
    if (estimator is None) == (entrypoint is None):
        raise ValueError("give exactly one of estimator= or entrypoint=")
    if task not in _TASKS:
        raise ValueError(f"task must be one of {sorted(_TASKS)}")
    experiment_name = ensure_experiment(client, experiment)
    run = run_pb2.Run(experiment=experiment_name, display_name=display_name)
    run.labels.update(labels or {})
    spec = run.spec
    spec.dataset_version = dataset_version
    spec.target_column = target or ""
    spec.feature_columns.extend(features)
    spec.task = _TASKS[task]
    spec.seed = seed
    spec.priority = priority
    spec.max_retries = max_retries
    spec.resources.cpus = cpus
    spec.resources.gpus = gpus
    spec.resources.memory_bytes = memory_bytes
    if timeout_s:
        spec.timeout.CopyFrom(duration_pb2.Duration(seconds=int(timeout_s)))
    if registered_model:
        spec.registered_model = (
            registered_model
            if registered_model.startswith("models/")
            else f"models/{registered_model}"
        )
    if estimator is not None:
        spec.trainer.builtin.estimator = estimator
    else:
        spec.trainer.custom.entrypoint = entrypoint or ""
        spec.trainer.custom.pip_requirements.extend(pip_requirements)
        if code_dir is not None:
            spec.trainer.custom.code.CopyFrom(upload_code(client, code_dir))
    for key, item in (params or {}).items():
        spec.params[key].CopyFrom(value(item))
    if sweep is not None:
        spec.sweep.CopyFrom(sweep if isinstance(sweep, run_pb2.SweepSpec) else sweep_spec(sweep))
    response = client.training.SubmitRun(
        ts.SubmitRunRequest(run=run, run_id=run_id, request_id=request_id or str(uuid.uuid4()))
    )
    submitted: run_pb2.Run = response.run
    return submitted


def get_run(client: Any, name: str) -> run_pb2.Run:
    """``GetRun`` (``name`` may be the bare run id)."""
    run: run_pb2.Run = client.training.GetRun(ts.GetRunRequest(name=_run_name(name))).run
    return run


def wait(
    client: Any, name: str, *, timeout_s: float | None = None, poll_s: float = 1.0
) -> run_pb2.Run:
    """Poll until the run is SUCCEEDED, FAILED or CANCELLED; return it.

    Raises:
        TimeoutError: ``timeout_s`` passed first.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        run = get_run(client, name)
        if run.state in TERMINAL_STATES:
            return run
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"{run.name} still {run_pb2.RunState.Name(run.state)}")
        time.sleep(poll_s)


def cancel(client: Any, name: str, *, reason: str = "") -> run_pb2.Run:
    """``CancelRun``."""
    run: run_pb2.Run = client.training.CancelRun(
        ts.CancelRunRequest(name=_run_name(name), reason=reason)
    ).run
    return run


def logs(
    client: Any, name: str, *, follow: bool = False, tail_lines: int = 0, attempt: int = 0
) -> Iterator[ts.LogLine]:
    """A run's log lines (``StreamRunLogs``); with ``follow``, until it is terminal."""
    for response in client.training.StreamRunLogs(
        ts.StreamRunLogsRequest(
            name=_run_name(name), follow=follow, tail_lines=tail_lines, attempt=attempt
        )
    ):
        yield from response.lines


def metric_history(client: Any, name: str, metric: str) -> list[tuple[int, float]]:
    """``(step, value)`` of one metric of a run, every page."""
    points: list[tuple[int, float]] = []
    token = ""
    while True:
        response = client.training.ListMetricHistory(
            ts.ListMetricHistoryRequest(run=_run_name(name), metric=metric, page_token=token)
        )
        points.extend((m.step, m.value) for m in response.metrics)
        token = response.next_page_token
        if not token:
            return points


def search_runs(
    client: Any,
    *,
    filter: str = "",
    order_by: str = "",
    experiments: Sequence[str] = (),
    limit: int = 50,
) -> list[run_pb2.Run]:
    """``SearchRuns``: e.g. ``filter="metrics.roc_auc > 0.9 and params.max_depth = 6"``."""
    runs: list[run_pb2.Run] = []
    token = ""
    while len(runs) < limit:
        response = client.training.SearchRuns(
            ts.SearchRunsRequest(
                experiments=[
                    e if e.startswith("experiments/") else f"experiments/{e}" for e in experiments
                ],
                filter=filter,
                order_by=order_by,
                page_size=min(limit - len(runs), 1000),
                page_token=token,
            )
        )
        runs.extend(response.runs)
        token = response.next_page_token
        if not token:
            break
    return runs[:limit]


def run_summary(run: run_pb2.Run) -> dict[str, Any]:
    """A flat, JSON-friendly view of a run (what ``gyre runs compare`` tabulates)."""
    result = run.result
    out: dict[str, Any] = {
        "run": run.name,
        "state": run_pb2.RunState.Name(run.state).removeprefix("RUN_STATE_"),
        "experiment": run.experiment,
        "dataset_version": run.spec.dataset_version,
        "target_column": run.spec.target_column,
        "trainer": run.spec.trainer.builtin.estimator or run.spec.trainer.custom.entrypoint,
        "registered_model": run.spec.registered_model or "-",
        "model_version": result.model_version or "-",
        "seed": run.spec.seed,
        "attempts": run.attempt_count,
    }
    params = dict(run.spec.params)
    params.update(result.params)
    for key, item in sorted(params.items()):
        out[f"params.{key}"] = python_value(item)
    for metric in result.final_metrics:
        out[f"metrics.{metric.name}"] = metric.value
    for metric in result.train_metrics:
        out[f"train.{metric.name}"] = metric.value
    if result.resource_usage.wall_seconds:
        out["wall_seconds"] = round(result.resource_usage.wall_seconds, 3)
        out["cpu_seconds"] = round(result.resource_usage.cpu_seconds, 3)
        out["peak_memory_mb"] = round(result.resource_usage.peak_memory_bytes / 2**20, 1)
    if result.model_artifact.uri:
        out["model"] = result.model_artifact.uri
        out["model_sha256"] = result.model_artifact.sha256
    if run.failure_reason:
        out["failure_reason"] = run.failure_reason
    return out


def compare(client: Any, names: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Side-by-side table of runs: rows are fields (params, metrics, ...), columns runs."""
    summaries = [run_summary(get_run(client, name)) for name in names]
    fields: list[str] = []
    for summary in summaries:
        for key in summary:
            if key != "run" and key not in fields:
                fields.append(key)
    header = ["field", *[s["run"].removeprefix("runs/") for s in summaries]]
    rows = [[field, *[_cell(s.get(field)) for s in summaries]] for field in fields]
    return header, rows


def _cell(item: Any) -> str:
    if item is None:
        return "-"
    if isinstance(item, float):
        return f"{item:.6g}"
    return str(item)


def create_trigger(
    client: Any,
    trigger_id: str,
    *,
    kind: str,
    template: run_pb2.RunSpec,
    experiment: str = DEFAULT_EXPERIMENT,
    dataset: str = "",
    cron: str = "",
    time_zone: str = "",
    deployment: str = "",
    model: str = "",
    metrics: Sequence[str] = (),
    cooldown_s: float = 0.0,
    max_concurrent_runs: int = 1,
    min_new_rows: int = 0,
    enabled: bool = True,
    display_name: str = "",
) -> trigger_pb2.Trigger:
    """``CreateTrigger``. ``kind``: new_data (``dataset``), schedule (``cron``), drift or
    performance_drop (``deployment`` or ``model``), manual."""
    kinds = {
        "new_data": cause_pb2.TRIGGER_KIND_NEW_DATA,
        "schedule": cause_pb2.TRIGGER_KIND_SCHEDULE,
        "drift": cause_pb2.TRIGGER_KIND_DRIFT,
        "performance_drop": cause_pb2.TRIGGER_KIND_PERFORMANCE_DROP,
        "manual": cause_pb2.TRIGGER_KIND_MANUAL,
    }
    if kind not in kinds:
        raise ValueError(f"kind must be one of {sorted(kinds)}")
    trigger = trigger_pb2.Trigger(
        kind=kinds[kind],
        experiment=ensure_experiment(client, experiment),
        max_concurrent_runs=max_concurrent_runs,
        enabled=enabled,
        display_name=display_name,
    )
    trigger.run_template.CopyFrom(template)
    if cooldown_s:
        trigger.cooldown.CopyFrom(duration_pb2.Duration(seconds=int(cooldown_s)))
    if kind == "new_data":
        trigger.new_data.dataset = (
            dataset if dataset.startswith("datasets/") else f"datasets/{dataset}"
        )
        trigger.new_data.min_new_rows = min_new_rows
    elif kind == "schedule":
        trigger.schedule.cron = cron
        trigger.schedule.time_zone = time_zone
    elif kind in ("drift", "performance_drop"):
        if deployment:
            trigger.monitor.deployment = _prefixed(deployment, "deployments/")
        else:
            trigger.monitor.registered_model = (
                model if model.startswith("models/") else f"models/{model}"
            )
        trigger.monitor.metrics.extend(metrics)
    created: trigger_pb2.Trigger = client.training.CreateTrigger(
        ts.CreateTriggerRequest(trigger_id=trigger_id, trigger=trigger)
    ).trigger
    return created


def set_trigger_enabled(client: Any, name: str, enabled: bool) -> trigger_pb2.Trigger:
    """Enable or disable a trigger (``UpdateTrigger`` with mask ``enabled``)."""
    trigger = trigger_pb2.Trigger(name=_trigger_name(name), enabled=enabled)
    updated: trigger_pb2.Trigger = client.training.UpdateTrigger(
        ts.UpdateTriggerRequest(
            trigger=trigger, update_mask=field_mask_pb2.FieldMask(paths=["enabled"])
        )
    ).trigger
    return updated


def get_trigger(client: Any, name: str) -> trigger_pb2.Trigger:
    """A trigger by name (``x`` or ``triggers/x``), with its last firing as labels
    (see :data:`LAST_FIRING_LABELS`)."""
    trigger: trigger_pb2.Trigger = client.training.GetTrigger(
        ts.GetTriggerRequest(name=_trigger_name(name))
    ).trigger
    return trigger


def delete_trigger(client: Any, name: str) -> str:
    """Delete a trigger (its runs stay); returns its name."""
    full = _trigger_name(name)
    client.training.DeleteTrigger(ts.DeleteTriggerRequest(name=full))
    return full


#: Output-only labels the scheduler puts on returned triggers: the last firing's outcome
#: (``fired`` / ``skipped``), skip reason, time (ISO 8601 UTC) and cause event id.
LAST_FIRING_LABELS: Final = (
    "gyre.dev/last-firing-outcome",
    "gyre.dev/last-firing-reason",
    "gyre.dev/last-firing-time",
    "gyre.dev/last-firing-cause",
)


def last_firing_text(trigger: trigger_pb2.Trigger) -> str:
    """``fired 2026-11-29T10:00:00+00:00`` / ``skipped …: reason`` / ``-`` (never)."""
    outcome, reason, time, _ = (trigger.labels.get(k, "") for k in LAST_FIRING_LABELS)
    if not outcome:
        return "-"
    text = f"{outcome} {time}".strip()
    return f"{text}: {reason}" if reason else text


def trigger_summary(trigger: trigger_pb2.Trigger) -> dict[str, Any]:
    """A flat, readable view of a trigger (what ``gyre triggers show`` prints)."""
    template = trigger.run_template
    out: dict[str, Any] = {
        "trigger": trigger.name,
        "kind": cause_pb2.TriggerKind.Name(trigger.kind).removeprefix("TRIGGER_KIND_"),
        "enabled": trigger.enabled,
    }
    condition = trigger.WhichOneof("condition")
    if condition == "new_data":
        out["watch"] = trigger.new_data.dataset
        if trigger.new_data.min_new_rows:
            out["min_new_rows"] = trigger.new_data.min_new_rows
    elif condition == "schedule":
        out["cron"] = trigger.schedule.cron
        out["time_zone"] = trigger.schedule.time_zone or "UTC"
    elif condition == "monitor":
        which = trigger.monitor.WhichOneof("target")
        out["watch"] = getattr(trigger.monitor, which) if which else ""
        if trigger.monitor.metrics:
            out["metrics"] = ", ".join(trigger.monitor.metrics)
    out["experiment"] = trigger.experiment
    out["dataset_version"] = template.dataset_version or "(the committed version)"
    out["target_column"] = template.target_column or "(the dataset version's)"
    out["trainer"] = template.trainer.builtin.estimator or template.trainer.custom.entrypoint
    for key, item in sorted(template.params.items()):
        out[f"params.{key}"] = python_value(item)
    if template.registered_model:
        out["registered_model"] = template.registered_model
    out["cooldown_s"] = trigger.cooldown.ToTimedelta().total_seconds()
    out["max_concurrent_runs"] = max(1, trigger.max_concurrent_runs)
    out["fire_count"] = trigger.fire_count
    out["last_run"] = trigger.last_run or "-"
    if trigger.HasField("last_fire_time"):
        out["last_fire_time"] = trigger.last_fire_time.ToDatetime().isoformat() + "Z"
    out["last_firing"] = last_firing_text(trigger)
    if trigger.labels.get(LAST_FIRING_LABELS[3]):
        out["last_firing_cause"] = trigger.labels[LAST_FIRING_LABELS[3]]
    for key, value in sorted(trigger.labels.items()):
        if key not in LAST_FIRING_LABELS:
            out[f"labels.{key}"] = value
    return out


def list_triggers(client: Any, *, filter: str = "") -> list[trigger_pb2.Trigger]:
    """Every trigger matching ``filter`` (e.g. ``kind = DRIFT AND enabled = true``)."""
    triggers: list[trigger_pb2.Trigger] = []
    token = ""
    while True:
        response = client.training.ListTriggers(
            ts.ListTriggersRequest(filter=filter, page_token=token, page_size=1000)
        )
        triggers.extend(response.triggers)
        token = response.next_page_token
        if not token:
            return triggers


def fire_trigger(
    client: Any,
    name: str,
    *,
    reason: str = "",
    ignore_cooldown: bool = False,
    request_id: str | None = None,
) -> run_pb2.Run:
    """``FireTrigger``: submit the trigger's run now (cause MANUAL)."""
    run: run_pb2.Run = client.training.FireTrigger(
        ts.FireTriggerRequest(
            name=_trigger_name(name),
            reason=reason,
            ignore_cooldown=ignore_cooldown,
            request_id=request_id or str(uuid.uuid4()),
        )
    ).run
    return run


def _prefixed(name: str, prefix: str) -> str:
    return name if name.startswith(prefix) else f"{prefix}{name}"


def _run_name(name: str) -> str:
    return name if name.startswith("runs/") else f"runs/{name}"


def _trigger_name(name: str) -> str:
    return name if name.startswith("triggers/") else f"triggers/{name}"
