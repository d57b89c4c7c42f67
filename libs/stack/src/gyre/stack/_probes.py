"""Readiness probes: each asks a component itself whether it serves, with a timeout.

A probe is a callable ``probe(timeout_s) -> detail`` that returns a short detail on
success and raises :class:`ProbeFailed` (with the reason) otherwise. Probes never
block longer than about ``timeout_s``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

__all__ = [
    "GrpcHealthProbe",
    "HttpProbe",
    "Probe",
    "ProbeFailed",
    "RayProbe",
    "S3Probe",
]

Probe = Callable[[float], str]


class ProbeFailed(Exception):
    """The component did not answer its readiness probe; the message says why."""


@dataclass(frozen=True)
class HttpProbe:
    """Ready when ``GET url`` answers 200 (NATS ``/healthz``, Triton, Ray dashboard)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, timeout_s: float) -> str:
        try:
            response = httpx.get(self.url, timeout=timeout_s, headers=dict(self.headers))
        except httpx.HTTPError as exc:
            raise ProbeFailed(f"GET {self.url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != httpx.codes.OK:
            body = response.text.strip().replace("\n", " ")[:200]
            raise ProbeFailed(f"GET {self.url}: HTTP {response.status_code} {body}")
        return "ready"


@dataclass(frozen=True)
class RayProbe:
    """Ready when the Ray dashboard at ``url`` reports a head node whose raylet is
    ``ALIVE`` (``GET /nodes?view=summary``): the dashboard answers before the raylet has
    registered with the GCS, and ``ray start`` exits when that takes over 30 s."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, timeout_s: float) -> str:
        target = f"{self.url.rstrip('/')}/nodes?view=summary"
        try:
            response = httpx.get(target, timeout=timeout_s, headers=dict(self.headers))
        except httpx.HTTPError as exc:
            raise ProbeFailed(f"GET {target}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != httpx.codes.OK:
            body = response.text.strip().replace("\n", " ")[:200]
            raise ProbeFailed(f"GET {target}: HTTP {response.status_code} {body}")
        try:
            nodes = response.json()["data"]["summary"]
            alive = [
                n
                for n in nodes
                if n.get("raylet", {}).get("state") == "ALIVE" and n["raylet"].get("isHeadNode")
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ProbeFailed(f"GET {target}: unexpected answer: {exc}") from exc
        if not alive:
            raise ProbeFailed("the Ray head's raylet has not registered yet")
        cpus = alive[0]["raylet"].get("resourcesTotal", {}).get("CPU")
        return f"ready ({cpus:g} CPUs)" if isinstance(cpus, int | float) else "ready"


@dataclass(frozen=True)
class S3Probe:
    """Ready when an authenticated ``ListBuckets`` succeeds with the stack's credentials.

    That checks the S3 gateway, its filer behind it, and that the identities file was
    applied. The secret is excluded from ``repr``.
    """

    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)

    def __call__(self, timeout_s: float) -> str:
        import urllib3
        from minio import Minio
        from minio.error import MinioException

        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
            retries=urllib3.Retry(total=0),
        )
        client = Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            http_client=http,
        )
        try:
            buckets = client.list_buckets()
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise ProbeFailed(f"S3 ListBuckets on {self.endpoint}: {exc}") from exc
        finally:
            http.clear()
        return f"{len(buckets)} bucket(s)"


@dataclass(frozen=True)
class GrpcHealthProbe:
    """Ready when ``grpc.health.v1.Health/Check`` answers ``SERVING`` for ``service``."""

    target: str
    service: str = ""

    def __call__(self, timeout_s: float) -> str:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                response = stub.Check(
                    health_pb2.HealthCheckRequest(service=self.service), timeout=timeout_s
                )
            except grpc.RpcError as exc:
                raise ProbeFailed(
                    f"gRPC health check on {self.target}: {exc.code().name} {exc.details()}"
                ) from exc
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        if response.status != health_pb2.HealthCheckResponse.SERVING:
            raise ProbeFailed(f"gRPC health check on {self.target}: {status}")
        return "SERVING"
