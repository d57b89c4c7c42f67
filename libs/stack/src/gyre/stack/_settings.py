"""Settings of the local stack: every port it opens, in one place.

Read from ``GYRE_STACK__``-prefixed environment variables (``GYRE_STACK__NATS_PORT=4223``).
The state directory itself is ``GYRE_HOME`` (shared with every Gyre process, see
:class:`gyre.runtime.settings.GyreSettings`) or the CLI's ``--home``.

Default ports, and why they do not collide:

========================  =====  ===========================================
component                 port   notes
========================  =====  ===========================================
NATS client / monitor     4222   monitor (``/healthz``) on 8222
S3 (SeaweedFS)            8333   gRPC on 18333 (every weed port has a +10000
                                 gRPC twin)
SeaweedFS master          9333   gRPC 19333
SeaweedFS volume          9334   gRPC 19334 (weed's own default, 8080, is
                                 busy on too many laptops)
SeaweedFS filer           8888   gRPC 18888
Triton HTTP / gRPC / m.   8000   8001, 8002 (Triton's own defaults)
Ray GCS                   6379   Ray's default head port
Ray node/object manager   6380   6381
Ray runtime-env agent     6382   dashboard agent gRPC 6383, metrics 6384
Ray dashboard (Jobs API)  8265   dashboard agent HTTP on 52365
Ray client server         10001
Ray workers               20000  .. 20999 (Ray's default, 10002-19999,
                                 would swallow SeaweedFS's gRPC ports)
Gyre services             50051  each service's own default_port (the SDK's
                                 data_registry 50051 .. monitoring 50056),
                                 else the next free one from 50051
========================  =====  ===========================================
"""

from __future__ import annotations

import os

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_HOST",
    "MAX_PORT",
    "WEED_GRPC_PORT_OFFSET",
    "StackSettings",
]

DEFAULT_HOST = "127.0.0.1"
# SeaweedFS opens a gRPC listener at every HTTP port + 10000 (master, volume, filer, s3).
WEED_GRPC_PORT_OFFSET = 10_000
MAX_PORT = 65_535
DEFAULT_STARTUP_TIMEOUT_S = 120.0
DEFAULT_PROBE_TIMEOUT_S = 2.0


def _default_num_cpus() -> int:
    return os.cpu_count() or 1


class StackSettings(BaseSettings):
    """Ports, resources and timeouts of ``gyre up``; every port is overridable."""

    model_config = SettingsConfigDict(
        env_prefix="GYRE_STACK__",
        extra="forbid",
    )

    # Interface every component binds to; the stack is for one machine, so loopback.
    host: str = DEFAULT_HOST

    # NATS client port (nats://host:port).
    nats_port: int = 4222
    # NATS HTTP monitoring port; its /healthz?js-enabled-only=true is the readiness probe.
    nats_monitor_port: int = 8222

    # S3 API port of SeaweedFS (the endpoint clients use); gRPC twin at +10000.
    s3_port: int = 8333
    # SeaweedFS master HTTP port (internal); gRPC twin at +10000.
    weed_master_port: int = 9333
    # SeaweedFS volume server HTTP port (internal); gRPC twin at +10000.
    weed_volume_port: int = 9334
    # SeaweedFS filer HTTP port (internal, backs the S3 API); gRPC twin at +10000.
    weed_filer_port: int = 8888

    # Triton HTTP port (KServe v2 REST, /v2/health/ready, model repository API).
    triton_http_port: int = 8000
    # Triton gRPC port (what the inference gateway talks to).
    triton_grpc_port: int = 8001
    # Triton Prometheus metrics port.
    triton_metrics_port: int = 8002

    # Ray GCS port of the head node (ray start --port).
    ray_gcs_port: int = 6379
    # Ray raylet (node manager) port.
    ray_node_manager_port: int = 6380
    # Ray object manager port.
    ray_object_manager_port: int = 6381
    # Ray runtime-env agent port.
    ray_runtime_env_agent_port: int = 6382
    # Ray dashboard agent gRPC port.
    ray_dashboard_agent_grpc_port: int = 6383
    # Ray metrics export port (Prometheus).
    ray_metrics_export_port: int = 6384
    # Ray dashboard port; the Ray Jobs API (GYRE_RAY__ADDRESS) is served here.
    ray_dashboard_port: int = 8265
    # Ray dashboard agent HTTP port.
    ray_dashboard_agent_listen_port: int = 52365
    # Ray client server port (ray://host:port).
    ray_client_server_port: int = 10001
    # First and last port Ray workers may listen on; no other stack port may fall inside.
    ray_min_worker_port: int = 20000
    ray_max_worker_port: int = 20999
    # CPUs the Ray head offers to training runs; defaults to the machine's core count.
    ray_num_cpus: int = Field(default_factory=_default_num_cpus, ge=1)

    # First gRPC port for services that declare no default_port (each gets the next
    # port no other service uses, in the order of their names).
    service_base_port: int = 50051
    # gRPC port per service name, over its default_port, e.g. {"data_registry": 50061}
    # (GYRE_STACK__SERVICE_PORTS='{"data_registry": 50061}').
    service_ports: dict[str, int] = Field(default_factory=dict)

    # Seconds `gyre up` waits for every component to become ready.
    startup_timeout_s: float = Field(default=DEFAULT_STARTUP_TIMEOUT_S, gt=0)
    # Seconds each health probe may take before the component counts as unhealthy.
    probe_timeout_s: float = Field(default=DEFAULT_PROBE_TIMEOUT_S, gt=0)

    @model_validator(mode="after")
    def _check_ranges(self) -> StackSettings:
        if self.ray_min_worker_port > self.ray_max_worker_port:
            raise ValueError("ray_min_worker_port must not exceed ray_max_worker_port")
        for name in ("s3_port", "weed_master_port", "weed_volume_port", "weed_filer_port"):
            port = getattr(self, name)
            if port + WEED_GRPC_PORT_OFFSET > MAX_PORT:
                raise ValueError(
                    f"{name}={port}: SeaweedFS also listens on {name} + {WEED_GRPC_PORT_OFFSET}"
                    f", which must be <= {MAX_PORT}"
                )
        return self
