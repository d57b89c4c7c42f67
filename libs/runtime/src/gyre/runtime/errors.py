"""The Gyre error hierarchy for service code.

These are the very classes of :mod:`gyre.sdk.errors` (re-exported, not
subclassed), so a client using the SDK catches exactly what a server raises.
Raise them from servicers, stores and adapters; the server's error interceptor
(:mod:`gyre.runtime.interceptors`) turns them into a ``google.rpc.Status`` with
``ErrorInfo`` / ``BadRequest`` details. Translate foreign exceptions into them at
the boundary with ``raise NotFound(...) from exc``.
"""

from __future__ import annotations

from gyre.sdk.errors import (
    ERROR_DOMAIN,
    STATUS_DETAILS_KEY,
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
    error_class_for,
    from_rpc_error,
    from_status,
    to_grpc_status,
    to_status,
)

__all__ = [
    "ERROR_DOMAIN",
    "STATUS_DETAILS_KEY",
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
    "error_class_for",
    "from_rpc_error",
    "from_status",
    "to_grpc_status",
    "to_status",
]
