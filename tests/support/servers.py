"""Start real NATS, S3 (SeaweedFS), Triton, Ray and PostgreSQL servers on free ports.

Each server is a context manager that starts the real binary from the virtual
environment (or, for PostgreSQL, from Debian's ``postgresql`` package), waits
until it answers, and on exit stops it and checks that the process is gone.
Nothing here is a fake: these are the components the integration tests name.

The nats-server, ``weed server``, ``tritonserver`` and ``ray start`` command lines
(and Triton's backend directory and environment) are the local stack's own
(:mod:`gyre.stack`), so tests run the components exactly as ``gyre up`` does.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from gyre.stack import (
    STACK_ID_ENV,
    build_triton_backend_dir,
    nats_server_command,
    ray_head_command,
    s3_identities_json,
    triton_environment,
    triton_server_command,
    venv_executable,
    weed_server_command,
)
from gyre.stack._commands import TRITON_BINARY_RELPATH, site_packages

__all__ = [
    "RAY_WORKER_PORTS",
    "NatsServer",
    "PostgresServer",
    "RayHead",
    "SeaweedS3",
    "TritonServer",
    "free_port",
    "venv_bin",
    "wait_for",
]

STARTUP_TIMEOUT_S = 60.0
# Ports Ray's workers bind (ray start --min/--max-worker-port): below the ephemeral
# range free_port() draws from, and apart from the stack's default 20000-20999.
RAY_WORKER_PORTS = (21000, 21999)
# Seconds `ray start --block` gets to drain its node after SIGTERM before the sweep.
RAY_STOP_TIMEOUT_S = 10.0
# Seconds stray processes get between SIGTERM and SIGKILL.
STRAY_GRACE_S = 3.0
_LOG_TAIL_CHARS = 4000


def venv_bin(name: str) -> str:
    """Path of an executable installed in the running interpreter's environment."""
    return venv_executable(name)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (and outside Ray's worker range)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if (
            not 10002 <= port <= 19999
            and not RAY_WORKER_PORTS[0] <= port <= RAY_WORKER_PORTS[1]
            and port + 10000 <= 65535
        ):
            return port


