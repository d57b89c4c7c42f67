"""Prometheus metrics: the RPC metrics the server records and the scrape endpoint.

Registry policy: metrics live in ``prometheus_client``'s default registry unless a
caller passes its own. Each metric family is created once per registry per
process (:func:`rpc_metrics` memoizes), so several servers in one process (tests,
an in-process stack) share the families and tell themselves apart by the
``service`` label, instead of failing with "Duplicated timeseries".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server

__all__ = [
    "DEFAULT_METRICS_HOST",
    "RPC_HANDLED_TOTAL",
    "RPC_HANDLING_SECONDS",
    "RPC_LATENCY_BUCKETS_S",
    "MetricsServer",
    "RpcMetrics",
    "rpc_metrics",
    "start_metrics_server",
]

# Interface the scrape endpoint binds when the caller does not say.
DEFAULT_METRICS_HOST: Final = "127.0.0.1"
# Metric names (the counter's "_total" suffix is part of the exposed name).
RPC_HANDLED_TOTAL: Final = "gyre_grpc_server_handled_total"
RPC_HANDLING_SECONDS: Final = "gyre_grpc_server_handling_seconds"
# Histogram buckets in seconds: sub-millisecond resolution for the inference
# gateway's hot path, up to half a minute for long uploads and commits.
RPC_LATENCY_BUCKETS_S: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


@dataclass(frozen=True, slots=True)
class RpcMetrics:
    """The metric families the server's metrics interceptor records.

    ``handled``: ``gyre_grpc_server_handled_total{service, method, code}``, one
    per completed RPC; ``code`` is the status code name (``OK``, ``NOT_FOUND``).
    ``handling_seconds``: ``gyre_grpc_server_handling_seconds{service, method}``,
    wall time from the handler's start to its last response, in seconds.
    """

    handled: Counter
    handling_seconds: Histogram


_rpc_metrics: dict[int, tuple[CollectorRegistry, RpcMetrics]] = {}
_rpc_metrics_lock = threading.Lock()


def rpc_metrics(registry: CollectorRegistry | None = None) -> RpcMetrics:
    """The RPC metric families of ``registry`` (default: the global registry).

    Created and registered on the first call for a registry; later calls return
    the same objects.
    """
    target = REGISTRY if registry is None else registry
    with _rpc_metrics_lock:
        entry = _rpc_metrics.get(id(target))
        if entry is not None and entry[0] is target:
            return entry[1]
        metrics = RpcMetrics(
            handled=Counter(
                RPC_HANDLED_TOTAL,
                "gRPC calls completed on the server, by status code.",
                ("service", "method", "code"),
                registry=target,
            ),
            handling_seconds=Histogram(
                RPC_HANDLING_SECONDS,
                "Time the server took to handle a gRPC call, in seconds.",
                ("service", "method"),
                buckets=RPC_LATENCY_BUCKETS_S,
                registry=target,
            ),
        )
        _rpc_metrics[id(target)] = (target, metrics)
        return metrics


@dataclass(slots=True)
class MetricsServer:
    """A running Prometheus scrape endpoint (``GET /metrics``) on a daemon thread."""

    host: str
    port: int
    _httpd: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        """``http://host:port/metrics``."""
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port; idempotent."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()


def start_metrics_server(
    port: int,
    *,
    host: str = DEFAULT_METRICS_HOST,
    registry: CollectorRegistry | None = None,
) -> MetricsServer:
    """Serve ``registry`` (default: the global one) for Prometheus on ``host:port``.

    ``port=0`` binds a free port; read it back from :attr:`MetricsServer.port`.

    Raises:
        OSError: If the address cannot be bound.
    """
    httpd, thread = start_http_server(
        port, addr=host, registry=REGISTRY if registry is None else registry
    )
    return MetricsServer(host=host, port=int(httpd.server_port), _httpd=httpd, _thread=thread)
