"""The plan of a stack: which programs run, with what environment, and how to probe them.

:func:`plan_components` turns settings into :class:`Component` objects (pure: writes
nothing). A component's probe is stored in ``stack.json`` as :class:`ProbeSpec`, so
``gyre status`` checks the ports the running stack was started with, whatever the
current shell's settings say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gyre.stack._commands import (
    TRITON_BINARY_RELPATH,
    nats_server_command,
    ray_head_command,
    site_packages,
    triton_environment,
    triton_server_command,
    venv_executable,
    weed_server_command,
)
from gyre.stack._layout import StackLayout
from gyre.stack._probes import GrpcHealthProbe, HttpProbe, Probe, RayProbe, S3Probe
from gyre.stack._services import ServiceSpec
from gyre.stack._settings import WEED_GRPC_PORT_OFFSET, StackSettings
from gyre.stack._supervisor import ProgramConfig

__all__ = [
    "INFRASTRUCTURE",
    "STACK_ID_ENV",
    "Component",
    "ProbeSpec",
    "StackCredentials",
    "client_environment",
    "plan_components",
]

# Environment variable every process of a stack inherits from supervisord; `gyre down`
# finds stragglers (Ray's workers, say) by it.
STACK_ID_ENV = "GYRE_STACK_ID"
INFRASTRUCTURE = ("nats", "s3", "triton", "ray")
# Infrastructure starts before services (supervisord's priority; lower first).
_INFRA_PRIORITY = 10
_SERVICE_PRIORITY = 100
# Seconds a process must stay up before supervisord calls it RUNNING. Health requires
# RUNNING, so a component that just crashed and restarted is unhealthy for this long.
_STARTSECS = {"nats": 5, "s3": 3, "triton": 3, "ray": 3}
_SERVICE_STARTSECS = 3
# Seconds between the stop signal and SIGKILL of the process group. weed's filer waits
# 15 s for the S3 gateway's own metadata subscription to end before it stops its gRPC
# server, so SIGTERM alone takes ~16 s; its stores (leveldb, append-only volumes) are
# crash-safe, so it gets a short grace period and then SIGKILL.
_STOPWAITSECS = {"nats": 10, "s3": 5, "triton": 15, "ray": 30}
_SERVICE_STOPWAITSECS = 15

Kind = Literal["infrastructure", "service"]


@dataclass(frozen=True)
class StackCredentials:
    """Secrets the stack configures on its components."""

    s3_access_key: str
    s3_secret_key: str = field(repr=False)
    # Ray's token-authentication token file (RAY_AUTH_TOKEN_PATH).
    ray_token_file: Path


@dataclass(frozen=True)
class ProbeSpec:
    """A serialisable probe: ``http`` (url, optional bearer token file), ``ray`` (the
    dashboard's URL: its head raylet must be alive), ``s3`` or ``grpc``."""

    kind: Literal["http", "ray", "s3", "grpc"]
    target: str
    bearer_token_file: str = ""
    access_key: str = ""
    secret_key: str = field(default="", repr=False)
    grpc_service: str = ""

    def build(self) -> Probe:
        """The callable probe."""
        if self.kind in ("http", "ray"):
            headers: dict[str, str] = {}
            if self.bearer_token_file:
                token = Path(self.bearer_token_file).read_text().strip()
                headers["Authorization"] = f"Bearer {token}"
            if self.kind == "ray":
                return RayProbe(self.target, headers=headers)
            return HttpProbe(self.target, headers=headers)
        if self.kind == "s3":
            return S3Probe(self.target, self.access_key, self.secret_key)
        return GrpcHealthProbe(self.target, self.grpc_service)

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "target": self.target,
            "bearer_token_file": self.bearer_token_file,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "grpc_service": self.grpc_service,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProbeSpec:
        kind = str(data["kind"])
        if kind not in ("http", "ray", "s3", "grpc"):
            raise ValueError(f"unknown probe kind {kind!r} in stack.json")
        return cls(
            kind=kind,  # type: ignore[arg-type]  # checked just above
            target=str(data["target"]),
            bearer_token_file=str(data.get("bearer_token_file", "")),
            access_key=str(data.get("access_key", "")),
            secret_key=str(data.get("secret_key", "")),
            grpc_service=str(data.get("grpc_service", "")),
        )


@dataclass(frozen=True)
class Component:
    """One process of the stack: its supervisord program, endpoint and probe."""

    name: str
    kind: Kind
    # The address clients use, with a scheme (nats://, http://, grpc://).
    endpoint: str
    program: ProgramConfig
    probe: ProbeSpec


def client_environment(
    layout: StackLayout,
    settings: StackSettings,
    credentials: StackCredentials,
    services: Sequence[ServiceSpec] = (),
    service_ports: Mapping[str, int] | None = None,
) -> dict[str, str]:
    """The ``GYRE_*`` (and Ray client) variables that point a process at this stack.

    Names follow :class:`gyre.runtime.settings.GyreSettings`, plus
    ``GYRE_<SERVICE>_ADDRESS`` per service (:mod:`gyre.sdk.endpoints`); services get
    these in their supervisord environment and ``<home>/env`` exports them for shells.
    """
    host = settings.host
    ports = service_ports or {}
    addresses = {spec.address_env: f"{host}:{ports[spec.name]}" for spec in services}
    return {
        **addresses,
        "GYRE_HOME": str(layout.home),
        "GYRE_NATS__URL": f"nats://{host}:{settings.nats_port}",
        "GYRE_S3__ENDPOINT": f"{host}:{settings.s3_port}",
        "GYRE_S3__ACCESS_KEY": credentials.s3_access_key,
        "GYRE_S3__SECRET_KEY": credentials.s3_secret_key,
        "GYRE_S3__SECURE": "false",
        "GYRE_TRITON__GRPC_URL": f"{host}:{settings.triton_grpc_port}",
        "GYRE_TRITON__HTTP_URL": f"{host}:{settings.triton_http_port}",
        "GYRE_TRITON__MODEL_REPOSITORY": str(layout.triton_models),
        "GYRE_RAY__ADDRESS": f"http://{host}:{settings.ray_dashboard_port}",
        # Ray's own clients (JobSubmissionClient, `ray job submit`) read these.
        "RAY_ADDRESS": f"http://{host}:{settings.ray_dashboard_port}",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(credentials.ray_token_file),
    }


def _nats(layout: StackLayout, settings: StackSettings) -> Component:
    command = nats_server_command(
        binary=venv_executable("nats-server"),
        store_dir=layout.nats_store,
        host=settings.host,
        port=settings.nats_port,
        monitor_port=settings.nats_monitor_port,
    )
    monitor = f"http://{settings.host}:{settings.nats_monitor_port}"
    return Component(
        name="nats",
        kind="infrastructure",
        endpoint=f"nats://{settings.host}:{settings.nats_port}",
        program=ProgramConfig(
            name="nats",
            command=command,
            directory=layout.home,
            log_file=layout.log("nats"),
            startsecs=_STARTSECS["nats"],
            stopwaitsecs=_STOPWAITSECS["nats"],
            priority=_INFRA_PRIORITY,
        ),
        probe=ProbeSpec("http", f"{monitor}/healthz?js-enabled-only=true"),
    )


def _s3(layout: StackLayout, settings: StackSettings, creds: StackCredentials) -> Component:
    command = weed_server_command(
        binary=venv_executable("weed"),
        data_dir=layout.s3_dir,
        host=settings.host,
        s3_port=settings.s3_port,
        master_port=settings.weed_master_port,
        volume_port=settings.weed_volume_port,
        filer_port=settings.weed_filer_port,
        s3_config=layout.s3_config,
        grpc_offset=WEED_GRPC_PORT_OFFSET,
        filer_socket=layout.weed_filer_socket,
        s3_socket=layout.weed_s3_socket,
    )
    endpoint = f"{settings.host}:{settings.s3_port}"
    return Component(
        name="s3",
        kind="infrastructure",
        endpoint=f"http://{endpoint}",
        program=ProgramConfig(
            name="s3",
            command=command,
            directory=layout.s3_dir,
            log_file=layout.log("s3"),
            startsecs=_STARTSECS["s3"],
            stopwaitsecs=_STOPWAITSECS["s3"],
            priority=_INFRA_PRIORITY,
        ),
        probe=ProbeSpec(
            "s3", endpoint, access_key=creds.s3_access_key, secret_key=creds.s3_secret_key
        ),
    )


def _triton(layout: StackLayout, settings: StackSettings) -> Component:
    command = triton_server_command(
        binary=str(site_packages() / TRITON_BINARY_RELPATH),
        model_repository=layout.triton_models,
        backend_directory=layout.triton_backends,
        host=settings.host,
        http_port=settings.triton_http_port,
        grpc_port=settings.triton_grpc_port,
        metrics_port=settings.triton_metrics_port,
    )
    http = f"http://{settings.host}:{settings.triton_http_port}"
    return Component(
        name="triton",
        kind="infrastructure",
        endpoint=f"grpc://{settings.host}:{settings.triton_grpc_port}",
        program=ProgramConfig(
            name="triton",
            command=command,
            directory=layout.home,
            log_file=layout.log("triton"),
            # Bundled libraries, and PATH so the Python backend runs this environment.
            environment=triton_environment(),
            startsecs=_STARTSECS["triton"],
            stopwaitsecs=_STOPWAITSECS["triton"],
            priority=_INFRA_PRIORITY,
        ),
        probe=ProbeSpec("http", f"{http}/v2/health/ready"),
    )


def _ray(layout: StackLayout, settings: StackSettings, creds: StackCredentials) -> Component:
    command = ray_head_command(
        binary=venv_executable("ray"),
        host=settings.host,
        gcs_port=settings.ray_gcs_port,
        dashboard_port=settings.ray_dashboard_port,
        node_manager_port=settings.ray_node_manager_port,
        object_manager_port=settings.ray_object_manager_port,
        runtime_env_agent_port=settings.ray_runtime_env_agent_port,
        dashboard_agent_grpc_port=settings.ray_dashboard_agent_grpc_port,
        dashboard_agent_listen_port=settings.ray_dashboard_agent_listen_port,
        metrics_export_port=settings.ray_metrics_export_port,
        client_server_port=settings.ray_client_server_port,
        min_worker_port=settings.ray_min_worker_port,
        max_worker_port=settings.ray_max_worker_port,
        num_cpus=settings.ray_num_cpus,
        temp_dir=layout.ray_temp_dir,
    )
    dashboard = f"http://{settings.host}:{settings.ray_dashboard_port}"
    return Component(
        name="ray",
        kind="infrastructure",
        endpoint=dashboard,
        program=ProgramConfig(
            name="ray",
            command=command,
            directory=layout.home,
            log_file=layout.log("ray"),
            environment={
                # Token authentication stays on, deliberately: Ray binds its GCS and
                # raylet ports on every interface even with --node-ip-address=127.0.0.1,
                # and an unauthenticated head runs arbitrary code for anyone who can
                # reach it. The token lives in the state dir (mode 0600), not ~/.ray.
                "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN_PATH": str(creds.ray_token_file),
                "RAY_USAGE_STATS_ENABLED": "0",
            },
            startsecs=_STARTSECS["ray"],
            stopwaitsecs=_STOPWAITSECS["ray"],
            # SIGTERM to `ray start --block` alone: it drains the node through the GCS
            # and then stops its children. Signalling the whole group kills the GCS
            # first and leaves `ray start` waiting ~60 s for it. killasgroup still
            # SIGKILLs every leftover after stopwaitsecs.
            stopasgroup=False,
            killasgroup=True,
            priority=_INFRA_PRIORITY,
        ),
        # Not just the dashboard: `ray start` gives up (and supervisord restarts it) when
        # its raylet has not registered within 30 s, which a loaded 2-core machine can
        # take; the services start only once the head node is ALIVE.
        probe=ProbeSpec("ray", dashboard, bearer_token_file=str(creds.ray_token_file)),
    )


def _service(
    layout: StackLayout,
    settings: StackSettings,
    spec: ServiceSpec,
    port: int,
    environment: Mapping[str, str],
) -> Component:
    target = f"{settings.host}:{port}"
    return Component(
        name=spec.name,
        kind="service",
        endpoint=f"grpc://{target}",
        program=ProgramConfig(
            name=spec.name,
            command=spec.command,
            directory=layout.home,
            log_file=layout.log(spec.name),
            environment={**environment, spec.port_env: str(port)},
            startsecs=_SERVICE_STARTSECS,
            stopwaitsecs=_SERVICE_STOPWAITSECS,
            priority=_SERVICE_PRIORITY,
        ),
        probe=ProbeSpec("grpc", target, grpc_service=spec.health_service),
    )


def plan_components(
    layout: StackLayout,
    settings: StackSettings,
    credentials: StackCredentials,
    services: Sequence[ServiceSpec],
    service_ports: Mapping[str, int],
) -> list[Component]:
    """Every component of the stack: NATS, S3, Triton, Ray, then services by name.

    Raises:
        FileNotFoundError: a component's executable is not installed.
    """
    components = [
        _nats(layout, settings),
        _s3(layout, settings, credentials),
        _triton(layout, settings),
        _ray(layout, settings, credentials),
    ]
    environment = client_environment(layout, settings, credentials, services, service_ports)
    components += [
        _service(layout, settings, spec, service_ports[spec.name], environment) for spec in services
    ]
    return components
