"""Start real NATS, S3 (SeaweedFS) and PostgreSQL servers on free ports for tests.

Each server is a context manager that starts the real binary from the virtual
environment (or, for PostgreSQL, from Debian's ``postgresql`` package), waits
until it answers, and on exit stops it and checks that the process is gone.
Nothing here is a fake: these are the components the integration tests name.

The nats-server and ``weed server`` command lines are the local stack's own
(:mod:`gyre.stack`), so tests run the components exactly as ``gyre up`` does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gyre.stack import (
    nats_server_command,
    s3_identities_json,
    venv_executable,
    weed_server_command,
)

__all__ = [
    "NatsServer",
    "PostgresServer",
    "SeaweedS3",
    "free_port",
    "venv_bin",
    "wait_for",
]

STARTUP_TIMEOUT_S = 60.0


def venv_bin(name: str) -> str:
    """Path of an executable installed in the running interpreter's environment."""
    return venv_executable(name)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (and outside Ray's worker range)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not 10002 <= port <= 19999 and port + 10000 <= 65535:
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
