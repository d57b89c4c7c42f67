"""The Gyre error hierarchy, shared by servers and clients.

Every error a Gyre service means to return is a :class:`GyreError` subclass that
carries its gRPC status code. On the wire an error is a ``google.rpc.Status``
(`AIP-193 <https://google.aip.dev/193>`_) whose details hold a
``google.rpc.ErrorInfo`` (``reason`` in UPPER_SNAKE_CASE, ``domain`` "gyre.dev",
string ``metadata``) and, when fields were invalid, a ``google.rpc.BadRequest``.

This module lives in the SDK, which has no server dependencies, so that a client
catches exactly the classes a server raises::

    try:
        stub.GetModel(request)
    except grpc.RpcError as exc:
        err = from_rpc_error(exc)      # NotFound, InvalidArgument, ...
        if isinstance(err, NotFound):
            ...

``gyre.runtime.errors`` re-exports these same classes for service code.

The encoded status is bounded so that it always fits gRPC's metadata limits (a
client rejects trailers above 8 KiB, some of them at random, with
RESOURCE_EXHAUSTED, which would replace the error it was meant to carry): the
message is cut to :data:`MAX_MESSAGE_BYTES` and the details to
:data:`MAX_DETAILS_BYTES`, marking what was cut with :data:`TRUNCATED_SUFFIX`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

__all__ = [
    "ERROR_DOMAIN",
    "MAX_DETAILS_BYTES",
    "MAX_DETAIL_TEXT_BYTES",
    "MAX_MESSAGE_BYTES",
    "STATUS_DETAILS_KEY",
    "TRUNCATED_SUFFIX",
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

# ErrorInfo.domain of every error a Gyre service raises.
ERROR_DOMAIN = "gyre.dev"
# Trailing-metadata key gRPC uses for a serialized google.rpc.Status.
STATUS_DETAILS_KEY = "grpc-status-details-bin"
# AIP-193: a reason is UPPER_SNAKE_CASE, at most 63 characters.
_REASON_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{0,61}[A-Z0-9]$")
# Longest status message sent, in bytes as it travels in the "grpc-message" header
# (percent-encoded: an ASCII character costs 1 byte, any other 3 per UTF-8 byte).
MAX_MESSAGE_BYTES: Final = 2048
# Longest serialized ErrorInfo + BadRequest; metadata entries and field violations
# that would go beyond it are dropped, in order. With the message (sent twice: in
# "grpc-message" and inside the status) the trailers stay under 8 KiB.
MAX_DETAILS_BYTES: Final = 2048
# Longest metadata key or value, field path or description, in UTF-8 bytes.
MAX_DETAIL_TEXT_BYTES: Final = 512
# Appended to any text cut to fit the bounds above.
TRUNCATED_SUFFIX: Final = "… (truncated)"
# Protobuf framing of one map entry or field violation (tags and lengths), upper bound.
_ENTRY_OVERHEAD_BYTES: Final = 12


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One invalid field of a request (a ``google.rpc.BadRequest.FieldViolation``).

    ``field`` is a path into the request message, e.g. ``"model_version.name"``.
    """

    field: str
    description: str


