"""``gyre up | status | down | logs``: the local stack's sub-commands of the ``gyre`` CLI.

Registered through the ``gyre.cli`` entry point (``stack = "gyre.stack.cli:register"``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]

_HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="State directory of the stack (default: $GYRE_HOME, else ./.gyre).",
        show_default=False,
    ),
]
# Exit codes: 0 all healthy, 1 something unhealthy / failed, 2 not running (status) or
# an unusable --home (every command), 3 port conflict (up).
EXIT_UNHEALTHY = 1
EXIT_NOT_RUNNING = 2
EXIT_BAD_HOME = 2
EXIT_PORT_CONFLICT = 3


def _home(home: Path | None) -> Path:
    if home is not None:
        return home
    from gyre.runtime.settings import GyreSettings

    return GyreSettings().home


def _err(message: str) -> None:
    typer.echo(message, err=True)


def up(home: _HomeOption = None) -> None:
    """Start NATS, S3, Triton, Ray and every installed Gyre service, and wait until ready.

    Ports come from GYRE_STACK__* variables (see `gyre.stack.StackSettings`). Prints
    the endpoints and writes them to <home>/stack.json and <home>/env.
    """
    from gyre.runtime.settings import GyreSettings
    from gyre.stack._ports import PortConflictError
    from gyre.stack._services import ServiceSpecError
    from gyre.stack._settings import StackSettings
    from gyre.stack._stack import StackError, StackHomeError
    from gyre.stack._stack import up as stack_up

    gyre_settings = GyreSettings()
    try:
        report = stack_up(
            _home(home),
            settings=StackSettings(),
            s3_access_key=gyre_settings.s3.access_key,
            s3_secret_key=gyre_settings.s3.secret_key.get_secret_value(),
            s3_bucket=gyre_settings.s3.bucket,
            echo=typer.echo,
        )
    except PortConflictError as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_PORT_CONFLICT) from exc
    except StackHomeError as exc:
        _err(f"gyre up: {exc}")
        raise typer.Exit(EXIT_BAD_HOME) from exc
    except (StackError, ServiceSpecError) as exc:
        _err(f"gyre up failed: {exc}")
        raise typer.Exit(EXIT_UNHEALTHY) from exc
    verb = "was already running" if report.already_running else "is up"
    typer.echo(
        f"\nThe Gyre stack {verb} (supervisord pid {report.supervisord_pid}, "
        f"{report.elapsed_s:.1f}s):"
    )
    for item in report.components:
        mark = "ok " if item.healthy else "BAD"
        typer.echo(f"  {mark} {item.name:<16} {item.endpoint}")
    typer.echo(f"\nPoint clients at it with: . {report.env_file}")
    if not all(item.healthy for item in report.components):
        raise typer.Exit(EXIT_UNHEALTHY)


def status(
    home: _HomeOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {'components': [...]} as JSON.")
    ] = False,
) -> None:
    """Report each component's health; exit non-zero if any is unhealthy or none runs."""
    from gyre.stack._stack import StackError, StackHomeError, StackNotRunning
    from gyre.stack._stack import status as stack_status

    try:
        health = stack_status(_home(home))
    except StackError as exc:
        if as_json:
            typer.echo(json.dumps({"components": []}))
        _err(str(exc) if isinstance(exc, StackNotRunning) else f"gyre status: {exc}")
        code = EXIT_UNHEALTHY
        if isinstance(exc, StackNotRunning):
            code = EXIT_NOT_RUNNING
        elif isinstance(exc, StackHomeError):
            code = EXIT_BAD_HOME
        raise typer.Exit(code) from exc
    if as_json:
        typer.echo(json.dumps({"components": [item.to_json() for item in health]}))
    else:
        for item in health:
            mark = "healthy  " if item.healthy else "UNHEALTHY"
            typer.echo(f"{item.name:<16} {mark} {item.endpoint:<28} {item.detail}")
    if not all(item.healthy for item in health):
        raise typer.Exit(EXIT_UNHEALTHY)


def down(home: _HomeOption = None) -> None:
    """Stop every component and supervisord, and kill any process of the stack left."""
    from gyre.stack._stack import StackError, StackHomeError
    from gyre.stack._stack import down as stack_down

    try:
        report = stack_down(_home(home), echo=typer.echo)
    except StackHomeError as exc:
        _err(f"gyre down: {exc}")
        raise typer.Exit(EXIT_BAD_HOME) from exc
    except StackError as exc:
        _err(f"gyre down failed: {exc}")
        raise typer.Exit(EXIT_UNHEALTHY) from exc
    if report.was_running:
        typer.echo(f"The Gyre stack is down ({report.elapsed_s:.1f}s).")
    elif report.stray_processes_killed:
        typer.echo(
            f"The Gyre stack is down: its supervisord was gone or hung, so its "
            f"{len(report.stray_processes_killed)} remaining process(es) were killed "
            f"({report.elapsed_s:.1f}s)."
        )
    else:
        typer.echo("No Gyre stack was running.")


def logs(
    component: Annotated[
        str, typer.Argument(help="nats, s3, triton, ray, supervisord or a service.")
    ],
    home: _HomeOption = None,
    lines: Annotated[int, typer.Option("--lines", "-n", help="Lines to print.")] = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing.")] = False,
) -> None:
    """Print the end of one component's log file."""
    from gyre.stack._layout import StackLayout
    from gyre.stack._stack import read_log_tail

    layout = StackLayout.for_home(_home(home))
    path = layout.log(component)
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.log"))
        hint = f"; logs here: {', '.join(known)}" if known else "; is the stack up in this home?"
        _err(f"no log for {component!r} at {path}{hint}")
        raise typer.Exit(EXIT_UNHEALTHY)
    typer.echo(read_log_tail(path, lines))
    if not follow:
        return
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        while True:
            chunk = handle.read()
            if chunk:
                typer.echo(chunk.decode("utf-8", errors="replace"), nl=False)
            else:
                time.sleep(0.5)


def register(app: typer.Typer) -> None:
    """Add ``up``, ``status``, ``down`` and ``logs`` to the ``gyre`` command."""
    app.command("up")(up)
    app.command("status")(status)
    app.command("down")(down)
    app.command("logs")(logs)
