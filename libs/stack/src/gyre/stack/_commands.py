"""Command lines of the real components, built from the virtual environment.

Pure functions: they build argv lists and file contents and never start anything, so
tests (``tests/support/servers.py``) and the stack share one definition of each
command line.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "TRITON_BINARY_RELPATH",
    "TRITON_LIBS_RELPATH",
    "build_triton_backend_dir",
    "nats_server_command",
    "ray_head_command",
    "s3_identities_json",
    "site_packages",
    "triton_environment",
    "triton_ld_library_path",
    "triton_server_command",
    "venv_executable",
    "weed_server_command",
]

TRITON_BINARY_RELPATH = Path("pytriton/tritonserver/bin/tritonserver")
TRITON_LIBS_RELPATH = Path("nvidia_pytriton.libs")
_TRITON_PYTHON_BACKEND = Path("pytriton/tritonserver/backends/python")
_TRITON_STUBS = Path("pytriton/tritonserver/python_backend_stubs")
_TRITON_STUB_NAME = "triton_python_backend_stub"
# Seconds the SeaweedFS volume server keeps heart-beating after SIGTERM before it stops
# (weed's default is 10, which is what makes it slow to stop). A single-node stack has
# no peers to drain to.
WEED_PRE_STOP_SECONDS = 1
# SeaweedFS volume size limit (MB); small volumes suit a laptop's disk.
WEED_VOLUME_SIZE_LIMIT_MB = 64
S3_ACTIONS = ("Admin", "Read", "List", "Tagging", "Write")


def venv_executable(name: str) -> str:
    """Absolute path of an executable installed next to the running interpreter.

    Raises:
        FileNotFoundError: the executable is neither in the environment nor on PATH.
    """
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed in {sys.prefix}; run `make install`")
    return found


def site_packages() -> Path:
    """The running environment's ``site-packages`` (where the Triton wheel unpacks)."""
    return Path(sysconfig.get_paths()["purelib"])


def nats_server_command(
    *, binary: str, store_dir: Path, host: str, port: int, monitor_port: int
) -> list[str]:
    """``nats-server`` with JetStream storing under ``store_dir`` and HTTP monitoring on."""
    return [
        binary,
        "-js",
        "-sd",
        str(store_dir),
        "-a",
        host,
        "-p",
        str(port),
        "-m",
        str(monitor_port),
    ]


def s3_identities_json(access_key: str, secret_key: str) -> str:
    """SeaweedFS ``-s3.config`` content: one identity with full rights on every bucket."""
    config = {
        "identities": [
            {
                "name": access_key,
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": list(S3_ACTIONS),
            }
        ]
    }
    return json.dumps(config, indent=2)


def weed_server_command(
    *,
    binary: str,
    data_dir: Path,
    host: str,
    s3_port: int,
    master_port: int,
    volume_port: int,
    filer_port: int,
    s3_config: Path,
    grpc_offset: int = 10_000,
    filer_socket: Path | None = None,
    s3_socket: Path | None = None,
) -> list[str]:
    """``weed server`` (master, volume, filer, S3) bound to ``host`` only.

    Every HTTP port gets its gRPC twin at ``port + grpc_offset`` set explicitly; the
    Iceberg and Lance catalogs are off, telemetry is off, and the volume server stops
    after :data:`WEED_PRE_STOP_SECONDS` instead of 10 s. Without ``filer_socket`` /
    ``s3_socket`` weed creates ``/tmp/seaweedfs-{filer,s3}-<port>.sock``.
    """
    argv = [
        binary,
        "server",
        f"-dir={data_dir}",
        f"-ip={host}",
        f"-ip.bind={host}",
        "-master.telemetry=false",
        f"-master.port={master_port}",
        f"-master.port.grpc={master_port + grpc_offset}",
        f"-master.volumeSizeLimitMB={WEED_VOLUME_SIZE_LIMIT_MB}",
        f"-volume.port={volume_port}",
        f"-volume.port.grpc={volume_port + grpc_offset}",
        "-volume.max=0",
        f"-volume.preStopSeconds={WEED_PRE_STOP_SECONDS}",
        f"-filer.port={filer_port}",
        f"-filer.port.grpc={filer_port + grpc_offset}",
        "-s3",
        f"-s3.port={s3_port}",
        f"-s3.port.grpc={s3_port + grpc_offset}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={s3_config}",
    ]
    if filer_socket is not None:
        argv.append(f"-filer.localSocket={filer_socket}")
    if s3_socket is not None:
        argv.append(f"-s3.localSocket={s3_socket}")
    return argv


def triton_ld_library_path(existing: str = "") -> str:
    """``LD_LIBRARY_PATH`` for the wheel's ``tritonserver``: its bundled libraries first."""
    libs = str(site_packages() / TRITON_LIBS_RELPATH)
    return f"{libs}:{existing}" if existing else libs