class GyreError(Exception):
    """Base of every error a Gyre service returns on purpose.

    Args:
        message: Developer-facing description; sent as the status message (cut to
            :data:`MAX_MESSAGE_BYTES` on the wire). Anything else is turned into
            its ``str``.
        reason: UPPER_SNAKE_CASE machine-readable cause (``ErrorInfo.reason``),
            e.g. ``"MODEL_VERSION_NOT_FOUND"``; defaults to the class's
            ``default_reason`` (the status code's name).
        metadata: Extra string context for machines (``ErrorInfo.metadata``),
            e.g. ``{"name": "models/m1/versions/3"}``; keys and values that are
            not strings are turned into their ``str``.
        field_violations: Invalid request fields, sent as ``google.rpc.BadRequest``.

    Raises:
        ValueError: If ``reason`` is not UPPER_SNAKE_CASE of 2-63 characters.
    """

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN
    default_reason: ClassVar[str] = "UNKNOWN"

    message: str
    reason: str
    domain: str
    metadata: dict[str, str]
    field_violations: list[FieldViolation]

    def __init__(
        self,
        message: object,
        *,
        reason: str | None = None,
        metadata: Mapping[Any, Any] | None = None,
        field_violations: Iterable[FieldViolation] = (),
    ) -> None:
        # Coerced here, where the mistake is made, rather than failing later while
        # the error is encoded for the wire (which would lose it).
        message = message if isinstance(message, str) else str(message)
        super().__init__(message)
        reason = self.default_reason if reason is None else reason
        if not isinstance(reason, str) or not _REASON_PATTERN.match(reason):
            raise ValueError(f"error reason must be UPPER_SNAKE_CASE (2-63 chars), got {reason!r}")
        self.message = message
        self.reason = reason
        self.domain = ERROR_DOMAIN
        self.metadata = {str(k): str(v) for k, v in (metadata or {}).items()}
        self.field_violations = [
            v
            if isinstance(v.field, str) and isinstance(v.description, str)
            else FieldViolation(str(v.field), str(v.description))
            for v in field_violations
        ]

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reason={self.reason!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments are not in ``self.args``; keep them across pickling
        # (multiprocessing, Ray) by restoring the instance dict.
        return (type(self), (self.message,), self.__dict__.copy())


class Cancelled(GyreError):
    """The operation was cancelled, typically by the caller."""

    code = grpc.StatusCode.CANCELLED
    default_reason = "CANCELLED"


class Unknown(GyreError):
    """An error from a peer that did not say what went wrong (status UNKNOWN)."""

    code = grpc.StatusCode.UNKNOWN
    default_reason = "UNKNOWN"


class InvalidArgument(GyreError):
    """The request is malformed regardless of system state; list the bad fields."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"


class DeadlineExceeded(GyreError):
    """The deadline expired before the operation could complete."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"


class NotFound(GyreError):
    """A named resource does not exist."""

    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExists(GyreError):
    """The resource a create request names exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class PermissionDenied(GyreError):
    """The caller is known but may not perform the operation."""

    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class ResourceExhausted(GyreError):
    """A quota or a capacity limit (queue length, concurrency) was reached."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"


class FailedPrecondition(GyreError):
    """The system is not in the state the operation requires (do not retry as is)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class Aborted(GyreError):
    """A concurrency conflict (etag mismatch, transaction abort); retry read-modify-write."""

    code = grpc.StatusCode.ABORTED
    default_reason = "ABORTED"


class OutOfRange(GyreError):
    """The operation was attempted past the valid range (e.g. reading past the end)."""

    code = grpc.StatusCode.OUT_OF_RANGE
    default_reason = "OUT_OF_RANGE"


class Unimplemented(GyreError):
    """The operation is not implemented or not supported by this server."""

    code = grpc.StatusCode.UNIMPLEMENTED
    default_reason = "UNIMPLEMENTED"


class Internal(GyreError):
    """An invariant the server relies on is broken; a bug."""

    code = grpc.StatusCode.INTERNAL
    default_reason = "INTERNAL"


class Unavailable(GyreError):
    """The service or a dependency is temporarily unreachable; retry with backoff."""

    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class DataLoss(GyreError):
    """Unrecoverable data loss or corruption (e.g. an artifact's digest does not match)."""

    code = grpc.StatusCode.DATA_LOSS
    default_reason = "DATA_LOSS"


class Unauthenticated(GyreError):
    """The request has no valid credentials."""

    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


_CLASS_BY_CODE: dict[grpc.StatusCode, type[GyreError]] = {
    cls.code: cls
    for cls in (
        Cancelled,
        Unknown,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Aborted,
        OutOfRange,
        Unimplemented,
        Internal,
        Unavailable,
        DataLoss,
        Unauthenticated,
    )
}
_CODE_BY_VALUE: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}


def error_class_for(code: grpc.StatusCode) -> type[GyreError]:
    """The :class:`GyreError` subclass for a gRPC status code (``Unknown`` for OK)."""
    return _CLASS_BY_CODE.get(code, Unknown)


def to_status(err: GyreError) -> status_pb2.Status:
    """Encode an error as a ``google.rpc.Status``.

    The details hold an ``ErrorInfo`` (always) and a ``BadRequest`` (when the
    error has field violations), each packed in a ``google.protobuf.Any``.

    Bounded to fit gRPC's metadata limits: the message is cut to
    :data:`MAX_MESSAGE_BYTES` (as percent-encoded in ``grpc-message``); every
    metadata key and value, field path and description to
    :data:`MAX_DETAIL_TEXT_BYTES`; cut text ends with :data:`TRUNCATED_SUFFIX`.
    Metadata entries, then field violations, are kept in order while the details
    fit in :data:`MAX_DETAILS_BYTES`; the rest are dropped.
    """
    reason = _truncate(str(err.reason), MAX_DETAIL_TEXT_BYTES)
    domain = _truncate(str(err.domain), MAX_DETAIL_TEXT_BYTES)
    budget = MAX_DETAILS_BYTES - _utf8_len(reason) - _utf8_len(domain) - 2 * _ENTRY_OVERHEAD_BYTES
    metadata: dict[str, str] = {}
    for key, value in err.metadata.items():
        entry_key = _truncate(str(key), MAX_DETAIL_TEXT_BYTES)
        entry_value = _truncate(str(value), MAX_DETAIL_TEXT_BYTES)
        cost = _utf8_len(entry_key) + _utf8_len(entry_value) + _ENTRY_OVERHEAD_BYTES
        if cost > budget:
            break
        budget -= cost
        metadata[entry_key] = entry_value
    details = [_pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata))]
    violations: list[error_details_pb2.BadRequest.FieldViolation] = []
    for violation in err.field_violations:
        field_path = _truncate(str(violation.field), MAX_DETAIL_TEXT_BYTES)
        description = _truncate(str(violation.description), MAX_DETAIL_TEXT_BYTES)
        cost = _utf8_len(field_path) + _utf8_len(description) + _ENTRY_OVERHEAD_BYTES
        if cost > budget:
            break
        budget -= cost
        violations.append(
            error_details_pb2.BadRequest.FieldViolation(field=field_path, description=description)
        )
    if violations:
        details.append(_pack(error_details_pb2.BadRequest(field_violations=violations)))
    return status_pb2.Status(
        code=err.code.value[0], message=_truncate_message(str(err.message)), details=details
    )


