"""`gyre up / status / down` against the real components, run as the CLI users run it.

One test walks the whole life cycle on free ports in a temporary home: up, status,
a second up, a crashed component, down — and then checks that nothing of the stack
is left running. It always tears the stack down, even when an assertion fails.

Besides every installed service, the stack runs one more through the ``gyre.services``
entry point: the runtime's echo service (``tests/support/echo_server.py``, a real gRPC
server on :func:`gyre.runtime.server.serve` with the standard health service),
declared by a distribution that exists only on this test's ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from support.local_stack import GYRE, stack_env

from gyre.stack import STACK_ID_ENV, StackLayout, discover_services
from gyre.stack._commands import nats_server_command, venv_executable
from gyre.stack._supervisor import SupervisorClient

pytestmark = pytest.mark.integration

TESTS_DIR = Path(__file__).resolve().parents[2]
ECHO_SERVICE = "echo"
_ECHO_DIST_MODULE = """
import sys
from types import SimpleNamespace

SERVICE = SimpleNamespace(
    name="echo",
    # The echo server takes its port as an argument; the stack passes it in the env.
    command=["/bin/sh", "-c", f'exec {sys.executable} -m support.echo_server "$GYRE_SERVER__PORT"'],
    health_service="gyre.test.v1.EchoService",
)
"""
INFRASTRUCTURE = {"nats", "s3", "triton", "ray"}
# A user's own script, run from the stack's environment on a file in the home.
_USER_SCRIPT = "import sys, time; open(sys.argv[1]).close(); time.sleep(120)"
UP_TIMEOUT_S = 150.0
STATUS_TIMEOUT_S = 20.0


def _install_echo_service(site: Path) -> None:
    """A distribution declaring the echo service as a ``gyre.services`` entry point."""
    dist_info = site / "gyre_echo_service-0.0.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: gyre-echo-service\nVersion: 0.0.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[gyre.services]\n{ECHO_SERVICE} = gyre_echo_service:SERVICE\n"
    )
    (site / "gyre_echo_service.py").write_text(_ECHO_DIST_MODULE)


def _stack_env(home: Path, site: Path) -> tuple[dict[str, str], set[int]]:
    """Environment for the CLI with every port free, and all ports the stack may open."""
    return stack_env(home, extra_services=(ECHO_SERVICE,), pythonpath=(str(site), str(TESTS_DIR)))


def _gyre(
    *args: str, env: dict[str, str], timeout: float = STATUS_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GYRE, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _status(env: dict[str, str]) -> tuple[int, dict[str, dict[str, Any]]]:
    result = _gyre("status", "--json", env=env)
    payload = json.loads(result.stdout)
    assert list(payload) == ["components"]
    components = {c["name"]: c for c in payload["components"]}
    for component in components.values():
        assert set(component) == {"name", "healthy", "endpoint", "detail"}
    return result.returncode, components


def _stack_processes(stack_id: str, home: Path, *, users: Collection[int] = ()) -> list[str]:
    """Every live process that carries the stack id or names the home on its command line
    (but the ``users``' own processes)."""
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        if proc.pid in users:
            continue
        with contextlib.suppress(psutil.Error):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if proc.environ().get(STACK_ID_ENV) == stack_id or str(home) in cmdline:
                found.append(f"{proc.info['name']}[{proc.pid}] {cmdline[:120]}")
    return found


def _users_process(home: Path, workdir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``python script.py <home>/abs.csv`` from the stack's environment, in its own
    session, as a user starts it from a shell next to the stack."""
    data = home / "abs.csv"
    data.write_text("a,b\n")
    script = workdir / "script.py"
    script.write_text(_USER_SCRIPT + "\n")
    return subprocess.Popen(
        [sys.executable, str(script), str(data)],
        env={k: v for k, v in env.items() if k != STACK_ID_ENV},
        start_new_session=True,
    )


def _connections(proc: psutil.Process) -> list[Any]:
    with contextlib.suppress(psutil.Error):
        return [c for c in proc.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]
    return []


def _renamed_ray_agents(ports: set[int]) -> list[int]:
    """Ray processes renamed ``ray::...`` (environment zeroed) that listen on ``ports``."""
    return [
        proc.pid
        for proc in psutil.process_iter(["cmdline"])
        if (proc.info["cmdline"] or [""])[0].startswith("ray::")
        and any(c.laddr.port in ports for c in _connections(proc))
    ]


def _listening(ports: set[int]) -> list[str]:
    listening = []
    for conn in psutil.net_connections(kind="tcp"):
        port = getattr(conn.laddr, "port", None)
        if conn.status == psutil.CONN_LISTEN and port in ports:
            listening.append(f"{port} (pid {conn.pid})")
    return listening


@pytest.fixture
def stack_home() -> Iterator[Path]:
    # Short on purpose: sockets and Ray's temp dir then live inside the home.
    home = Path(tempfile.mkdtemp(prefix="gyre-it-"))
    try:
        yield home
    finally:
        layout = StackLayout.for_home(home)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(layout.short_dir, ignore_errors=True)


def test_up_status_crash_and_down_leave_nothing_behind(stack_home: Path, tmp_path: Path) -> None:
    _install_echo_service(tmp_path / "site")
    env, our_ports = _stack_env(stack_home, tmp_path / "site")
    layout = StackLayout.for_home(stack_home)
    expected = INFRASTRUCTURE | {spec.name for spec in discover_services()} | {ECHO_SERVICE}
    stack_id = ""
    users: subprocess.Popen[bytes] | None = None
    try:
        # -- gyre up: everything starts and is healthy.
        started = time.monotonic()
        up = _gyre("up", "--home", str(stack_home), env=env, timeout=UP_TIMEOUT_S)
        up_s = time.monotonic() - started
        assert up.returncode == 0, up.stdout + up.stderr
        print(f"\ngyre up: all healthy after {up_s:.1f}s")
        stack_id = layout.stack_id_file.read_text().strip()
        users = _users_process(stack_home, tmp_path, env)

        code, components = _status(env)
        assert code == 0, components
        assert set(components) == expected
        assert all(c["healthy"] for c in components.values()), components
        stack = json.loads(layout.stack_json.read_text())
        assert components["nats"]["endpoint"] == f"nats://127.0.0.1:{env['GYRE_STACK__NATS_PORT']}"
        assert stack["env"]["GYRE_S3__ENDPOINT"] == f"127.0.0.1:{env['GYRE_STACK__S3_PORT']}"
        assert f"GYRE_RAY__ADDRESS=http://127.0.0.1:{env['GYRE_STACK__RAY_DASHBOARD_PORT']}" in (
            layout.env_file.read_text()
        )
        echo_port = json.loads(env["GYRE_STACK__SERVICE_PORTS"])[ECHO_SERVICE]
        assert stack["services"][ECHO_SERVICE] == f"127.0.0.1:{echo_port}"
        assert components[ECHO_SERVICE]["detail"] == "SERVING"
        assert f"GYRE_ECHO_ADDRESS=127.0.0.1:{echo_port}" in layout.env_file.read_text()
        for name in expected:
            assert layout.log(name).stat().st_size > 0, name
        # Triton's Python backend directory was built under the state dir.
        assert (layout.triton_backends / "python" / "triton_python_backend_stub").exists()

        client = SupervisorClient(layout.supervisor_socket)
        supervisord_pid = client.pid()
        pids = {name: int(info["pid"]) for name, info in client.processes().items()}
        assert all(pids.values()), pids

        # -- the stack's own S3 credentials work and `up` created the artifacts bucket.
        from minio import Minio

        s3 = Minio(
            stack["env"]["GYRE_S3__ENDPOINT"],
            access_key=stack["env"]["GYRE_S3__ACCESS_KEY"],
            secret_key=stack["env"]["GYRE_S3__SECRET_KEY"],
            secure=False,
        )
        assert s3.bucket_exists("gyre")

        # -- Ray's Jobs API runs a job for clients that use the env file (token auth on).
        client_env = {**env, **stack["env"]}
        jobs = subprocess.run(
            [
                sys.executable,
                "-c",
                "import os, time; from ray.job_submission import JobSubmissionClient as C; "
                "c = C(os.environ['RAY_ADDRESS']); "
                "j = c.submit_job(entrypoint='python -c \"import sys; print(sys.prefix)\"'); "
                "deadline = time.monotonic() + 60\n"
                "while not c.get_job_status(j).is_terminal() and time.monotonic() < deadline:\n"
                "    time.sleep(0.2)\n"
                "print(c.get_job_status(j)); print(c.get_job_logs(j).strip())",
            ],
            env=client_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert jobs.returncode == 0, jobs.stderr[-2000:]
        # The job ran with this environment's interpreter (the stack puts it first on
        # PATH), so a training entrypoint finds Gyre's packages.
        status, *log_lines = jobs.stdout.splitlines()
        assert status == "SUCCEEDED", jobs.stdout
        assert sys.prefix in [line.strip() for line in log_lines], jobs.stdout

        # -- gyre up again: same supervisord, same component processes.
        again = _gyre("up", "--home", str(stack_home), env=env, timeout=UP_TIMEOUT_S)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already running" in again.stdout
        assert client.pid() == supervisord_pid
        assert {n: int(i["pid"]) for n, i in client.processes().items()} == pids
        supervisords = [
            p
            for p in psutil.process_iter(["cmdline"])
            if "supervisord" in " ".join(p.info["cmdline"] or [])
            and str(layout.supervisord_conf) in " ".join(p.info["cmdline"] or [])
        ]
        assert [p.pid for p in supervisords] == [supervisord_pid]

        # -- kill -9 nats: status says so promptly, then supervisord restarts it.
        os.kill(pids["nats"], signal.SIGKILL)
        started = time.monotonic()
        code, components = _status(env)
        assert time.monotonic() - started < 10
        assert code != 0
        assert components["nats"]["healthy"] is False
        assert components["nats"]["detail"]
        assert all(components[n]["healthy"] for n in expected - {"nats"}), components
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            code, components = _status(env)
            if code == 0:
                break
            time.sleep(0.5)
        assert code == 0, components
        new_nats_pid = int(client.processes()["nats"]["pid"])
        assert new_nats_pid not in (0, pids["nats"])
        pids["nats"] = new_nats_pid
    finally:
        started = time.monotonic()
        down = _gyre("down", "--home", str(stack_home), env=env, timeout=120)
        down_s = time.monotonic() - started
        print(f"gyre down: {down_s:.1f}s\n{down.stdout}{down.stderr}")
        user_pids = {users.pid} if users is not None else set()
        leftovers = _stack_processes(stack_id, stack_home, users=user_pids) if stack_id else []
        for line in leftovers:  # clean up for the next test run before failing
            with contextlib.suppress(psutil.Error, ValueError):
                psutil.Process(int(line.split("[", 1)[1].split("]", 1)[0])).kill()
        users_survived = users is not None and users.poll() is None
        if users is not None:
            users.kill()
            users.wait()

    # -- gyre down left nothing behind, and left the user's own process alone.
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stray" not in down.stdout, down.stdout
    assert users_survived
    assert leftovers == []
    assert not psutil.pid_exists(supervisord_pid)
    assert [pid for pid in pids.values() if psutil.pid_exists(pid)] == []
    assert _listening(our_ports) == []
    weed_sockets = [
        path
        for path in Path("/tmp").glob("seaweedfs-*.sock")
        if any(path.name.endswith(f"-{port}.sock") for port in our_ports)
    ]
    assert weed_sockets == []
    assert not layout.stack_json.exists()
    assert not layout.supervisor_socket.exists()

    code, components = _status(env)
    assert code != 0
    assert components == {}


def test_down_after_supervisord_was_killed_leaves_nothing_behind(
    stack_home: Path, tmp_path: Path
) -> None:
    """kill -9 of supervisord orphans every component, Ray's renamed agents included
    (their environment is zeroed, their command line no longer names the home): `gyre
    up` must refuse to start over them and `gyre down` must find and kill them all —
    even with a corrupt stack.json."""
    env, our_ports = _stack_env(stack_home, tmp_path / "site")
    layout = StackLayout.for_home(stack_home)
    stack_id = ""
    agents: list[int] = []
    try:
        up = _gyre("up", "--home", str(stack_home), env=env, timeout=UP_TIMEOUT_S)
        assert up.returncode == 0, up.stdout + up.stderr
        stack_id = layout.stack_id_file.read_text().strip()
        # Ray's agents rename themselves a few seconds after the head is up.
        deadline = time.monotonic() + 30
        while len(agents := _renamed_ray_agents(our_ports)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(agents) == 2, "expected ray::DashboardAgent and ray::RuntimeEnvAgent"
        os.kill(SupervisorClient(layout.supervisor_socket).pid(), signal.SIGKILL)

        again = _gyre("up", "--home", str(stack_home), env=env, timeout=UP_TIMEOUT_S)
        assert again.returncode != 0
        assert "is still partly running; run `gyre down --home" in again.stderr
        assert "Traceback" not in again.stderr

        layout.stack_json.write_text("{corrupt")
        status = _gyre("status", "--home", str(stack_home), env=env)
        assert status.returncode == 1
        assert status.stderr.startswith("gyre status: stack.json unreadable: ")
        assert "Traceback" not in status.stderr
    finally:
        down = _gyre("down", "--home", str(stack_home), env=env, timeout=120)
        print(f"\n{down.stdout}{down.stderr}")
        leftovers = _stack_processes(stack_id, stack_home) if stack_id else []
        still_listening = _listening(our_ports)
        for pid in {int(line.split("[", 1)[1].split("]", 1)[0]) for line in leftovers}:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()

    assert down.returncode == 0, down.stdout + down.stderr
    assert "killed" in down.stdout
    assert "No Gyre stack was running" not in down.stdout
    assert leftovers == []
    assert still_listening == []
    assert [pid for pid in agents if psutil.pid_exists(pid)] == []


def test_down_sweeps_a_component_by_its_path_but_spares_the_users_python(
    stack_home: Path, tmp_path: Path
) -> None:
    """A path in the home takes a real component (a nats-server left without the stack
    id, unrecorded, in its own session) — and never a user's python naming a file there."""
    env, _ = _stack_env(stack_home, tmp_path / "site")
    layout = StackLayout.for_home(stack_home)
    layout.stack_id_file.write_text("a-stack-whose-supervisord-is-gone\n")
    nats_port, monitor_port = (
        int(env[f"GYRE_STACK__{n}"]) for n in ("NATS_PORT", "NATS_MONITOR_PORT")
    )
    nats = subprocess.Popen(
        nats_server_command(
            binary=venv_executable("nats-server"),
            store_dir=layout.nats_store,
            host="127.0.0.1",
            port=nats_port,
            monitor_port=monitor_port,
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    users = _users_process(stack_home, tmp_path, env)
    try:
        deadline = time.monotonic() + 10
        while not _listening({nats_port}) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _listening({nats_port}), "nats-server did not start"

        down = _gyre("down", "--home", str(stack_home), env=env, timeout=60)

        assert down.returncode == 0, down.stdout + down.stderr
        assert nats.wait(timeout=5) is not None
        assert users.poll() is None
        assert f"killed 1 stray process(es): nats-server[{nats.pid}]" in down.stdout
    finally:
        for proc in (nats, users):
            proc.kill()
            proc.wait()