def triton_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``LD_LIBRARY_PATH`` and ``PATH`` for ``tritonserver``, over ``environ`` (default: ours).

    Only these two variables are returned; the caller merges them into the process's
    environment. What Triton's Python backend stub needs to run models with this
    environment's packages (numpy, onnxruntime, ...):

    - ``LD_LIBRARY_PATH``: the wheel's bundled libraries first, then the directory of
      the running interpreter's ``libpython`` (when it is a shared library). The stub
      links ``libpython3.X.so.1.0``; without this it embeds whatever CPython the OS
      has (Debian's 3.11.2 next to a pyenv 3.11.7 venv, say), or fails to start
      where the OS has none.
    - ``PATH``: this environment's ``bin`` first. The stub starts an *isolated*
      interpreter (``PyConfig_InitIsolatedConfig``, so ``PYTHONPATH`` and
      ``PYTHONHOME`` are ignored) with an empty ``argv[0]``, and CPython then finds
      its own location by looking ``python3`` up on ``PATH``. Finding the venv's
      ``python3`` makes it read the venv's ``pyvenv.cfg``: ``sys.prefix`` is the venv
      and its ``site-packages`` (``.pth`` files included) is on ``sys.path``.
    """
    env = os.environ if environ is None else environ
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    soname = sysconfig.get_config_var("INSTSONAME") or ""
    if not (libdir and soname and (Path(libdir) / soname).is_file()):
        libdir = ""  # a static interpreter: the stub falls back to the OS's libpython
    existing = env.get("LD_LIBRARY_PATH", "")
    ld_path = triton_ld_library_path(":".join(part for part in (libdir, existing) if part))
    bindir = str(Path(sys.executable).parent)
    path = env.get("PATH", os.defpath)
    return {
        "LD_LIBRARY_PATH": ld_path,
        "PATH": f"{bindir}{os.pathsep}{path}" if path else bindir,
    }


def build_triton_backend_dir(backends: Path, *, python_version: str | None = None) -> Path:
    """Create ``backends/python/`` for Triton's Python backend, without touching the wheel.

    It holds symlinks to the wheel's backend files
    (``pytriton/tritonserver/backends/python/*``) plus ``triton_python_backend_stub``
    built for ``python_version`` (``"3.11"``; default: the running interpreter).
    Idempotent. Returns ``backends``.

    Raises:
        FileNotFoundError: the wheel is missing, or has no stub for that Python version.
    """
    version = python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
    root = site_packages()
    source = root / _TRITON_PYTHON_BACKEND
    stub = root / _TRITON_STUBS / version / _TRITON_STUB_NAME
    if not source.is_dir():
        raise FileNotFoundError(f"Triton's Python backend is missing: {source} (nvidia-pytriton)")
    if not stub.is_file():
        raise FileNotFoundError(f"no Triton Python backend stub for Python {version}: {stub}")
    target = backends / "python"
    target.mkdir(parents=True, exist_ok=True)
    for item in [*sorted(source.iterdir()), stub]:
        link = target / item.name
        if link.is_symlink() or link.exists():
            if link.is_symlink() and link.resolve() == item.resolve():
                continue
            link.unlink()
        link.symlink_to(item)
    return backends


def triton_server_command(
    *,
    binary: str,
    model_repository: Path,
    backend_directory: Path,
    host: str,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
) -> list[str]:
    """``tritonserver`` with explicit model control, listening on ``host`` only."""
    return [
        binary,
        f"--model-repository={model_repository}",
        "--model-control-mode=explicit",
        f"--backend-directory={backend_directory}",
        f"--http-address={host}",
        f"--http-port={http_port}",
        f"--grpc-address={host}",
        f"--grpc-port={grpc_port}",
        f"--metrics-address={host}",
        f"--metrics-port={metrics_port}",
        # No GPU on a laptop; GPU metrics would only log NVML errors.
        "--allow-gpu-metrics=false",
        # Ready means "serving": models that failed to load make /v2/health/ready fail.
        "--strict-readiness=true",
        # Let the stop signal finish quickly; supervisord kills after stopwaitsecs anyway.
        "--exit-timeout-secs=5",
    ]


def ray_head_command(
    *,
    binary: str,
    host: str,
    gcs_port: int,
    dashboard_port: int,
    node_manager_port: int,
    object_manager_port: int,
    runtime_env_agent_port: int,
    dashboard_agent_grpc_port: int,
    dashboard_agent_listen_port: int,
    metrics_export_port: int,
    client_server_port: int,
    min_worker_port: int,
    max_worker_port: int,
    num_cpus: int,
    temp_dir: Path,
) -> list[str]:
    """``ray start --head --block`` with every port explicit and the dashboard on.

    ``--block`` keeps ``ray start`` in the foreground so supervisord owns it; on SIGTERM
    it tears down the head's processes. The dashboard serves the Ray Jobs API.
    """
    return [
        binary,
        "start",
        "--head",
        "--block",
        f"--node-ip-address={host}",
        f"--port={gcs_port}",
        "--include-dashboard=true",
        f"--dashboard-host={host}",
        f"--dashboard-port={dashboard_port}",
        f"--node-manager-port={node_manager_port}",
        f"--object-manager-port={object_manager_port}",
        f"--runtime-env-agent-port={runtime_env_agent_port}",
        f"--dashboard-agent-grpc-port={dashboard_agent_grpc_port}",
        f"--dashboard-agent-listen-port={dashboard_agent_listen_port}",
        f"--metrics-export-port={metrics_export_port}",
        f"--ray-client-server-port={client_server_port}",
        f"--min-worker-port={min_worker_port}",
        f"--max-worker-port={max_worker_port}",
        f"--num-cpus={num_cpus}",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
    ]