def to_grpc_status(
    err: GyreError, *, trailing_metadata: Iterable[tuple[str, str | bytes]] = ()
) -> grpc.Status:
    """Encode an error as a ``grpc.Status`` for ``ServicerContext.abort_with_status``.

    The ``google.rpc.Status`` travels in the ``grpc-status-details-bin`` trailer,
    after ``trailing_metadata``; the status message is bounded as in :func:`to_status`.
    """
    status = to_status(err)
    return _GrpcStatus(
        code=err.code,
        details=status.message,
        trailing_metadata=(
            *trailing_metadata,
            (STATUS_DETAILS_KEY, status.SerializeToString()),
        ),
    )


def from_status(status: status_pb2.Status) -> GyreError:
    """Decode a ``google.rpc.Status`` into the matching :class:`GyreError` subclass.

    ``ErrorInfo`` and ``BadRequest`` details are read back; other detail types are
    ignored. A status without ``ErrorInfo`` gets the class's default reason.
    """
    code = _CODE_BY_VALUE.get(status.code, grpc.StatusCode.UNKNOWN)
    err = error_class_for(code)(status.message)
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
            # A foreign peer's reason may not follow AIP-193; keep it as sent.
            err.reason = info.reason or err.reason
            err.domain = info.domain
            err.metadata = dict(info.metadata)
            continue
        bad_request = error_details_pb2.BadRequest()
        if detail.Is(bad_request.DESCRIPTOR) and detail.Unpack(bad_request):
            err.field_violations.extend(
                FieldViolation(field=v.field, description=v.description)
                for v in bad_request.field_violations
            )
    return err


def from_rpc_error(error: grpc.RpcError) -> GyreError:
    """Rebuild the typed error a server raised from a failed call.

    Works for ``grpc.RpcError`` raised by sync stubs and ``grpc.aio.AioRpcError``
    raised by asyncio stubs. The ``google.rpc.Status`` is taken from the
    ``grpc-status-details-bin`` trailer when present and consistent with the
    call's code (as ``grpc_status.rpc_status.from_call`` checks); otherwise the
    error is built from the call's code and details alone, so errors from
    non-Gyre peers (and transport errors such as UNAVAILABLE) map too.

    Use as ``raise from_rpc_error(exc) from exc`` to keep the original call.
    """
    code_fn = getattr(error, "code", None)
    code = code_fn() if callable(code_fn) else None
    if not isinstance(code, grpc.StatusCode):
        return Unknown(str(error) or "RPC failed without a status")
    details_fn = getattr(error, "details", None)
    message = (details_fn() if callable(details_fn) else None) or ""
    metadata_fn = getattr(error, "trailing_metadata", None)
    trailing = (metadata_fn() if callable(metadata_fn) else None) or ()
    for key, value in trailing:
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        if status.code == code.value[0]:
            return from_status(status)
    return error_class_for(code)(message)


@dataclass(frozen=True)
class _GrpcStatus(grpc.Status):  # type: ignore[misc]  # grpc is untyped
    """Concrete ``grpc.Status`` (the grpc package only ships the abstract class)."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def _utf8(text: str) -> bytes:
    # Lone surrogates cannot travel in a protobuf string; they become "?".
    return text.encode("utf-8", "replace")


def _utf8_len(text: str) -> int:
    return len(_utf8(text))


def _truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, suffix included."""
    encoded = _utf8(text)
    if len(encoded) <= limit:
        return encoded.decode("utf-8")
    keep = encoded[: limit - _utf8_len(TRUNCATED_SUFFIX)]
    return keep.decode("utf-8", "ignore") + TRUNCATED_SUFFIX


def _wire_len(char: str) -> int:
    """Bytes ``char`` takes in the percent-encoded ``grpc-message`` header."""
    if " " <= char <= "~" and char != "%":
        return 1
    return 3 * len(_utf8(char))


_SUFFIX_WIRE_LEN: Final = sum(_wire_len(c) for c in TRUNCATED_SUFFIX)


def _truncate_message(message: str) -> str:
    """``message`` cut to :data:`MAX_MESSAGE_BYTES` as sent in ``grpc-message``."""
    used = 0
    cut: int | None = None
    for index, char in enumerate(message):
        used += _wire_len(char)
        if cut is None and used > MAX_MESSAGE_BYTES - _SUFFIX_WIRE_LEN:
            cut = index
        if used > MAX_MESSAGE_BYTES:
            return _utf8(message[:cut]).decode("utf-8") + TRUNCATED_SUFFIX
    return _utf8(message).decode("utf-8")


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
