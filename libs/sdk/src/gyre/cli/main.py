"""Entry point of the ``gyre`` command.

The SDK owns the command and its client-side sub-commands. Other installed
distributions add sub-commands through the ``gyre.cli`` entry-point group: each
entry point names a callable ``register(app: typer.Typer) -> None`` (the local
stack registers ``up``, ``status`` and ``down`` this way), so the SDK itself never
depends on server packages.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Annotated

import typer

__all__ = ["app", "main"]

ENTRY_POINT_GROUP = "gyre.cli"

app = typer.Typer(
    name="gyre",
    help="Gyre: the whole ML lifecycle as gRPC services and events.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        version()
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the installed Gyre distributions and exit.",
        ),
    ] = False,
) -> None:
    """Gyre: the whole ML lifecycle as gRPC services and events."""
    # A callback keeps `gyre` a command group even when only one sub-command is
    # installed (typer would otherwise run that command directly).


def _load_plugins() -> None:
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        register = ep.load()
        register(app)


@app.command("version")
def version() -> None:
    """Print the installed Gyre distributions and their versions."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    for dist in ("gyre-sdk", "gyre-runtime", "gyre-stack"):
        try:
            typer.echo(f"{dist} {dist_version(dist)}")
        except PackageNotFoundError:
            continue


def main() -> None:
    """Run the CLI with every installed plugin registered."""
    _load_plugins()
    app()
