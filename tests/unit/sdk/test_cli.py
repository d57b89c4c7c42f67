"""The root `gyre` command: a group with plugins, --version, and version."""

from __future__ import annotations

from typer.testing import CliRunner

from gyre.cli.main import _load_plugins, app

runner = CliRunner()


def test_version_option_and_command_agree() -> None:
    by_option = runner.invoke(app, ["--version"])
    by_command = runner.invoke(app, ["version"])
    assert by_option.exit_code == by_command.exit_code == 0
    assert by_option.output == by_command.output
    assert by_option.output.startswith("gyre-sdk ")


def test_installed_plugins_add_their_commands() -> None:
    _load_plugins()
    names = {command.name for command in app.registered_commands}
    assert {"version", "up", "status", "down", "logs"} <= names
