"""``gyre up | status | down`` on broken state: one clear line and an exit code, never a
traceback (stand-in processes play the stack's; no real component runs here)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from gyre.stack import STACK_ID_ENV, StackLayout
from gyre.stack.cli import EXIT_BAD_HOME, EXIT_UNHEALTHY, register

_SLEEP = "import time; time.sleep(60)"


def _gyre(*args: str) -> Result:
    app = typer.Typer()
    register(app)
    return CliRunner().invoke(app, list(args))


def _clean_exit(result: Result, code: int) -> None:
    """The command exited with ``code`` by itself (typer.Exit), not by an exception."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit | None), result.exception


@pytest.fixture
def stack_process(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A home whose stack lost its supervisord, and one process still carrying its id."""
    home = tmp_path / "home"
    home.mkdir()
    stack_id = f"unit-{uuid.uuid4().hex}"
    (home / "stack.id").write_text(stack_id + "\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLEEP], env={**os.environ, STACK_ID_ENV: stack_id}
    )
    try:
        yield home, proc
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    ("text", "reason"), [("{corrupt", "Expecting property name"), ("{}", "missing field")]
)
def test_status_reports_an_unreadable_stack_json(tmp_path: Path, text: str, reason: str) -> None:
    (tmp_path / "stack.json").write_text(text)
    result = _gyre("status", "--home", str(tmp_path))
    _clean_exit(result, EXIT_UNHEALTHY)
    assert result.stderr.startswith("gyre status: stack.json unreadable: ")
    assert reason in result.stderr


def test_down_stops_a_stack_whose_stack_json_is_corrupt(
    stack_process: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    home, proc = stack_process
    (home / "stack.json").write_text("{corrupt")
    result = _gyre("down", "--home", str(home))
    _clean_exit(result, 0)
    assert proc.wait(timeout=5) is not None
    assert "stack.json unreadable" in result.output
    assert "killed 1 stray process(es)" in result.output
    # It says what it did, not that nothing was running.
    assert "No Gyre stack was running" not in result.output
    assert "The Gyre stack is down" in result.output
    assert not (home / "stack.json").exists()


def test_up_refuses_to_start_over_leftovers_of_the_previous_stack(
    stack_process: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    home, proc = stack_process
    result = _gyre("up", "--home", str(home))
    _clean_exit(result, EXIT_UNHEALTHY)
    assert "a previous Gyre stack in" in result.stderr
    assert f"still partly running; run `gyre down --home {home}` first" in result.stderr
    assert f"(left running: python[{proc.pid}])" in result.stderr
    assert "override the setting" not in result.stderr
    assert proc.poll() is None
    assert not (home / "supervisord.conf").exists()


@pytest.mark.parametrize("command", ["up", "status", "down"])
def test_a_home_that_is_a_file_is_one_line_and_exit_2(tmp_path: Path, command: str) -> None:
    home = tmp_path / "hostname"
    home.write_text("x\n")
    result = _gyre(command, "--home", str(home))
    _clean_exit(result, EXIT_BAD_HOME)
    assert result.stderr == f"gyre {command}: the stack home {home} is not a directory\n"
    assert home.read_text() == "x\n"


def test_a_home_under_a_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = _gyre("down", "--home", str(tmp_path / "file" / "home"))
    _clean_exit(result, EXIT_BAD_HOME)
    assert result.stderr.startswith("gyre down: cannot create the stack home ")
    assert len(result.stderr.splitlines()) == 1


def test_a_home_supervisord_cannot_pass_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    home = tmp_path / 'it\'s "my" home'
    started = time.monotonic()
    result = _gyre("up", "--home", str(home))
    _clean_exit(result, EXIT_BAD_HOME)
    assert result.stderr.startswith(f"gyre up: the stack home {home} cannot be used: ")
    assert "both quote characters" in result.stderr
    assert list(tmp_path.iterdir()) == []
    assert not StackLayout.for_home(home).short_dir.exists()
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("name", "named"),
    [
        ("100%done", "'%'"),  # supervisord: "Format string ... badly formatted"
        ("a,b", "','"),  # weed splits -mdir on commas
        ("line\nbreak", r"the control character '\n'"),
        ("tab\there", r"the control character '\t'"),
        ("bell\x07", r"the control character '\x07'"),
    ],
)
def test_a_home_with_a_character_a_component_cannot_take_is_refused_up_front(
    tmp_path: Path, name: str, named: str
) -> None:
    home = tmp_path / name
    result = _gyre("up", "--home", str(home))
    _clean_exit(result, EXIT_BAD_HOME)
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("gyre up: the stack home ")
    assert f"cannot be used: its path contains {named}" in result.stderr
    # Nothing was written: no home, no stack.json or stack.id, no socket dir in /tmp.
    assert list(tmp_path.iterdir()) == []
    assert not StackLayout.for_home(home).short_dir.exists()
