"""Gyre shared service runtime.

The public surface is re-exported here; each name also lives in its submodule
(``gyre.runtime.errors``, ``.server``, ``.interceptors``, ``.logging``,
``.metrics``, ``.objectstore``, ``.settings``, ``.db``, ``.events``).
"""

from __future__ import annotations

from gyre.runtime.errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    GyreError,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
    from_rpc_error,
    to_status,
)
from gyre.runtime.interceptors import ErrorInterceptor, TelemetryInterceptor
from gyre.runtime.logging import bind_request, configure_logging, current_request_id
from gyre.runtime.metrics import MetricsServer, RpcMetrics, rpc_metrics, start_metrics_server
from gyre.runtime.objectstore import (
    ObjectInfo,
    ObjectStore,
    ObjectStream,
    PutResult,
    SyncObjectStore,
)
from gyre.runtime.server import (
    GyreServer,
    ServiceHealth,
    ServiceRegistration,
    run,
    running_server,
    serve,
    start_server,
)

__all__ = [
    "Aborted",
    "AlreadyExists",
    "Cancelled",
    "DataLoss",
    "DeadlineExceeded",
    "ErrorInterceptor",
    "FailedPrecondition",
    "FieldViolation",
    "GyreError",
    "GyreServer",
    "Internal",
    "InvalidArgument",
    "MetricsServer",
    "NotFound",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStream",
    "OutOfRange",
    "PermissionDenied",
    "PutResult",
    "ResourceExhausted",
    "RpcMetrics",
    "ServiceHealth",
    "ServiceRegistration",
    "SyncObjectStore",
    "TelemetryInterceptor",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "bind_request",
    "configure_logging",
    "current_request_id",
    "from_rpc_error",
    "rpc_metrics",
    "run",
    "running_server",
    "serve",
    "start_metrics_server",
    "start_server",
    "to_status",
]
