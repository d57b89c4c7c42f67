"""Which processes ``gyre down`` takes for its stack's: the rules on fake process records,
and ``down`` itself against stand-in processes (no real component runs here)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from gyre.stack import STACK_ID_ENV, StackLayout, down
from gyre.stack._sweep import (
    ProcessInfo,
    RecordedProcess,
    StackMarks,
    read_recorded,
    record_processes,
    stack_members,
)

# Unique, so that no other test run's processes carry them.
_ID1, _ID10 = f"id-1-{uuid.uuid4().hex}", f"id-10-{uuid.uuid4().hex}"
PREFIX = "/venv"
PYTHON = f"{PREFIX}/bin/python"
NATS = f"{PREFIX}/bin/nats-server"
SERVICE = (PYTHON, "-m", "gyre.services.data_registry")
HOME = "/tmp/stacks/h1"
MARKS = StackMarks(
    stack_id="ours",
    paths=(HOME, f"{HOME}/ray"),
    ports=frozenset({6379, 52365}),
    recorded=(RecordedProcess(pid=500, session=500, group=500, started=1000.0),),
    prefix=PREFIX,
    commands=(SERVICE,),
)


def _proc(pid: int, *cmdline: str, ppid: int = 1, **fields: Any) -> ProcessInfo:
    return ProcessInfo(pid=pid, ppid=ppid, cmdline=cmdline, **fields)


def _members(*procs: ProcessInfo, spared: tuple[int, ...] = ()) -> set[int]:
    table = {p.pid: p for p in procs}
    return {p.pid for p in stack_members(table, MARKS, spared=spared)}


def test_home_matches_as_a_path_never_as_a_substring() -> None:
    assert _members(
        _proc(10, NATS, "-sd", f"{HOME}0/nats"),  # the home h10
        _proc(11, NATS, f"--dir={HOME}0"),
        _proc(12, NATS, f"x{HOME}"),
        _proc(20, NATS, "-l", f"{HOME}/logs/nats.log"),
        _proc(21, NATS, f"--temp-dir={HOME}/ray"),
        _proc(22, NATS, HOME),
    ) == {20, 21, 22}


def test_a_path_in_the_home_takes_the_stacks_programs() -> None:
    ray_pkg = f"{PREFIX}/lib/python3.11/site-packages/ray"
    assert _members(
        _proc(100, f"{PREFIX}/bin/weed", "server", f"-dir={HOME}/s3"),
        _proc(101, f"{PREFIX}/lib/tritonserver", f"--model-repository={HOME}/triton"),
        _proc(102, f"{ray_pkg}/core/src/ray/raylet/raylet", f"--temp_dir={HOME}/ray"),
        _proc(103, f"{ray_pkg}/core/src/ray/gcs/gcs_server", f"--log_dir={HOME}/ray/x"),
        _proc(104, PYTHON, "-u", f"{PREFIX}/bin/ray", "start", f"--temp-dir={HOME}/ray"),
        _proc(105, PYTHON, "-m", "supervisor.supervisord", "-c", f"{HOME}/supervisord.conf"),
        _proc(106, PYTHON, "-u", f"{ray_pkg}/dashboard/dashboard.py", f"--temp-dir={HOME}/ray"),
        _proc(107, PYTHON, "-m", "ray.util.client.server", f"--temp-dir={HOME}/ray"),
        _proc(108, "ray::IDLE", f"{HOME}/ray/session_latest"),
        _proc(109, *SERVICE, f"--data={HOME}/data"),
        # Run by an interpreter given as the resolved executable (a renamed python3).
        _proc(110, "python3.11", "-X", "dev", "-m", "supervisor.supervisord", HOME, exe=PYTHON),
    ) == set(range(100, 111))


def test_a_path_in_the_home_never_takes_the_users_own_processes() -> None:
    # Regression: `gyre down` killed `python script.py <home>/abs.csv` run from the venv.
    assert (
        _members(
            _proc(110, PYTHON, "script.py", f"{HOME}/abs.csv", session=110, group=110),
            _proc(111, PYTHON, f"{HOME}/script.py", session=111, group=111),
            _proc(112, PYTHON, "-c", "import ray", f"{HOME}/abs.csv"),
            _proc(113, PYTHON, "-m", "pytest", f"--basetemp={HOME}/tmp"),
            _proc(114, f"{PREFIX}/bin/jupyter", "lab", f"--notebook-dir={HOME}"),
            # Ray's command-line tool is the stack's only as `ray start`.
            _proc(115, PYTHON, f"{PREFIX}/bin/ray", "job", "submit", f"--working-dir={HOME}/p"),
            _proc(116, PYTHON, f"{PREFIX}/bin/ray", "job", "submit", "--", "start", HOME),
        )
        == set()
    )


def test_a_generic_interpreter_needs_another_stack_signal() -> None:
    in_home = f"{HOME}/abs.csv"
    assert _members(
        _proc(120, PYTHON, "job.py", in_home, stack_id="ours"),
        _proc(121, PYTHON, "job.py", in_home, session=500, group=121, started=1001.0),
        _proc(122, PYTHON, "job.py", in_home, listening=frozenset({6379})),
        _proc(123, PYTHON, "job.py", in_home),
    ) == {120, 121, 122}


def test_gyre_commands_and_the_callers_ancestry_are_spared() -> None:
    gyre = f"{PREFIX}/bin/gyre"
    assert (
        _members(
            _proc(30, PYTHON, gyre, "down", "--home", HOME),
            _proc(31, gyre, "logs", "-f", "nats", "--home", HOME, stack_id="ours"),
            _proc(32, PYTHON, "-m", "gyre.cli.main", "status", "--home", HOME),
            _proc(33, PYTHON, "-m", "pytest", HOME, stack_id="ours"),
            spared=(33,),
        )
        == set()
    )


def test_the_stack_id_takes_any_process_of_the_stack() -> None:
    assert _members(
        _proc(40, "/usr/bin/sleep", "60", stack_id="ours"),
        _proc(41, "/usr/bin/sleep", "60", stack_id="theirs"),
    ) == {40}


def test_paths_and_ports_never_take_another_stacks_process() -> None:
    assert (
        _members(
            _proc(50, PYTHON, f"{HOME}/x", stack_id="theirs"),
            _proc(51, PYTHON, "-m", "svc", listening=frozenset({6379}), stack_id="theirs"),
            # A renamed Ray agent (environment zeroed) under another stack's raylet.
            _proc(52, "/venv/lib/ray/raylet", stack_id="theirs"),
            _proc(53, "ray::DashboardAgent", ppid=52, listening=frozenset({52365})),
        )
        == set()
    )


def test_renamed_ray_agents_on_the_stacks_ports_are_taken() -> None:
    assert _members(
        _proc(60, "ray::DashboardAgent", listening=frozenset({52365})),
        _proc(61, "ray::RuntimeEnvAgent", ppid=62, listening=frozenset({6379})),
        _proc(62, "/venv/lib/ray/raylet", stack_id="ours"),
        # Listening on a stack port but not Ray's nor this environment's: not ours.
        _proc(63, "/usr/bin/nc", "-l", "6379", listening=frozenset({6379})),
    ) == {60, 61, 62}


def test_recorded_sessions_take_members_started_after_their_leader() -> None:
    assert _members(
        _proc(70, "ray::IDLE", session=500, group=70, started=1001.0),
        _proc(71, "ray::IDLE", session=9, group=500, started=1002.0),
        # Same session number but older than the recorded leader: a reused pid.
        _proc(72, "/bin/bash", session=500, group=72, started=10.0),
    ) == {70, 71}


def test_recorded_processes_round_trip_and_expire_with_the_boot(tmp_path: Path) -> None:
    path = tmp_path / "stack.pids"
    record_processes(path, [os.getpid(), 0])
    (recorded,) = read_recorded(path)
    assert (recorded.pid, recorded.session) == (os.getpid(), os.getsid(0))
    data = json.loads(path.read_text())
    data["boot_time"] -= 3600
    path.write_text(json.dumps(data))
    assert read_recorded(path) == ()
    path.write_text("{not json")
    assert read_recorded(path) == ()


# ------------------------------------------------------ down() against stand-in processes

_SLEEP = "import time; time.sleep(60)"
_LISTEN = (
    "import signal, socket, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); "
    "print('ok', flush=True); time.sleep(60)"
)


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _spawn(
    procs: list[subprocess.Popen[bytes]], argv: list[str], **kwargs: object
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]
    procs.append(proc)
    return proc  # type: ignore[no-any-return]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _renamed_agent(
    procs: list[subprocess.Popen[bytes]], port: int, *, wrap: bool = False, **kwargs: object
) -> subprocess.Popen[bytes]:
    """Like Ray's agents after setproctitle: ``ray::...`` title, empty environment.

    ``wrap``: the agent is the child of a shell (returned) that waits for it.
    """
    code = (
        "import os, subprocess, sys\n"
        "argv = ['ray::DashboardAgent', '-c', sys.argv[1], sys.argv[2]]\n"
        + (
            "subprocess.run(argv, executable=sys.executable, env={})"
            if wrap
            else "os.execve(sys.executable, argv, {})"
        )
    )
    agent = _spawn(procs, [sys.executable, "-c", code, _LISTEN, str(port)], **kwargs)
    assert agent.stdout is not None
    assert agent.stdout.readline() == b"ok\n"
    return agent


def _alive(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is None


def _stack_home(root: Path, name: str, stack_id: str, ports: dict[str, int]) -> Path:
    home = root / name
    home.mkdir()
    (home / "stack.id").write_text(stack_id + "\n")
    (home / "stack.json").write_text(
        json.dumps({"stack_id": stack_id, "probe_timeout_s": 1, "components": [], "ports": ports})
    )
    return home


def test_down_sweeps_its_own_stack_only(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    h1 = _stack_home(tmp_path, "h1", _ID1, {})
    h10 = _stack_home(tmp_path, "h10", _ID10, {})
    # Stand-in for `ray start` (a stack program): a script named ray.
    fake_ray = tmp_path / "bin" / "ray"
    fake_ray.parent.mkdir()
    fake_ray.write_text(_SLEEP + "\n")
    ours = _spawn(spawned, [sys.executable, str(fake_ray), "start", f"--temp-dir={h1}/ray"])
    ours_by_env = _spawn(
        spawned, [sys.executable, "-c", _SLEEP], env={**os.environ, STACK_ID_ENV: _ID1}
    )
    other_stack = _spawn(
        spawned, [sys.executable, "-c", _SLEEP, str(h10)], env={**os.environ, STACK_ID_ENV: _ID10}
    )
    other_home = _spawn(spawned, [sys.executable, str(fake_ray), "start", f"{h10}/ray"])
    # A concurrent `gyre down --home h1` (or `gyre logs -f`): a gyre command, spared.
    fake_gyre = tmp_path / "bin" / "gyre"
    fake_gyre.write_text(_SLEEP + "\n")
    concurrent = _spawn(
        spawned,
        [sys.executable, str(fake_gyre), "down", "--home", str(h1)],
        env={**os.environ, STACK_ID_ENV: _ID1},
    )
    time.sleep(0.3)  # let each child exec its command line

    messages: list[str] = []
    report = down(h1, echo=messages.append)

    assert not _alive(ours)
    assert not _alive(ours_by_env)
    assert all(map(_alive, (other_stack, other_home, concurrent)))
    assert not report.was_running
    assert len(report.stray_processes_killed) == 2, messages
    assert not (h1 / "stack.id").exists()
    assert (h10 / "stack.id").exists()


def test_down_kills_renamed_ray_agents_by_port_and_by_recorded_session(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    by_port, by_session, foreign = _free_port(), _free_port(), _free_port()
    home = _stack_home(tmp_path, "h", _ID1, {"ray_dashboard_agent_listen_port": by_port})
    on_our_port = _renamed_agent(spawned, by_port)
    # A "ray start" in its own session, recorded by the stack, whose agent outlives it.
    leader = _renamed_agent(spawned, by_session, start_new_session=True, wrap=True)
    record_processes(StackLayout.for_home(home).pids_file, [leader.pid])
    (in_session,) = psutil.Process(leader.pid).children()
    os.kill(leader.pid, signal.SIGKILL)
    leader.wait()
    not_ours = _renamed_agent(spawned, foreign)

    started = time.monotonic()
    report = down(home, echo=lambda _: None)

    assert not _alive(on_our_port)
    assert not in_session.is_running() or in_session.status() == psutil.STATUS_ZOMBIE
    assert _alive(not_ours)
    assert len(report.stray_processes_killed) == 2
    # They ignore SIGTERM: SIGKILL follows after a short grace, not a long wait.
    assert time.monotonic() - started < 10
    assert psutil.Process(not_ours.pid).cmdline()[0] == "ray::DashboardAgent"


def test_down_spares_the_users_python_that_names_a_file_in_the_home(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    """Regression: `python script.py <home>/abs.csv`, run from the stack's environment in
    its own session, was killed by `gyre down` for naming the home."""
    home = _stack_home(tmp_path, "proj", _ID1, {})
    script = tmp_path / "script.py"
    script.write_text(_SLEEP + "\n")
    users = _spawn(
        spawned, [sys.executable, str(script), f"{home}/abs.csv"], start_new_session=True
    )
    users_in_home = _spawn(spawned, [sys.executable, "-c", _SLEEP, str(home)])
    # In the same sweep, a stack program naming the home (`ray start` stand-in) goes.
    fake_ray = tmp_path / "bin" / "ray"
    fake_ray.parent.mkdir()
    fake_ray.write_text(_SLEEP + "\n")
    ray_start = _spawn(
        spawned,
        [sys.executable, str(fake_ray), "start", f"--temp-dir={home}/ray"],
        start_new_session=True,
    )
    time.sleep(0.3)  # let each child exec its command line

    messages: list[str] = []
    report = down(home, echo=messages.append)

    assert _alive(users)
    assert _alive(users_in_home)
    assert not _alive(ray_start)
    assert len(report.stray_processes_killed) == 1, messages
    assert not (home / "stack.id").exists()
