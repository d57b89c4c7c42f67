"""Gyre shared service runtime.

The public surface is re-exported here, lazily (PEP 562), so that importing one
light module — ``gyre.runtime.settings`` in a Ray worker or the CLI, say — does
not pay for SQLAlchemy, nats-py and grpc. Each name also lives in its submodule:

- ``gyre.runtime.settings`` — pydantic-settings for every endpoint, path and port;
- ``gyre.runtime.errors`` — the error hierarchy and its ``google.rpc.Status`` mapping;
- ``gyre.runtime.server`` / ``.interceptors`` — the one gRPC bootstrap;
- ``gyre.runtime.logging`` / ``.metrics`` — structlog and Prometheus;
- ``gyre.runtime.db`` — SQLAlchemy database, transactions and Alembic migrations;
- ``gyre.runtime.events`` — transactional outbox, JetStream relay and consumers;
- ``gyre.runtime.objectstore`` — the S3 adapter.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gyre.runtime.db import RUNTIME_MIGRATIONS, Database, MigrationChain, migrate
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
    from gyre.runtime.events import (
        EventConsumer,
        Outbox,
        OutboxRelay,
        connect_nats,
        event_subject,
        tail_events,
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
    from gyre.runtime.settings import GyreSettings, ServiceSettings

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        [
            "Aborted",
            "AlreadyExists",
            "Cancelled",
            "DataLoss",
            "DeadlineExceeded",
            "FailedPrecondition",
            "FieldViolation",
            "GyreError",
            "Internal",
            "InvalidArgument",
            "NotFound",
            "OutOfRange",
            "PermissionDenied",
            "ResourceExhausted",
            "Unauthenticated",
            "Unavailable",
            "Unimplemented",
            "Unknown",
            "from_rpc_error",
            "to_status",
        ],
        "gyre.runtime.errors",
    ),
    **dict.fromkeys(
        ["Database", "MigrationChain", "RUNTIME_MIGRATIONS", "migrate"], "gyre.runtime.db"
    ),
    **dict.fromkeys(
        ["EventConsumer", "Outbox", "OutboxRelay", "connect_nats", "event_subject", "tail_events"],
        "gyre.runtime.events",
    ),
    **dict.fromkeys(["ErrorInterceptor", "TelemetryInterceptor"], "gyre.runtime.interceptors"),
    **dict.fromkeys(
        ["bind_request", "configure_logging", "current_request_id"], "gyre.runtime.logging"
    ),
    **dict.fromkeys(
        ["MetricsServer", "RpcMetrics", "rpc_metrics", "start_metrics_server"],
        "gyre.runtime.metrics",
    ),
    **dict.fromkeys(
        ["ObjectInfo", "ObjectStore", "ObjectStream", "PutResult", "SyncObjectStore"],
        "gyre.runtime.objectstore",
    ),
    **dict.fromkeys(
        [
            "GyreServer",
            "ServiceHealth",
            "ServiceRegistration",
            "run",
            "running_server",
            "serve",
            "start_server",
        ],
        "gyre.runtime.server",
    ),
    **dict.fromkeys(["GyreSettings", "ServiceSettings"], "gyre.runtime.settings"),
}

__all__ = [
    "RUNTIME_MIGRATIONS",
    "Aborted",
    "AlreadyExists",
    "Cancelled",
    "DataLoss",
    "Database",
    "DeadlineExceeded",
    "ErrorInterceptor",
    "EventConsumer",
    "FailedPrecondition",
    "FieldViolation",
    "GyreError",
    "GyreServer",
    "GyreSettings",
    "Internal",
    "InvalidArgument",
    "MetricsServer",
    "MigrationChain",
    "NotFound",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStream",
    "OutOfRange",
    "Outbox",
    "OutboxRelay",
    "PermissionDenied",
    "PutResult",
    "ResourceExhausted",
    "RpcMetrics",
    "ServiceHealth",
    "ServiceRegistration",
    "ServiceSettings",
    "SyncObjectStore",
    "TelemetryInterceptor",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "bind_request",
    "configure_logging",
    "connect_nats",
    "current_request_id",
    "event_subject",
    "from_rpc_error",
    "migrate",
    "rpc_metrics",
    "run",
    "running_server",
    "serve",
    "start_metrics_server",
    "start_server",
    "tail_events",
    "to_status",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gyre.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
