"""``gyre train``, ``gyre runs`` and ``gyre triggers``: training runs, sweeps, CT triggers.

::

    gyre train submit --dataset datasets/elec2/versions/latest --target class \\
        --trainer sklearn.ensemble.HistGradientBoostingClassifier \\
        --param max_iter=200 --param learning_rate=0.1 --model elec2 --wait
    gyre train submit --dataset elec2 --trainer mytrainers:fit --code ./trainers --wait
    gyre train submit --dataset elec2 --trainer lightgbm.LGBMClassifier --sweep sweep.json
    gyre runs ls --filter 'metrics.roc_auc > 0.9 and params.max_depth = 6' \\
        --order-by 'metrics.roc_auc desc'
    gyre runs show RUN --json
    gyre runs logs RUN --follow
    gyre runs cancel RUN
    gyre runs compare RUN1 RUN2 RUN3
    gyre triggers create nightly --kind schedule --cron '0 3 * * *' \\
        --dataset elec2 --trainer sklearn.ensemble.HistGradientBoostingClassifier
    gyre triggers ls                     # with each trigger's last firing: fired / skipped
    gyre triggers show nightly [--json]
    gyre triggers disable nightly; gyre triggers enable nightly
    gyre triggers delete nightly
    gyre triggers fire nightly --reason 'new features'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

__all__ = ["register"]

T = TypeVar("T")

train_app = typer.Typer(name="train", help="Submit training runs and sweeps.", no_args_is_help=True)
runs_app = typer.Typer(
    name="runs", help="Runs: ls, show, logs, cancel, compare.", no_args_is_help=True
)
triggers_app = typer.Typer(
    name="triggers",
    help="Continuous-training triggers: create, ls, show, enable, disable, delete, fire.",
    no_args_is_help=True,
)


@contextmanager
def _client() -> Iterator[Any]:
    from gyre.sdk import GyreClient

    with GyreClient(timeout=120) as client:
        yield client


def _run(work: Callable[[], T]) -> T:
    from gyre.sdk.errors import GyreError

    try:
        return work()
    except GyreError as err:
        typer.echo(f"error: {type(err).__name__}: {err}", err=True)
        raise typer.Exit(1) from err
    except (ValueError, TimeoutError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err


def _version_name(text: str) -> str:
    """Accept ``datasets/x/versions/3``, ``x/3`` or ``x`` (latest)."""
    if text.startswith("datasets/"):
        return text
    if "/" in text:
        dataset, version = text.split("/", 1)
        return f"datasets/{dataset}/versions/{version}"
    return f"datasets/{text}/versions/latest"


def _short_version(name: str) -> str:
    """``elec2/3`` from ``datasets/elec2/versions/3`` (the form ``--dataset`` accepts)."""
    dataset, _, version = name.removeprefix("datasets/").partition("/versions/")
    return f"{dataset}/{version}" if version else dataset


def _to_json(message: Any) -> str:
    from google.protobuf.json_format import MessageToDict

    return json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2)


def _state(run: Any) -> str:
    from gyre.training.v1 import run_pb2

    return str(run_pb2.RunState.Name(run.state)).removeprefix("RUN_STATE_")


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _spec_kwargs(
    dataset: str,
    trainer: str,
    code: Path | None,
    target: str | None,
    task: str,
    params: list[str],
) -> dict[str, Any]:
    from gyre.sdk import training

    kwargs: dict[str, Any] = {
        "dataset_version": _version_name(dataset),
        "target": target,
        "task": task,
        "params": training.parse_params(params),
    }
    if ":" in trainer:
        kwargs["entrypoint"] = trainer
        kwargs["code_dir"] = code
    else:
        kwargs["estimator"] = trainer
    return kwargs


@train_app.command("submit")
def submit(
    dataset: Annotated[
        str, typer.Option(help="Dataset version: datasets/x/versions/3, x/3 or x (latest).")
    ],
    trainer: Annotated[
        str,
        typer.Option(
            help="Estimator import path (sklearn.ensemble.RandomForestClassifier, "
            "lightgbm.LGBMClassifier) or a custom module:function (with --code)."
        ),
    ],
    target: Annotated[
        str | None, typer.Option(help="Label column (default: the version's).")
    ] = None,
    param: Annotated[list[str] | None, typer.Option(help="Trainer parameter key=value.")] = None,
    sweep: Annotated[
        Path | None, typer.Option(help="JSON sweep file (metric, mode, num_trials, parameters).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Registered model to register into.")] = None,
    code: Annotated[Path | None, typer.Option(help="Code directory of a custom trainer.")] = None,
    task: Annotated[str, typer.Option(help="classification or regression.")] = "classification",
    experiment: Annotated[str, typer.Option(help="Experiment (created if missing).")] = "default",
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    cpus: Annotated[
        float | None,
        typer.Option(
            help="CPUs per attempt (per trial); default: the scheduler's default_cpus (1).",
            show_default=False,
        ),
    ] = None,
    gpus: Annotated[float, typer.Option(help="GPUs per attempt.")] = 0.0,
    memory: Annotated[int, typer.Option(help="Memory per attempt, bytes.")] = 0,
    priority: Annotated[int, typer.Option(help="Queue priority (higher first).")] = 0,
    retries: Annotated[int, typer.Option(help="Retries after a failed attempt.")] = 0,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the run finishes.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
) -> None:
    """Submit a training run (or a sweep)."""
    from gyre.sdk import training

    def work() -> Any:
        kwargs = _spec_kwargs(dataset, trainer, code, target, task, param or [])
        sweep_config = json.loads(sweep.read_text()) if sweep is not None else None
        with _client() as gyre:
            run = training.submit(
                gyre,
                **kwargs,
                sweep=sweep_config,
                registered_model=model,
                experiment=experiment,
                seed=seed,
                cpus=cpus or 0.0,  # 0: the scheduler's default_cpus
                gpus=gpus,
                memory_bytes=memory,
                priority=priority,
                max_retries=retries,
            )
            if not as_json:
                typer.echo(f"{run.name} {_state(run)}")
            if wait:
                for line in training.logs(gyre, run.name, follow=True):
                    if not as_json:
                        typer.echo(line.text)
                run = training.wait(gyre, run.name)
            return run

    run = _run(work)
    if as_json:
        typer.echo(_to_json(run))
    elif wait:
        typer.echo(f"{run.name} {_state(run)}")
        for metric in run.result.final_metrics:
            typer.echo(f"  {metric.name} = {metric.value:.6g}")
        if run.failure_reason:
            typer.echo(f"  reason: {run.failure_reason}")
    if wait and _state(run) != "SUCCEEDED":
        raise typer.Exit(1)


@runs_app.command("ls")
def runs_ls(
    filter: Annotated[
        str, typer.Option(help="e.g. 'metrics.accuracy > 0.8 and params.max_depth = 6'.")
    ] = "",
    order_by: Annotated[str, typer.Option(help="e.g. 'metrics.accuracy desc'.")] = "",
    experiment: Annotated[list[str] | None, typer.Option(help="Only these experiments.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines of run summaries.")] = False,
) -> None:
    """List / search runs."""
    from gyre.sdk import training

    def work() -> list[Any]:
        with _client() as gyre:
            return training.search_runs(
                gyre, filter=filter, order_by=order_by, experiments=experiment or [], limit=limit
            )

    runs = _run(work)
    if as_json:
        for run in runs:
            typer.echo(json.dumps(training.run_summary(run)))
        return
    rows = []
    for run in runs:
        metrics = ", ".join(f"{m.name}={m.value:.4g}" for m in run.result.final_metrics[:3])
        rows.append(
            [
                run.name.removeprefix("runs/"),
                _state(run),
                run.experiment.removeprefix("experiments/"),
                run.spec.trainer.builtin.estimator.rsplit(".", 1)[-1]
                or run.spec.trainer.custom.entrypoint,
                _short_version(run.spec.dataset_version),
                metrics,
            ]
        )
    _table(["RUN", "STATE", "EXPERIMENT", "TRAINER", "DATA", "METRICS"], rows)


@runs_app.command("show")
def runs_show(
    run: Annotated[str, typer.Argument(help="runs/{run} or the run id.")],
    as_json: Annotated[bool, typer.Option("--json", help="The whole run as JSON.")] = False,
) -> None:
    """Show a run."""
    from gyre.sdk import training

    def work() -> Any:
        with _client() as gyre:
            return training.get_run(gyre, run)

    found = _run(work)
    if as_json:
        typer.echo(_to_json(found))
        return
    for key, value in training.run_summary(found).items():
        typer.echo(f"{key}: {value}")


@runs_app.command("logs")
def runs_logs(
    run: Annotated[str, typer.Argument(help="runs/{run} or the run id.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Until the run ends.")] = False,
    tail: Annotated[int, typer.Option(help="Only the last N lines.")] = 0,
    attempt: Annotated[int, typer.Option(help="Only this attempt.")] = 0,
) -> None:
    """Print a run's log (stdout/stderr of every attempt, and the scheduler's lines)."""
    from gyre.sdk import training

    def work() -> None:
        with _client() as gyre:
            for line in training.logs(gyre, run, follow=follow, tail_lines=tail, attempt=attempt):
                typer.echo(line.text)

    _run(work)


@runs_app.command("cancel")
def runs_cancel(
    run: Annotated[str, typer.Argument(help="runs/{run} or the run id.")],
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
) -> None:
    """Cancel a queued or running run (stops its Ray job)."""
    from gyre.sdk import training

    def work() -> Any:
        with _client() as gyre:
            return training.cancel(gyre, run, reason=reason)

    cancelled = _run(work)
    typer.echo(f"{cancelled.name} {_state(cancelled)}")


@runs_app.command("compare")
def runs_compare(
    runs: Annotated[list[str], typer.Argument(help="Runs to compare side by side.")],
) -> None:
    """Params, metrics, data and compute of runs, side by side."""
    from gyre.sdk import training

    def work() -> tuple[list[str], list[list[str]]]:
        with _client() as gyre:
            return training.compare(gyre, runs)

    header, rows = _run(work)
    _table(header, rows)


@triggers_app.command("create")
def triggers_create(
    trigger_id: Annotated[str, typer.Argument(help="Id of the new trigger.")],
    kind: Annotated[str, typer.Option(help="new_data, schedule, drift, performance_drop, manual.")],
    dataset: Annotated[
        str, typer.Option(help="Dataset the runs train on (x, x/3 or a version name).")
    ],
    trainer: Annotated[str, typer.Option(help="Estimator import path or module:function.")],
    target: Annotated[str | None, typer.Option(help="Label column.")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Trainer parameter key=value.")] = None,
    code: Annotated[Path | None, typer.Option(help="Code directory of a custom trainer.")] = None,
    task: Annotated[str, typer.Option(help="classification or regression.")] = "classification",
    model: Annotated[str | None, typer.Option(help="Registered model to register into.")] = None,
    cron: Annotated[str, typer.Option(help="Cron expression (schedule).")] = "",
    time_zone: Annotated[str, typer.Option(help="Time zone of the cron expression.")] = "",
    deployment: Annotated[str, typer.Option(help="Deployment to watch (drift, perf).")] = "",
    watch_model: Annotated[str, typer.Option(help="Registered model to watch.")] = "",
    cooldown: Annotated[float, typer.Option(help="Seconds between firings.")] = 0.0,
    max_concurrent: Annotated[int, typer.Option(help="Active runs at most.")] = 1,
    min_new_rows: Annotated[int, typer.Option(help="new_data: rows needed to fire.")] = 0,
    experiment: Annotated[str, typer.Option(help="Experiment of the runs.")] = "default",
) -> None:
    """Create a continuous-training trigger."""
    from gyre.sdk import training
    from gyre.training.v1 import run_pb2

    def work() -> Any:
        kwargs = _spec_kwargs(dataset, trainer, None, target, task, param or [])
        with _client() as gyre:
            template = run_pb2.RunSpec(
                dataset_version=kwargs["dataset_version"],
                target_column=target or "",
                task=run_pb2.TASK_REGRESSION
                if task == "regression"
                else run_pb2.TASK_CLASSIFICATION,
                registered_model=f"models/{model.removeprefix('models/')}" if model else "",
            )
            if "entrypoint" in kwargs:
                template.trainer.custom.entrypoint = kwargs["entrypoint"]
                if code is not None:
                    template.trainer.custom.code.CopyFrom(training.upload_code(gyre, code))
            else:
                template.trainer.builtin.estimator = kwargs["estimator"]
            for key, item in kwargs["params"].items():
                template.params[key].CopyFrom(training.value(item))
            watched = kwargs["dataset_version"].split("/versions/")[0]
            return training.create_trigger(
                gyre,
                trigger_id,
                kind=kind,
                template=template,
                experiment=experiment,
                dataset=watched,
                cron=cron,
                time_zone=time_zone,
                deployment=deployment,
                model=watch_model,
                cooldown_s=cooldown,
                max_concurrent_runs=max_concurrent,
                min_new_rows=min_new_rows,
            )

    trigger = _run(work)
    typer.echo(trigger.name)


@triggers_app.command("ls")
def triggers_ls(
    filter: Annotated[str, typer.Option(help="e.g. 'kind = DRIFT AND enabled = true'.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="JSON of each trigger.")] = False,
) -> None:
    """List triggers."""
    from gyre.common.v1 import cause_pb2
    from gyre.sdk import training

    def work() -> list[Any]:
        with _client() as gyre:
            return training.list_triggers(gyre, filter=filter)

    triggers = _run(work)
    if as_json:
        for trigger in triggers:
            typer.echo(_to_json(trigger))
        return
    rows = [
        [
            t.name.removeprefix("triggers/"),
            str(cause_pb2.TriggerKind.Name(t.kind)).removeprefix("TRIGGER_KIND_"),
            "yes" if t.enabled else "no",
            str(t.fire_count),
            t.last_run.removeprefix("runs/") or "-",
            training.last_firing_text(t),
        ]
        for t in triggers
    ]
    _table(["TRIGGER", "KIND", "ENABLED", "FIRED", "LAST RUN", "LAST FIRING"], rows)


@triggers_app.command("show")
def triggers_show(
    trigger: Annotated[str, typer.Argument(help="triggers/{trigger} or the id.")],
    as_json: Annotated[bool, typer.Option("--json", help="The trigger as JSON.")] = False,
) -> None:
    """Show a trigger: condition, run template, limits, and its last firing."""
    from gyre.sdk import training

    def work() -> Any:
        with _client() as gyre:
            return training.get_trigger(gyre, trigger)

    found = _run(work)
    if as_json:
        typer.echo(_to_json(found))
        return
    for key, value in training.trigger_summary(found).items():
        typer.echo(f"{key}: {value}")


def _set_enabled(trigger: str, enabled: bool) -> None:
    from gyre.sdk import training

    def work() -> Any:
        with _client() as gyre:
            return training.set_trigger_enabled(gyre, trigger, enabled)

    updated = _run(work)
    typer.echo(f"{updated.name} {'enabled' if updated.enabled else 'disabled'}")


@triggers_app.command("enable")
def triggers_enable(
    trigger: Annotated[str, typer.Argument(help="triggers/{trigger} or the id.")],
) -> None:
    """Enable a trigger (a schedule's next tick is computed from now)."""
    _set_enabled(trigger, True)


@triggers_app.command("disable")
def triggers_disable(
    trigger: Annotated[str, typer.Argument(help="triggers/{trigger} or the id.")],
) -> None:
    """Disable a trigger: it fires no more, not even by hand (its causes are skipped)."""
    _set_enabled(trigger, False)


@triggers_app.command("delete")
def triggers_delete(
    trigger: Annotated[str, typer.Argument(help="triggers/{trigger} or the id.")],
) -> None:
    """Delete a trigger (its runs stay)."""
    from gyre.sdk import training

    def work() -> str:
        with _client() as gyre:
            return training.delete_trigger(gyre, trigger)

    typer.echo(f"{_run(work)} deleted")


@triggers_app.command("fire")
def triggers_fire(
    trigger: Annotated[str, typer.Argument(help="triggers/{trigger} or the id.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the run's cause).")] = "",
    ignore_cooldown: Annotated[bool, typer.Option("--ignore-cooldown")] = False,
) -> None:
    """Fire a trigger by hand: submit its run now."""
    from gyre.sdk import training

    def work() -> Any:
        with _client() as gyre:
            return training.fire_trigger(
                gyre, trigger, reason=reason, ignore_cooldown=ignore_cooldown
            )

    run = _run(work)
    typer.echo(f"{run.name} {_state(run)}")


def register(app: typer.Typer) -> None:
    """Add ``train``, ``runs`` and ``triggers`` to ``app``."""
    app.add_typer(train_app)
    app.add_typer(runs_app)
    app.add_typer(triggers_app)
