"""Prometheus metrics of the gateway, per deployment, model version and role.

Families live in ``prometheus_client``'s default registry, created once per process
(several gateways in one test process share them and differ by label values).
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ERRORS",
    "LATENCY",
    "LOG_DROPPED",
    "LOG_PUBLISHED",
    "REQUESTS",
    "SHADOW_DROPPED",
    "TRITON_UP",
]

# Latency buckets in seconds: the gateway's hot path lives below a few milliseconds.
LATENCY_BUCKETS_S: Final = (
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
_ROUTE: Final = ("deployment", "model_version", "role")

REQUESTS: Final = Counter(
    "gyre_inference_requests",
    "Prediction requests served by a route (shadow copies included).",
    _ROUTE,
)
ERRORS: Final = Counter(
    "gyre_inference_errors",
    "Prediction requests a route failed, by gRPC status code.",
    (*_ROUTE, "code"),
)
LATENCY: Final = Histogram(
    "gyre_inference_latency_seconds",
    "Gateway-side latency of a prediction (conversion, Triton call, response), seconds.",
    _ROUTE,
    buckets=LATENCY_BUCKETS_S,
)
ROWS: Final = Counter(
    "gyre_inference_rows",
    "Rows predicted by a route.",
    _ROUTE,
)
LOG_DROPPED: Final = Counter(
    "gyre_inference_prediction_log_dropped",
    "Sampled prediction records dropped because the logging queue was full or NATS failed.",
    ("deployment",),
)
LOG_PUBLISHED: Final = Counter(
    "gyre_inference_prediction_log_published",
    "Prediction records published in inference.prediction.logged events.",
    ("deployment",),
)
SHADOW_DROPPED: Final = Counter(
    "gyre_inference_shadow_dropped",
    "Shadow copies not sent because too many were in flight.",
    ("deployment",),
)
TRITON_UP: Final = Gauge(
    "gyre_inference_triton_up",
    "1 while Triton answers its liveness check, else 0.",
    ("triton",),
)
