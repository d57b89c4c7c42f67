"""Gyre Python SDK: typed clients for every Gyre service, the error classes they
raise, service addresses, and the lifecycle event catalog.

The generated messages and stubs live in ``gyre.<domain>.v1`` (``gyre.data.v1``,
``gyre.training.v1``, ``gyre.models.v1``, ``gyre.validation.v1``,
``gyre.inference.v1``, ``gyre.monitoring.v1``, ``gyre.events.v1``,
``gyre.common.v1``).
"""

from __future__ import annotations

from gyre.sdk.client import DEFAULT_TIMEOUT_S, AsyncGyreClient, GyreClient
from gyre.sdk.endpoints import SERVICES, ServiceInfo, resolve_address
from gyre.sdk.errors import (
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
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "SERVICES",
    "Aborted",
    "AlreadyExists",
    "AsyncGyreClient",
    "Cancelled",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "GyreClient",
    "GyreError",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "ServiceInfo",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "from_rpc_error",
    "resolve_address",
]
