"""``gyre up`` / ``status`` / ``down``: the local stack's life cycle under supervisord."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from gyre.stack._commands import build_triton_backend_dir, s3_identities_json
from gyre.stack._components import (
    STACK_ID_ENV,
    Component,
    ProbeSpec,
    StackCredentials,
    client_environment,
    plan_components,
)
from gyre.stack._layout import StackLayout
from gyre.stack._ports import (
    PortConflictError,
    find_port_conflicts,
    planned_ports,
    port_is_free,
)
from gyre.stack._probes import ProbeFailed
from gyre.stack._services import (
    ServiceSpec,
    ServiceSpecError,
    assign_service_ports,
    discover_services,
)
from gyre.stack._settings import WEED_GRPC_PORT_OFFSET, StackSettings
from gyre.stack._supervisor import (
    SupervisorClient,
    SupervisorUnavailable,
    check_environment_value,
    render_supervisord_conf,
)
from gyre.stack._sweep import (
    ProcessInfo,
    StackMarks,
    read_recorded,
    record_processes,
    scan,
    spared_pids,
    stack_members,
)

__all__ = [
    "ComponentHealth",
    "DownReport",
    "StackError",
    "StackHomeError",
    "StackLeftovers",
    "StackNotRunning",
    "StackStateUnreadable",
    "UpReport",
    "down",
    "read_log_tail",
    "status",
    "up",
]

Echo = Callable[[str], None]

_STACK_JSON_VERSION = 1
# Seconds supervisord gets to open its socket after it daemonizes.
_SUPERVISORD_START_TIMEOUT_S = 20.0
# Seconds supervisord gets to exit after `shutdown` once every program has stopped.
_SUPERVISORD_EXIT_TIMEOUT_S = 15.0
# Seconds stray processes get between SIGTERM and SIGKILL in `gyre down`.
_STRAY_GRACE_S = 3.0
_POLL_S = 0.25
_LOG_TAIL_LINES = 20
# supervisord process states in which a program is alive or about to be.
_ACTIVE_STATES = frozenset({"STARTING", "RUNNING", "BACKOFF", "STOPPING"})
_STOPPED_STATES = frozenset({"STOPPED", "EXITED", "FATAL", "UNKNOWN"})
# Unix sockets weed creates in /tmp, named after its roles' ports: a gRPC socket per role
# (left behind when weed is killed) and, unless told otherwise, filer and S3 sockets.
_WEED_TMP_SOCKETS = ("seaweedfs-{role}-grpc-{grpc_port}.sock", "seaweedfs-{role}-{port}.sock")


class StackError(RuntimeError):
    """The stack could not be brought up or down; the message says which component."""


class StackNotRunning(StackError):
    """No stack runs in this home (no ``stack.json`` or supervisord is gone)."""


class StackHomeError(StackError):
    """The home cannot hold a stack: not a directory, not writable, or a path
    supervisord cannot pass to the components."""


class StackStateUnreadable(StackError):
    """``stack.json`` exists but is not what ``gyre up`` writes (corrupt or edited)."""


class StackLeftovers(StackError):
    """Processes of an earlier stack in this home still run without its supervisord."""


@dataclass(frozen=True)
class ComponentHealth:
    """One line of ``gyre status``."""

    name: str
    healthy: bool
    endpoint: str
    detail: str
    pid: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "healthy": self.healthy,
            "endpoint": self.endpoint,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class UpReport:
    """What ``gyre up`` did: whether it found the stack running, and the endpoints."""

    already_running: bool
    supervisord_pid: int
    components: list[ComponentHealth]
    env_file: Path
    elapsed_s: float


@dataclass(frozen=True)
class DownReport:
    """What ``gyre down`` did.

    ``was_running``: supervisord answered and shut the stack down. Otherwise
    ``stray_processes_killed`` lists what the sweep found of a stack whose
    supervisord was gone or hung (empty when nothing of it was left).
    """

    was_running: bool
    stray_processes_killed: list[str]
    elapsed_s: float


# --------------------------------------------------------------------------- state files


def _usable_layout(home: Path, *, create: bool) -> StackLayout:
    """The layout of ``home`` after checking it can hold a stack.

    Raises:
        StackHomeError: ``home`` is not a directory, or (``create``) cannot be created
            or written.
    """
    layout = StackLayout.for_home(home)
    if layout.home.exists() and not layout.home.is_dir():
        raise StackHomeError(f"the stack home {layout.home} is not a directory")
    if create:
        try:
            layout.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StackHomeError(
                f"cannot create the stack home {layout.home}: {exc.strerror or exc}"
            ) from exc
        if not os.access(layout.home, os.W_OK | os.X_OK):
            raise StackHomeError(f"the stack home {layout.home} is not writable")
    return layout


def _unusable_home_character(home: str) -> str | None:
    """Why a component cannot take a path under ``home``, naming the character, or None.

    supervisord expands ``environment=`` values as format strings after its config
    parser has already unescaped ``%%`` (it fails with "Format string ... badly
    formatted"), SeaweedFS splits ``-mdir``/``-dir`` on commas, and a control character
    cannot sit on a config line.
    """
    for char in home:
        if not char.isprintable():
            return (
                f"its path contains the control character {char!r}, which the "
                "components' config files cannot carry"
            )
    if "%" in home:
        return "its path contains '%', which supervisord reads as a format string"
    if "," in home:
        return "its path contains ',', where SeaweedFS splits its directory lists"
    return None


def _check_home_path(layout: StackLayout) -> None:
    """Refuse, before anything is written, a home the components cannot be given.

    Paths under the home reach components through supervisord's config (its
    ``environment=``: GYRE_HOME, the model repository, Ray's token file) and their
    command lines (weed's data dirs).

    Raises:
        StackHomeError: one line naming the character that cannot be used.
    """
    home = str(layout.home)
    shown = home if home.isprintable() else repr(home)
    reason = _unusable_home_character(home)
    if reason is not None:
        raise StackHomeError(f"the stack home {shown} cannot be used: {reason}")
    for path in (layout.home, layout.triton_models, layout.home / "ray-auth-token"):
        try:
            check_environment_value(str(path))
        except ValueError as exc:
            raise StackHomeError(f"the stack home {shown} cannot be used: {exc}") from exc


@contextlib.contextmanager
def _locked(layout: StackLayout) -> Iterator[None]:
    """Serialise `up` and `down` on one home (a second `gyre up` waits for the first)."""
    try:
        layout.home.mkdir(parents=True, exist_ok=True)
        lock = open(layout.lock_file, "a+")  # noqa: SIM115  # closed below
    except OSError as exc:
        raise StackHomeError(
            f"cannot use the stack home {layout.home}: {exc.strerror or exc}"
        ) from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_private(path: Path, text: str) -> None:
    """Write a file only the owner can read (it may hold credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _read_stack_json(layout: StackLayout) -> dict[str, Any]:
    """``stack.json``, checked to have what status, up and down read.

    Raises:
        StackNotRunning: there is none.
        StackHomeError: the home is not a directory.
        StackStateUnreadable: it cannot be read or parsed, or lacks a field.
    """
    path = layout.stack_json
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise StackNotRunning(f"no stack is running in {layout.home} (no stack.json)") from exc
    except NotADirectoryError as exc:
        raise StackHomeError(f"the stack home {layout.home} is not a directory") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StackStateUnreadable(f"stack.json unreadable: {path}: {exc}") from exc
    try:
        if not isinstance(data, dict):
            raise TypeError(f"expected an object, found {type(data).__name__}")
        float(data["probe_timeout_s"])
        _components_from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise StackStateUnreadable(f"stack.json unreadable: {path}: {what}") from exc
    return data


def _components_from_json(data: dict[str, Any]) -> list[tuple[str, str, str, ProbeSpec, str]]:
    """(name, kind, endpoint, probe, log file) per component in ``stack.json``."""
    return [
        (c["name"], c["kind"], c["endpoint"], ProbeSpec.from_json(c["probe"]), c["log"])
        for c in data["components"]
    ]


def _env_file_text(environment: dict[str, str], layout: StackLayout) -> str:
    lines = [
        "# Endpoints of the local Gyre stack, written by `gyre up`.",
        f"# Use it from a shell: . {shlex.quote(str(layout.env_file))}",
    ]
    lines += [f"export {key}={shlex.quote(val)}" for key, val in sorted(environment.items())]
    return "\n".join(lines) + "\n"


def read_log_tail(path: Path | str, lines: int = _LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


# --------------------------------------------------------------------------- probing


def _probe_all(
    specs: Sequence[tuple[str, ProbeSpec]], timeout_s: float
) -> dict[str, tuple[bool, str]]:
    """Run probes concurrently on daemon threads; never waits much longer than timeout_s.

    Daemon threads (not an executor): a probe stuck past its own timeout must not keep
    the CLI from exiting.
    """
    results: dict[str, tuple[bool, str]] = {}

    def run(name: str, spec: ProbeSpec) -> None:
        try:
            results[name] = (True, spec.build()(timeout_s))
        except ProbeFailed as exc:
            results[name] = (False, str(exc))
        except Exception as exc:  # a probe must report, never crash the command
            results[name] = (False, f"probe error: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in specs]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_s + 1.0
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for name, _ in specs:
        results.setdefault(name, (False, f"probe did not answer within {timeout_s:g}s"))
    return results


def _health(
    rows: Sequence[tuple[str, str, ProbeSpec]],
    infos: dict[str, dict[str, Any]],
    timeout_s: float,
) -> list[ComponentHealth]:
    """Health = supervisord says RUNNING and the component's own probe passes."""
    to_probe = [
        (name, probe)
        for name, _, probe in rows
        if infos.get(name, {}).get("statename") == "RUNNING"
    ]
    probed = _probe_all(to_probe, timeout_s)
    health: list[ComponentHealth] = []
    for name, endpoint, _ in rows:
        info = infos.get(name)
        if info is None:
            health.append(ComponentHealth(name, False, endpoint, "not known to supervisord"))
            continue
        state = str(info["statename"])
        pid = int(info.get("pid") or 0)
        if state != "RUNNING":
            description = str(info.get("description") or "").strip()
            detail = f"supervisord: {state}" + (f" ({description})" if description else "")
            health.append(ComponentHealth(name, False, endpoint, detail, pid))
            continue
        ok, detail = probed[name]
        health.append(ComponentHealth(name, ok, endpoint, detail, pid))
    return health


# --------------------------------------------------------------------------- up


def _prepare_state_dir(
    layout: StackLayout, components: Sequence[Component], credentials: StackCredentials
) -> None:
    for path in (layout.logs, layout.nats_store, layout.s3_dir, layout.triton_models):
        path.mkdir(parents=True, exist_ok=True)
    _write_private(
        layout.s3_config,
        s3_identities_json(credentials.s3_access_key, credentials.s3_secret_key),
    )
    build_triton_backend_dir(layout.triton_backends)
    if layout.ray_temp_dir != layout.ray_link:
        layout.ray_temp_dir.mkdir(parents=True, exist_ok=True)
        if not layout.ray_link.is_symlink():
            layout.ray_link.symlink_to(layout.ray_temp_dir, target_is_directory=True)
    else:
        layout.ray_temp_dir.mkdir(parents=True, exist_ok=True)
    layout.supervisor_socket.parent.mkdir(parents=True, exist_ok=True)
    for component in components:
        component.program.directory.mkdir(parents=True, exist_ok=True)


def _ray_token_file(layout: StackLayout) -> Path:
    """The Ray head's auth token, created once per home (kept across up/down)."""
    path = layout.home / "ray-auth-token"
    if not path.exists():
        # Same format as Ray's own `ray get-auth-token --generate`.
        _write_private(path, secrets.token_hex(32))
    return path


def _running_client(layout: StackLayout) -> SupervisorClient | None:
    """A client for this home's supervisord if it answers, else None."""
    if not layout.supervisor_socket.exists():
        return None
    client = SupervisorClient(layout.supervisor_socket)
    try:
        state = client.state()
    except SupervisorUnavailable:
        return None
    return client if state == "RUNNING" else None


def _start_supervisord(layout: StackLayout, stack_id: str) -> SupervisorClient:
    with contextlib.suppress(FileNotFoundError):
        layout.supervisor_socket.unlink()  # stale: nothing answered on it
    env = dict(os.environ)
    env[STACK_ID_ENV] = stack_id
    # Every component runs with this environment's bin first on PATH, as if it were
    # activated: Ray job entrypoints that say `python ...` and Triton's Python
    # backend stub must find this interpreter and its packages, not the system's.
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(
        [venv_bin, *(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)]
    )
    result = subprocess.run(
        [sys.executable, "-m", "supervisor.supervisord", "-c", str(layout.supervisord_conf)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_SUPERVISORD_START_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(
            f"supervisord failed to start (exit {result.returncode}): "
            f"{(result.stderr or result.stdout).strip()}\n"
            f"{read_log_tail(layout.log('supervisord'))}"
        )
    client = SupervisorClient(layout.supervisor_socket)
    deadline = time.monotonic() + _SUPERVISORD_START_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(SupervisorUnavailable):
            if client.state() == "RUNNING":
                return client
        time.sleep(_POLL_S / 2)
    raise StackError(
        f"supervisord did not answer on {layout.supervisor_socket} within "
        f"{_SUPERVISORD_START_TIMEOUT_S:.0f}s:\n{read_log_tail(layout.log('supervisord'))}"
    )


def _wait_ready(
    client: SupervisorClient,
    rows: Sequence[tuple[str, str, ProbeSpec, str]],
    *,
    deadline: float,
    probe_timeout_s: float,
    echo: Echo,
    on_ready: Callable[[str], None] | None = None,
) -> dict[str, ComponentHealth]:
    """Poll until every component is healthy; fail fast on FATAL, else at the deadline."""
    pending = {name: (name, endpoint, probe, log) for name, endpoint, probe, log in rows}
    ready: dict[str, ComponentHealth] = {}
    last: dict[str, ComponentHealth] = {}
    while pending:
        infos = client.processes()
        health = _health(
            [(name, endpoint, probe) for name, endpoint, probe, _ in pending.values()],
            infos,
            probe_timeout_s,
        )
        for item in health:
            last[item.name] = item
            if item.healthy:
                ready[item.name] = item
                del pending[item.name]
                echo(f"  {item.name:<16} ready  {item.endpoint}")
                if on_ready is not None:
                    on_ready(item.name)
            elif infos.get(item.name, {}).get("statename") == "FATAL":
                raise StackError(_failure(item, pending[item.name][3], "exited and gave up"))
        if not pending:
            break
        if time.monotonic() > deadline:
            name = sorted(pending)[0]
            raise StackError(_failure(last[name], pending[name][3], "is not ready in time"))
        time.sleep(_POLL_S)
    return ready


def _failure(item: ComponentHealth, log: str, what: str) -> str:
    tail = read_log_tail(log)
    return (
        f"component {item.name!r} {what} ({item.detail}).\n"
        f"Last lines of {log}:\n{tail or '(empty)'}\n"
        "The other components are still running: inspect with `gyre status`, "
        "stop everything with `gyre down`."
    )


def _ensure_bucket(probe: ProbeSpec, bucket: str) -> None:
    """Create the artifacts bucket services expect, if missing."""
    from minio import Minio

    client = Minio(
        probe.target, access_key=probe.access_key, secret_key=probe.secret_key, secure=False
    )
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)


def up(
    home: Path,
    *,
    settings: StackSettings,
    s3_access_key: str,
    s3_secret_key: str,
    s3_bucket: str,
    echo: Echo,
    services: Sequence[ServiceSpec] | None = None,
) -> UpReport:
    """Start the stack in ``home`` (or make sure the running one is complete).

    Returns once every component is healthy.

    Raises:
        PortConflictError: a port is configured twice or already in use.
        StackError: a component exited or was not ready within the startup timeout;
            the message names it and ends with the tail of its log.
    """
    started = time.monotonic()
    layout = StackLayout.for_home(home)
    _check_home_path(layout)
    layout = _usable_layout(layout.home, create=True)
    with _locked(layout):
        client = _running_client(layout)
        if client is not None:
            echo(f"The Gyre stack in {layout.home} is already running; checking its programs.")
            already_running = True
            data = _read_stack_json(layout)
            stack = _components_from_json(data)
            timeout = float(data.get("startup_timeout_s", settings.startup_timeout_s))
            deadline = time.monotonic() + timeout
            probe_timeout = float(data["probe_timeout_s"])
            infos = client.processes()
            for name, *_ in stack:
                if infos.get(name, {}).get("statename") in _STOPPED_STATES:
                    echo(f"  starting {name} (was {infos[name]['statename']})")
                    client.start(name)
            rows = [(name, endpoint, probe, log) for name, _, endpoint, probe, log in stack]
            _wait_ready(client, rows, deadline=deadline, probe_timeout_s=probe_timeout, echo=echo)
        else:
            already_running = False
            _refuse_leftovers(layout, settings)
            client = _first_start(
                layout,
                settings=settings,
                credentials=StackCredentials(
                    s3_access_key=s3_access_key,
                    s3_secret_key=s3_secret_key,
                    ray_token_file=_ray_token_file(layout),
                ),
                s3_bucket=s3_bucket,
                services=discover_services() if services is None else services,
                echo=echo,
            )
        report_rows = _components_from_json(_read_stack_json(layout))
        infos = client.processes()
        _record_pids(layout, [client.pid(), *(int(i.get("pid") or 0) for i in infos.values())])
        health = _health(
            [(name, endpoint, probe) for name, _, endpoint, probe, _ in report_rows],
            infos,
            settings.probe_timeout_s,
        )
        return UpReport(
            already_running=already_running,
            supervisord_pid=client.pid(),
            components=health,
            env_file=layout.env_file,
            elapsed_s=time.monotonic() - started,
        )


def _first_start(
    layout: StackLayout,
    *,
    settings: StackSettings,
    credentials: StackCredentials,
    s3_bucket: str,
    services: Sequence[ServiceSpec],
    echo: Echo,
) -> SupervisorClient:
    service_ports = assign_service_ports(
        services, base_port=settings.service_base_port, overrides=settings.service_ports
    )
    conflicts = find_port_conflicts(settings, service_ports)
    if conflicts:
        raise PortConflictError(conflicts)
    stack_id = uuid.uuid4().hex
    try:
        components = plan_components(layout, settings, credentials, services, service_ports)
        _prepare_state_dir(layout, components, credentials)
    except OSError as exc:  # FileNotFoundError: a component is not installed
        raise StackError(f"cannot prepare the stack in {layout.home}: {exc}") from exc
    layout.stack_id_file.write_text(stack_id + "\n")
    environment = client_environment(layout, settings, credentials, services, service_ports)
    _write_private(
        layout.supervisord_conf,
        render_supervisord_conf(
            socket_path=layout.supervisor_socket,
            pid_file=layout.supervisord_pid,
            log_file=layout.log("supervisord"),
            directory=layout.home,
            identifier=f"gyre-{stack_id}",
            environment={STACK_ID_ENV: stack_id},
            programs=[c.program for c in components],
        ),
    )
    stack_json = {
        "version": _STACK_JSON_VERSION,
        "stack_id": stack_id,
        "home": str(layout.home),
        "supervisor_socket": str(layout.supervisor_socket),
        "ray_temp_dir": str(layout.ray_temp_dir),
        "startup_timeout_s": settings.startup_timeout_s,
        "probe_timeout_s": settings.probe_timeout_s,
        # Every port the stack listens on: `gyre down` and `gyre up` recognise leftovers
        # of the stack (Ray's renamed agents) by them.
        "ports": planned_ports(settings, service_ports),
        "weed_ports": {
            "master": settings.weed_master_port,
            "volume": settings.weed_volume_port,
            "filer": settings.weed_filer_port,
            "s3": settings.s3_port,
        },
        "endpoints": {c.name: c.endpoint for c in components},
        # host:port per service key, what gyre.sdk.endpoints.resolve_address reads.
        "services": {name: f"{settings.host}:{port}" for name, port in service_ports.items()},
        "env": environment,
        "components": [
            {
                "name": c.name,
                "kind": c.kind,
                "endpoint": c.endpoint,
                "log": str(c.program.log_file),
                "probe": c.probe.to_json(),
                # `gyre down` takes a process naming the home for the stack's only when
                # it runs one of these (or another component's program).
                "command": list(c.program.command),
            }
            for c in components
        ],
    }
    _write_private(layout.stack_json, json.dumps(stack_json, indent=2) + "\n")
    _write_private(layout.env_file, _env_file_text(environment, layout))

    echo(f"Starting the Gyre stack in {layout.home} (logs in {layout.logs})")
    with contextlib.suppress(FileNotFoundError):
        layout.pids_file.unlink()  # an earlier stack's; that one is gone (see up)
    client = _start_supervisord(layout, stack_id)
    _record_pids(layout, [client.pid()])
    deadline = time.monotonic() + settings.startup_timeout_s
    infra = [c for c in components if c.kind == "infrastructure"]
    service_components = [c for c in components if c.kind == "service"]
    for component in infra:
        client.start(component.name)

    s3 = next(c for c in infra if c.name == "s3")

    def on_ready(name: str) -> None:
        _record_pids(layout, [int(client.processes().get(name, {}).get("pid") or 0)])
        if name == "s3":
            _ensure_bucket(s3.probe, s3_bucket)

    _wait_ready(
        client,
        [(c.name, c.endpoint, c.probe, str(c.program.log_file)) for c in infra],
        deadline=deadline,
        probe_timeout_s=settings.probe_timeout_s,
        echo=echo,
        on_ready=on_ready,
    )
    for component in service_components:
        client.start(component.name)
    _wait_ready(
        client,
        [(c.name, c.endpoint, c.probe, str(c.program.log_file)) for c in service_components],
        deadline=deadline,
        probe_timeout_s=settings.probe_timeout_s,
        echo=echo,
        on_ready=on_ready,
    )
    return client


# --------------------------------------------------------------------------- status


def status(home: Path, *, probe_timeout_s: float | None = None) -> list[ComponentHealth]:
    """Health of every component of the stack in ``home``; never blocks for long.

    Raises:
        StackNotRunning: no ``stack.json`` in ``home``.
        StackStateUnreadable: ``stack.json`` is corrupt.
        StackHomeError: ``home`` is not a directory.
    """
    layout = _usable_layout(home, create=False)
    data = _read_stack_json(layout)
    timeout = float(probe_timeout_s or data["probe_timeout_s"])
    rows = [(name, endpoint, probe) for name, _, endpoint, probe, _ in _components_from_json(data)]
    client = SupervisorClient(layout.supervisor_socket, timeout_s=timeout + 1.0)
    try:
        infos = client.processes()
    except SupervisorUnavailable as exc:
        return [ComponentHealth(name, False, endpoint, str(exc)) for name, endpoint, _ in rows]
    _record_pids(layout, [int(i.get("pid") or 0) for i in infos.values()])
    return _health(rows, infos, timeout)


# --------------------------------------------------------------------------- down


def _wait_stopped(client: SupervisorClient, names: Sequence[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        infos = client.processes()
        if all(infos.get(n, {}).get("statename") in _STOPPED_STATES for n in names):
            return
        time.sleep(_POLL_S)


def _stop_programs(client: SupervisorClient, data: dict[str, Any], echo: Echo) -> None:
    """Stop services first (they may flush to NATS/S3), then all infrastructure at once."""
    components = data["components"]
    # supervisord escalates to SIGKILL after stopwaitsecs; this only bounds our wait.
    wait_s = 45.0
    for kind in ("service", "infrastructure"):
        names = [c["name"] for c in components if c["kind"] == kind]
        infos = client.processes()
        for name in names:
            if infos.get(name, {}).get("statename") in _ACTIVE_STATES:
                echo(f"  stopping {name}")
                client.stop(name)
        _wait_stopped(client, names, wait_s)


def _record_pids(layout: StackLayout, pids: Sequence[int]) -> None:
    """Remember the sessions and groups of live stack processes for `gyre down`'s sweep.

    Best effort: a read-only home (someone else's stack under `gyre status`) skips it.
    """
    with contextlib.suppress(OSError):
        record_processes(layout.pids_file, pids)


def _settings_ports(settings: StackSettings | None) -> dict[str, int]:
    """The ports the current settings give the stack (when ``stack.json`` cannot say)."""
    try:
        settings = settings or StackSettings()
    except ValueError:  # pydantic's ValidationError: bad GYRE_STACK__* variables
        return {}
    try:
        service_ports = assign_service_ports(
            discover_services(),
            base_port=settings.service_base_port,
            overrides=settings.service_ports,
        )
    except ServiceSpecError:
        service_ports = dict(settings.service_ports)
    return planned_ports(settings, service_ports)


def _recorded_commands(data: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The components' commands ``stack.json`` records (none from before it did)."""
    return [
        tuple(str(arg) for arg in c["command"])
        for c in data.get("components") or ()
        if isinstance(c, dict) and isinstance(c.get("command"), list)
    ]


def _settings_commands() -> list[tuple[str, ...]]:
    """The installed services' commands (when ``stack.json`` cannot say)."""
    try:
        return [tuple(spec.command) for spec in discover_services()]
    except ServiceSpecError:
        return []


def _stack_marks(
    layout: StackLayout,
    stack_id: str,
    ports: Mapping[str, int],
    commands: Sequence[Sequence[str]] = (),
) -> StackMarks:
    return StackMarks(
        stack_id=stack_id,
        paths=(str(layout.home), str(layout.ray_temp_dir), str(layout.short_dir)),
        ports=frozenset(int(p) for p in ports.values()),
        recorded=read_recorded(layout.pids_file),
        commands=tuple(tuple(cmd) for cmd in commands),
    )


def _stack_processes(marks: StackMarks) -> list[ProcessInfo]:
    """Live processes of the stack ``marks`` describes (see :mod:`gyre.stack._sweep`)."""
    return stack_members(scan(), marks, spared=spared_pids())


def _describe(procs: Sequence[ProcessInfo], limit: int = 6) -> str:
    names = [f"{Path(p.cmdline[0]).name if p.cmdline else '?'}[{p.pid}]" for p in procs]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _kill_strays(found: Sequence[ProcessInfo]) -> list[str]:
    """SIGTERM (and SIGCONT, for stopped ones), then SIGKILL after a short grace.

    Ray's renamed agents may ignore SIGTERM for longer than the grace period.
    """
    procs: list[psutil.Process] = []
    described: list[str] = []
    for info in found:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(info.pid)
            if abs(proc.create_time() - info.started) > 1.0:
                continue  # the pid was reused since the scan
            described.append(f"{proc.name()}[{proc.pid}]")
            proc.terminate()
            proc.resume()
            procs.append(proc)
    _, alive = psutil.wait_procs(procs, timeout=_STRAY_GRACE_S)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=_STRAY_GRACE_S)
    return described


def _supervisord_pid(layout: StackLayout) -> int | None:
    with contextlib.suppress(FileNotFoundError, ValueError):
        return int(layout.supervisord_pid.read_text().strip())
    return None


def _refuse_leftovers(layout: StackLayout, settings: StackSettings) -> None:
    """Raise StackLeftovers when an earlier stack of this home still partly runs.

    Only a home whose last stack was not taken down (``stack.id`` or ``stack.pids``
    left) is checked, so a fresh home never blames a process on an old stack.
    """
    stack_id = _read_stack_id(layout)
    if not stack_id and not layout.pids_file.exists():
        return
    try:
        data = _read_stack_json(layout)
        ports: Mapping[str, int] = data.get("ports") or {}
        commands = _recorded_commands(data)
    except StackError:
        ports = _settings_ports(settings)
        commands = _settings_commands()
    leftovers = _stack_processes(_stack_marks(layout, stack_id, ports, commands))
    if leftovers:
        home = shlex.quote(str(layout.home))
        raise StackLeftovers(
            f"a previous Gyre stack in {layout.home} is still partly running; "
            f"run `gyre down --home {home}` first (left running: {_describe(leftovers)})"
        )


def down(home: Path, *, echo: Echo, settings: StackSettings | None = None) -> DownReport:
    """Stop every program, shut supervisord down, and kill whatever escaped.

    Idempotent: on a home where nothing runs it only sweeps and cleans up. When
    ``stack.json`` is unreadable the stack is still stopped: supervisord through its
    socket, then the sweep by ``stack.id``, ``stack.pids`` and the ports of
    ``settings`` (default: read from the environment).

    Raises:
        StackHomeError: ``home`` is not a directory or not writable.
        StackError: processes of the stack survived SIGKILL.
    """
    started = time.monotonic()
    layout = _usable_layout(home, create=True)
    with _locked(layout):
        data: dict[str, Any] = {}
        # Ports and weed's sockets come from stack.json; only when it is unreadable are
        # they taken from the settings (a missing one means nothing is left to find).
        unreadable = False
        try:
            data = _read_stack_json(layout)
        except StackNotRunning:
            pass
        except StackStateUnreadable as exc:
            echo(f"{exc}; stopping the stack without it")
            unreadable = True
        stack_id = str(data.get("stack_id") or "") or _read_stack_id(layout)
        ports = data.get("ports") or (_settings_ports(settings) if unreadable else {})
        commands = _settings_commands() if unreadable else _recorded_commands(data)
        client = _running_client(layout)
        was_running = client is not None
        if client is not None:
            echo(f"Stopping the Gyre stack in {layout.home}")
            with contextlib.suppress(SupervisorUnavailable):
                infos = client.processes()
                _record_pids(layout, [client.pid(), *(int(i["pid"] or 0) for i in infos.values())])
            _stop_programs(client, data or {"components": []}, echo)  # shutdown stops the rest
            _shutdown_supervisord(client, layout)
        else:
            pid = _supervisord_pid(layout)
            if pid is not None and psutil.pid_exists(pid):
                # supervisord exists but does not answer: it goes with the sweep below.
                echo(f"supervisord [{pid}] does not answer; killing the stack's processes")

        strays: list[str] = []
        if stack_id or layout.pids_file.exists():
            marks = _stack_marks(layout, stack_id, ports, commands)
            procs = _stack_processes(marks)
            if procs:
                strays = _kill_strays(procs)
                echo(f"  killed {len(strays)} stray process(es): {', '.join(strays)}")
            survivors = _stack_processes(marks)
            if survivors:
                raise StackError(f"processes of the stack survived SIGKILL: {_describe(survivors)}")
        weed_ports = data.get("weed_ports") or (_free_weed_ports(settings) if unreadable else {})
        _clean_files(layout, {str(k): int(v) for k, v in weed_ports.items()})
        return DownReport(
            was_running=was_running,
            stray_processes_killed=strays,
            elapsed_s=time.monotonic() - started,
        )


def _free_weed_ports(settings: StackSettings | None) -> dict[str, int]:
    """SeaweedFS's ports from the settings, when ``stack.json`` was unreadable.

    Only ports nothing listens on any more: a socket of a weed that still runs there
    belongs to another stack.
    """
    try:
        settings = settings or StackSettings()
    except ValueError:
        return {}
    ports = {
        "master": settings.weed_master_port,
        "volume": settings.weed_volume_port,
        "filer": settings.weed_filer_port,
        "s3": settings.s3_port,
    }
    return {role: port for role, port in ports.items() if port_is_free(settings.host, port)}


def _read_stack_id(layout: StackLayout) -> str:
    with contextlib.suppress(FileNotFoundError):
        return layout.stack_id_file.read_text().strip()
    return ""


def _shutdown_supervisord(client: SupervisorClient, layout: StackLayout) -> None:
    pid = client.pid()
    with contextlib.suppress(SupervisorUnavailable):
        client.shutdown()
    try:
        psutil.Process(pid).wait(timeout=_SUPERVISORD_EXIT_TIMEOUT_S)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _clean_files(layout: StackLayout, weed_ports: dict[str, int]) -> None:
    """Remove run-time files; data (JetStream store, S3 data, models, logs) stays."""
    tmp = Path("/tmp")
    paths = [
        layout.stack_json,
        layout.env_file,
        layout.stack_id_file,
        layout.pids_file,
        layout.supervisord_pid,
        layout.supervisor_socket,
        layout.weed_filer_socket,
        layout.weed_s3_socket,
    ]
    paths += [
        tmp / pattern.format(role=role, port=port, grpc_port=port + WEED_GRPC_PORT_OFFSET)
        for role, port in weed_ports.items()
        for pattern in _WEED_TMP_SOCKETS
    ]
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    with contextlib.suppress(OSError):
        layout.short_dir.rmdir()  # only when empty: Ray's temp dir may live there