def wait_for(check: object, *, timeout: float = STARTUP_TIMEOUT_S, what: str = "server") -> None:
    """Poll ``check()`` until it returns truthy or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception as exc:  # a server that is still starting refuses connections
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s (last error: {last!r})")


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _stop(proc: subprocess.Popen[bytes], *, timeout: float = 30.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@dataclass
class NatsServer:
    """A real ``nats-server`` with JetStream, restartable on the same port and store."""

    store_dir: Path
    port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.store_dir / "nats.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            nats_server_command(
                binary=venv_bin("nats-server"),
                store_dir=self.store_dir,
                host="127.0.0.1",
                port=self.port,
                monitor_port=self.monitor_port,
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        wait_for(lambda: urllib.request.urlopen(url, timeout=1).status == 200, what="nats-server")

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @classmethod
    @contextlib.contextmanager
    def running(cls, base: Path | None = None) -> Iterator[NatsServer]:
        with tempfile.TemporaryDirectory(dir=base) as tmp:
            server = cls(store_dir=Path(tmp))
            server.start()
            try:
                yield server
            finally:
                server.stop()


@dataclass
class SeaweedS3:
    """A real SeaweedFS server exposing the S3 API (``weed server -s3``)."""

    data_dir: Path
    s3_port: int = field(default_factory=free_port)
    access_key: str = "gyre"
    secret_key: str = "gyre-secret-key"
    proc: subprocess.Popen[bytes] | None = None
    _grpc_sockets: list[Path] = field(default_factory=list, repr=False)

    @property
    def endpoint(self) -> str:
        """``host:port`` as the minio SDK wants it."""
        return f"127.0.0.1:{self.s3_port}"

    def start(self) -> None:
        master, volume, filer = free_port(), free_port(), free_port()
        # weed names a /tmp socket after each role's gRPC port and leaves it behind
        # when killed; remembered here so stop() can remove them.
        self._grpc_sockets = [
            Path(tempfile.gettempdir()) / f"seaweedfs-{role}-grpc-{port + 10000}.sock"
            for role, port in (
                ("master", master),
                ("volume", volume),
                ("filer", filer),
                ("s3", self.s3_port),
            )
        ]
        config = self.data_dir / "s3.json"
        config.write_text(s3_identities_json(self.access_key, self.secret_key))
        log = open(self.data_dir / "weed.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            weed_server_command(
                binary=venv_bin("weed"),
                data_dir=self.data_dir,
                host="127.0.0.1",
                s3_port=self.s3_port,
                master_port=master,
                volume_port=volume,
                filer_port=filer,
                s3_config=config,
                filer_socket=self.data_dir / "filer.sock",
                s3_socket=self.data_dir / "s3.sock",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._ready, what="seaweedfs s3")

    def _ready(self) -> bool:
        from minio import Minio

        client = Minio(
            self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False
        )
        client.list_buckets()
        return True

    def stop(self) -> None:
        # SeaweedFS takes ~10-25 s to stop on SIGTERM; its data is a temp dir, so tests
        # give it a short grace period and then kill the process group.
        if self.proc is not None:
            _stop(self.proc, timeout=2.0)
            self.proc = None
            for sock in self._grpc_sockets:
                sock.unlink(missing_ok=True)

    @classmethod
    @contextlib.contextmanager
    def running(cls, base: Path | None = None) -> Iterator[SeaweedS3]:
        with tempfile.TemporaryDirectory(dir=base) as tmp:
            server = cls(data_dir=Path(tmp))
            server.start()
            try:
                yield server
            finally:
                server.stop()


def _pg_bindir() -> Path | None:
    root = Path("/usr/lib/postgresql")
    if not root.exists():
        return None
    versions = sorted((p for p in root.iterdir() if (p / "bin" / "initdb").exists()), reverse=True)
    return versions[0] / "bin" if versions else None


@dataclass
class PostgresServer:
    """A throw-away PostgreSQL cluster (``initdb`` + ``postgres``) on a free port.

    PostgreSQL refuses to run as root, so when the tests run as root the server
    runs as the ``postgres`` system user created by Debian's package.
    """

    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return _pg_bindir() is not None

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of the ``gyre`` database."""
        return f"postgresql+psycopg://gyre@127.0.0.1:{self.port}/gyre"

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://gyre@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def start(self) -> None:
        bindir = _pg_bindir()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL is not installed (Debian package 'postgresql')")
        pgdata = self.data_dir / "pgdata"
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, user="postgres")
        subprocess.run(
            self._as_owner(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    "gyre",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        self.proc = subprocess.Popen(
            self._as_owner(
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(pgdata),
                    "-p",
                    str(self.port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    str(self.data_dir),
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=200",
                ]
            ),
            stdout=subprocess.DEVNULL,
            stderr=open(self.data_dir / "postgres.log", "ab"),  # noqa: SIM115
            start_new_session=True,
        )
        wait_for(lambda: _port_open(self.port), what="postgres")
        self.create_database("gyre")

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its SQLAlchemy URL."""
        import psycopg

        def create() -> bool:
            with psycopg.connect(
                host="127.0.0.1", port=self.port, user="gyre", dbname="postgres", autocommit=True
            ) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            return True

        wait_for(create, what="postgres create database")
        return self.url_for(name)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None

    @classmethod
    @contextlib.contextmanager
    def running(cls, base: Path | None = None) -> Iterator[PostgresServer]:
        with tempfile.TemporaryDirectory(dir=base) as tmp:
            os.chmod(tmp, 0o755)
            server = cls(data_dir=Path(tmp))
            server.start()
            try:
                yield server
            finally:
                server.stop()


def _log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-_LOG_TAIL_CHARS:]
    except FileNotFoundError:
        return "(no log)"


def _wait_started(proc: subprocess.Popen[bytes], check: object, *, what: str, log: Path) -> None:
    """``wait_for(check)``, failing at once (with the log's tail) if ``proc`` exits."""

    def ready() -> bool:
        if proc.poll() is not None:
            raise ChildProcessError(f"{what} exited with {proc.returncode}")
        return bool(check())  # type: ignore[operator]

    try:
        wait_for(ready, what=what)
    except (TimeoutError, ChildProcessError) as exc:
        raise RuntimeError(f"{exc}; last lines of {log}:\n{_log_tail(log)}") from exc


@dataclass(frozen=True)
class _ProcessMarks:
    """How to recognise the processes of one server, however far they wandered.

    - ``env_value``: ``GYRE_STACK_ID=<env_value>``, inherited by every descendant, even
      those that leave the process group or session (Ray's workers, job drivers) —
      but unreadable in processes that rename themselves with setproctitle, which
      overwrites the start of ``/proc/<pid>/environ`` (Ray's agents, dashboard heads);
    - ``session``: those stay in the leader's session (``start_new_session=True``);
    - ``paths``: a temp dir or repository named on the command line.
    """

    env_value: str
    session: int
    paths: tuple[str, ...]

    def match(self, proc: psutil.Process) -> bool:
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            cmdline = " ".join(proc.cmdline())
            if any(path in cmdline for path in self.paths):
                return True
            if os.getsid(proc.pid) == self.session:
                return True
            return proc.environ().get(STACK_ID_ENV) == self.env_value
        return False


def _marked_processes(marks: _ProcessMarks) -> list[psutil.Process]:
    """Live processes of the server ``marks`` describes (never this process)."""
    me = os.getpid()
    return [proc for proc in psutil.process_iter() if proc.pid != me and marks.match(proc)]


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _kill_marked(marks: _ProcessMarks, also: list[psutil.Process] | None = None) -> None:
    """SIGTERM, then SIGKILL, every marked process (and ``also``); raise if one survives."""
    procs = {proc.pid: proc for proc in [*(also or []), *_marked_processes(marks)]}
    for proc in procs.values():
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(list(procs.values()), timeout=STRAY_GRACE_S)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=STRAY_GRACE_S)
    survivors = [p for p in procs.values() if _alive(p)]
    survivors += [p for p in _marked_processes(marks) if p.pid not in procs]
    if survivors:
        names = ", ".join(f"{p.name()}[{p.pid}]" for p in survivors)
        raise RuntimeError(f"processes survived SIGKILL: {names}")


@dataclass
class TritonServer:
    """A real ``tritonserver`` (the nvidia-pytriton wheel's) with explicit model control.

    ``root`` holds the model repository (``models/``), the Python backend directory
    built by :func:`gyre.stack.build_triton_backend_dir` (``backends/``) and
    ``triton.log``. Models are loaded and unloaded by clients (``load_model``); the
    server starts with none. Command line and environment are the stack's
    (:func:`gyre.stack.triton_server_command`, :func:`gyre.stack.triton_environment`),
    so Python-backend models import this environment's packages.
    """

    root: Path
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    _marks: _ProcessMarks | None = field(default=None, repr=False)

    @property
    def model_repository(self) -> Path:
        return self.root / "models"

    @property
    def backend_directory(self) -> Path:
        return self.root / "backends"

    @property
    def log_file(self) -> Path:
        return self.root / "triton.log"

    @property
    def grpc_url(self) -> str:
        """``host:port`` of the gRPC endpoint, as ``tritonclient.grpc`` wants it."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        """``host:port`` of the HTTP (KServe v2) endpoint, as ``tritonclient.http`` wants it."""
        return f"127.0.0.1:{self.http_port}"

    def ready(self) -> bool:
        """Whether ``/v2/health/ready`` answers 200."""
        url = f"http://{self.http_url}/v2/health/ready"
        with contextlib.suppress(OSError):
            return bool(urllib.request.urlopen(url, timeout=1).status == 200)
        return False

    def start(self) -> None:
        self.model_repository.mkdir(parents=True, exist_ok=True)
        build_triton_backend_dir(self.backend_directory)
        marker = uuid.uuid4().hex
        env = {**os.environ, **triton_environment(), STACK_ID_ENV: marker}
        log = open(self.log_file, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            triton_server_command(
                binary=str(site_packages() / TRITON_BINARY_RELPATH),
                model_repository=self.model_repository,
                backend_directory=self.backend_directory,
                host="127.0.0.1",
                http_port=self.http_port,
                grpc_port=self.grpc_port,
                metrics_port=self.metrics_port,
            ),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._marks = _ProcessMarks(
            marker, self.proc.pid, (str(self.model_repository), str(self.backend_directory))
        )
        _wait_started(self.proc, self.ready, what="tritonserver", log=self.log_file)

    def stop(self) -> None:
        """SIGTERM the server's process group (``--exit-timeout-secs=5`` bounds it).

        Python backend stubs left behind are killed too; raises RuntimeError if any
        of the server's processes survives SIGKILL.
        """
        if self.proc is not None:
            _stop(self.proc, timeout=15.0)
            self.proc = None
        if self._marks is not None:
            _kill_marked(self._marks)
            self._marks = None

    @classmethod
    @contextlib.contextmanager
    def running(cls, base: Path | None = None) -> Iterator[TritonServer]:
        with tempfile.TemporaryDirectory(dir=base) as tmp:
            server = cls(root=Path(tmp))
            server.start()
            try:
                yield server
            finally:
                server.stop()


def _ray_ports() -> dict[str, int]:
    """One free port for every listener a Ray head opens (workers excepted)."""
    names = (
        "gcs_port",
        "dashboard_port",
        "node_manager_port",
        "object_manager_port",
        "runtime_env_agent_port",
        "dashboard_agent_grpc_port",
        "dashboard_agent_listen_port",
        "metrics_export_port",
        "client_server_port",
    )
    ports: dict[str, int] = {}
    while len(ports) < len(names):
        port = free_port()
        if port not in ports.values():
            ports[names[len(ports)]] = port
    return ports


@dataclass
class RayHead:
    """A real Ray head (``ray start --head --block``) with token authentication on.

    Every port is explicit and free (:func:`_ray_ports`), workers bind
    :data:`RAY_WORKER_PORTS`, and Ray's temp dir is ``temp_dir`` — keep it short
    (``/tmp/...``): Ray nests Unix sockets ~65 bytes below it. The auth token lives
    in ``temp_dir/auth_token`` (mode 0600), passed as the stack passes it
    (``RAY_AUTH_MODE=token``, ``RAY_AUTH_TOKEN_PATH``).

    Ray's processes leave the ``ray start`` process group (raylet, GCS, dashboard,
    workers); every one of them inherits ``GYRE_STACK_ID=<marker>`` from this head,
    and :meth:`stop` kills whatever carries it (or names ``temp_dir``) after ``ray
    start`` has drained.
    """

    temp_dir: Path
    num_cpus: int = 1
    ports: dict[str, int] = field(default_factory=_ray_ports)
    proc: subprocess.Popen[bytes] | None = None
    _marks: _ProcessMarks | None = field(default=None, repr=False)

    @property
    def token_file(self) -> Path:
        return self.temp_dir / "auth_token"

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()

    @property
    def log_file(self) -> Path:
        return self.temp_dir / "ray-start.log"

    @property
    def address(self) -> str:
        """The dashboard's URL: the Ray Jobs API (``JobSubmissionClient(address)``)."""
        return f"http://127.0.0.1:{self.ports['dashboard_port']}"

    @property
    def gcs_address(self) -> str:
        """``host:port`` of the GCS (``ray.init(address=...)`` from a process with :attr:`env`)."""
        return f"127.0.0.1:{self.ports['gcs_port']}"

    @property
    def auth_headers(self) -> dict[str, str]:
        """HTTP headers for the dashboard and Jobs API (``JobSubmissionClient(headers=)``)."""
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def env(self) -> dict[str, str]:
        """The variables a client process needs, as the stack's ``client_environment``."""
        return {
            "RAY_ADDRESS": self.address,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(self.token_file),
        }

    def _head_env(self, marker: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        return {
            **env,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(self.token_file),
            "RAY_USAGE_STATS_ENABLED": "0",
            # Job entrypoints (`python -c ...`) run this environment's interpreter.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', os.defpath)}",
            STACK_ID_ENV: marker,
        }

    def _ready(self) -> bool:
        request = urllib.request.Request(f"{self.address}/api/jobs/", headers=self.auth_headers)
        return bool(urllib.request.urlopen(request, timeout=2).status == 200)

    def start(self) -> None:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        marker = uuid.uuid4().hex
        log = open(self.log_file, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            ray_head_command(
                binary=venv_bin("ray"),
                host="127.0.0.1",
                min_worker_port=RAY_WORKER_PORTS[0],
                max_worker_port=RAY_WORKER_PORTS[1],
                num_cpus=self.num_cpus,
                temp_dir=self.temp_dir,
                **self.ports,
            ),
            env=self._head_env(marker),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._marks = _ProcessMarks(marker, self.proc.pid, (str(self.temp_dir),))
        _wait_started(self.proc, self._ready, what="ray head", log=self.log_file)

    def stop(self) -> None:
        """SIGTERM ``ray start`` alone (it drains the node and stops its children, as
        under the stack's supervisord), then kill every process of this head that is
        left; raises RuntimeError if one survives SIGKILL.
        """
        # Ray's processes as they are now: once `ray start` is gone, the raylet's
        # children are orphans that only the marks can find.
        family: list[psutil.Process] = []
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(psutil.Error):
                    family = psutil.Process(self.proc.pid).children(recursive=True)
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=RAY_STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            self.proc = None
        if self._marks is not None:
            _kill_marked(self._marks, also=family)
            self._marks = None

    @classmethod
    @contextlib.contextmanager
    def running(cls, *, num_cpus: int = 1) -> Iterator[RayHead]:
        # Under /tmp, not pytest's deep tmp_path: Ray's socket paths must stay short.
        with tempfile.TemporaryDirectory(prefix="gyre-ray-", dir="/tmp") as tmp:
            head = cls(temp_dir=Path(tmp), num_cpus=num_cpus)
            head.start()
            try:
                yield head
            finally:
                head.stop()
