"""``gyre demo``: run the continuous-training loop on the local stack.

Registered through the ``gyre.cli`` entry point (``demo = "gyre.stack.demo_cli:register"``).
"""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["EXIT_FAILED", "EXIT_NOT_RUNNING", "demo", "register"]

# Exit codes: 0 the loop completed (a rejected or rolled-back candidate included),
# 1 a stage failed or timed out, 2 no healthy stack or bad arguments.
EXIT_FAILED = 1
EXIT_NOT_RUNNING = 2


def demo(
    csv: Annotated[
        Path | None,
        typer.Option("--csv", help="Run on this CSV instead of the bundled breast-cancer data."),
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Label column of --csv.")] = None,
    time_column: Annotated[
        str | None,
        typer.Option(
            "--time-column",
            help="Replay --csv in this column's order (it is then not a feature).",
        ),
    ] = None,
    task: Annotated[
        str, typer.Option("--task", help="classification or regression.")
    ] = "classification",
    trainer: Annotated[
        str,
        typer.Option(
            "--trainer",
            help="Built-in estimator (default: sklearn's HistGradientBoosting for the task).",
        ),
    ] = "",
    first_share: Annotated[
        float,
        typer.Option(
            "--first-share", help="Share of the rows (in replay order) in dataset version 1."
        ),
    ] = 0.5,
    stage_timeout: Annotated[
        float,
        typer.Option("--stage-timeout", help="Seconds a slow stage (a run, a canary) may take."),
    ] = 600.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON (progress goes to stderr).")
    ] = False,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home", help="State directory of the stack (default: $GYRE_HOME, else ./.gyre)."
        ),
    ] = None,
) -> None:
    """Run the whole lifecycle on real data and let the events drive it.

    Pushes dataset version 1; the new-data trigger trains on Ray, the registry registers
    the model, the gate validates it and the gateway serves it on Triton. Then later data
    arrives as dataset version 2 and as prediction traffic with feedback; the monitor
    detects drift, the drift trigger retrains on version 2, and the new model is
    validated against the champion, rolled out as a canary and promoted or rolled back.
    Ends with a summary; the stack stays up (`gyre down` stops it).
    """
    from gyre.runtime.settings import GyreSettings
    from gyre.stack._endpoints import stack_nats_settings
    from gyre.stack._stack import StackError
    from gyre.stack._stack import status as stack_status
    from gyre.stack.demo import (
        DemoDataError,
        DemoFailed,
        DemoOptions,
        dumps,
        load_csv,
        load_default,
        render_summary,
        run_demo,
    )

    def echo(line: str) -> None:
        typer.echo(line, err=as_json)

    if task not in ("classification", "regression"):
        raise typer.BadParameter("--task is classification or regression")
    if not math.isfinite(stage_timeout) or stage_timeout <= 0:
        raise typer.BadParameter("--stage-timeout must be a number of seconds above 0")
    if csv is None and (target or time_column):
        raise typer.BadParameter("--target and --time-column go with --csv")
    if csv is not None and not target:
        raise typer.BadParameter("--csv needs --target COLUMN")
    settings = GyreSettings()
    stack_home = home or settings.home
    try:
        health = stack_status(stack_home)
    except StackError as exc:
        typer.echo(f"gyre demo: {exc}\nStart the stack first: gyre up (or make demo)", err=True)
        raise typer.Exit(EXIT_NOT_RUNNING) from exc
    sick = [h.name for h in health if not h.healthy]
    if sick:
        typer.echo(
            f"gyre demo: the stack in {stack_home} is not healthy ({', '.join(sick)}); "
            "see gyre status and gyre logs COMPONENT",
            err=True,
        )
        raise typer.Exit(EXIT_NOT_RUNNING)
    try:
        data = (
            load_default(first_share=first_share)
            if csv is None
            else load_csv(
                csv, target=target or "", time_column=time_column, first_share=first_share
            )
        )
        data.check_task(task)
    except DemoDataError as exc:
        typer.echo(f"gyre demo: {exc}", err=True)
        raise typer.Exit(EXIT_NOT_RUNNING) from exc
    options = DemoOptions(
        home=stack_home,
        data=data,
        nats=stack_nats_settings(stack_home),
        trainer=trainer,
        task=task,
        stage_timeout_s=stage_timeout,
        echo=echo,
    )
    from gyre.sdk import GyreError

    try:
        result = run_demo(options)
    except (DemoFailed, ConnectionError, GyreError) as exc:
        typer.echo(f"\ngyre demo failed: {exc}", err=True)
        if as_json:  # a script reading stdout gets JSON either way
            sys.stdout.write(json.dumps({"error": str(exc), "stage_failed": True}) + "\n")
        raise typer.Exit(EXIT_FAILED) from exc
    if as_json:
        sys.stdout.write(dumps(result.summary) + "\n")
    else:
        typer.echo(render_summary(result.summary))
        typer.echo(
            "The stack keeps running. Explore: gyre status · gyre data ls · gyre runs ls · "
            f"gyre models lineage {result.summary.get('champion') or result.prefix} · "
            f"gyre monitor report {result.prefix} · gyre events tail --all · gyre down"
        )


def _interruptible(command: Callable[..., None]) -> Callable[..., None]:
    """Ctrl-C at any point: one line, exit 130, no traceback (the stack keeps running)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except KeyboardInterrupt:
            typer.echo("\ngyre demo interrupted; the stack keeps running", err=True)
            raise typer.Exit(130) from None

    return run


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the ``gyre`` command."""
    app.command("demo")(_interruptible(demo))
