"""The error hierarchy's mapping to google.rpc.Status and back."""

from __future__ import annotations

import pickle
from collections.abc import Sequence

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2

from gyre.runtime import errors as runtime_errors
from gyre.sdk import errors
from gyre.sdk.errors import (
    ERROR_DOMAIN,
    STATUS_DETAILS_KEY,
    FieldViolation,
    GyreError,
    InvalidArgument,
    NotFound,
    from_rpc_error,
    from_status,
    to_grpc_status,
    to_status,
)

EXPECTED_CODES: dict[type[GyreError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Aborted: grpc.StatusCode.ABORTED,
    errors.OutOfRange: grpc.StatusCode.OUT_OF_RANGE,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.DataLoss: grpc.StatusCode.DATA_LOSS,
    errors.Internal: grpc.StatusCode.INTERNAL,
    errors.Unimplemented: grpc.StatusCode.UNIMPLEMENTED,
    errors.Cancelled: grpc.StatusCode.CANCELLED,
    errors.Unknown: grpc.StatusCode.UNKNOWN,
}


class FakeRpcError(grpc.RpcError):  # type: ignore[misc]
    """What a failed sync call raises: an RpcError that is also a grpc.Call."""

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        trailing: Sequence[tuple[str, str | bytes]] = (),
    ) -> None:
        self._code = code
        self._details = details
        self._trailing = tuple(trailing)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._trailing


def _error_info(status: status_pb2.Status) -> error_details_pb2.ErrorInfo:
    infos = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    assert len(infos) == 1
    info = error_details_pb2.ErrorInfo()
    assert infos[0].Unpack(info)
    return info


def test_runtime_reexports_the_sdk_classes() -> None:
    assert runtime_errors.NotFound is errors.NotFound
    assert runtime_errors.GyreError is errors.GyreError
    assert runtime_errors.from_rpc_error is errors.from_rpc_error


@pytest.mark.parametrize(("cls", "code"), EXPECTED_CODES.items())
def test_each_class_maps_to_its_status_code_and_error_info(
    cls: type[GyreError], code: grpc.StatusCode
) -> None:
    err = cls("something happened", metadata={"name": "models/m1"})
    status = to_status(err)

    assert cls.code is code
    assert status.code == code.value[0]
    assert status.message == "something happened"
    info = _error_info(status)
    assert info.reason == code.name
    assert info.domain == ERROR_DOMAIN
    assert dict(info.metadata) == {"name": "models/m1"}
    # Without field violations there is no BadRequest detail.
    assert len(status.details) == 1


@pytest.mark.parametrize("cls", EXPECTED_CODES)
def test_round_trip_through_rpc_error_rebuilds_the_same_class(cls: type[GyreError]) -> None:
    err = cls(
        "bad thing",
        reason="MODEL_VERSION_MISSING",
        metadata={"model": "m1", "version": "3"},
        field_violations=[FieldViolation("name", "must not be empty")],
    )
    grpc_status = to_grpc_status(err)
    call_error = FakeRpcError(grpc_status.code, grpc_status.details, grpc_status.trailing_metadata)

    back = from_rpc_error(call_error)

    assert type(back) is cls
    assert back.message == "bad thing"
    assert back.reason == "MODEL_VERSION_MISSING"
    assert back.domain == ERROR_DOMAIN
    assert back.metadata == {"model": "m1", "version": "3"}
    assert back.field_violations == [FieldViolation("name", "must not be empty")]


def test_field_violations_are_a_bad_request_detail() -> None:
    err = InvalidArgument(
        "invalid model version",
        reason="INVALID_MODEL_VERSION",
        field_violations=[
            FieldViolation("model_version.name", "must match models/{model}/versions/{version}"),
            FieldViolation("model_version.uri", "must be an s3:// URI"),
        ],
    )
    status = to_status(err)

    bad = [d for d in status.details if d.Is(error_details_pb2.BadRequest.DESCRIPTOR)]
    assert len(bad) == 1
    request = error_details_pb2.BadRequest()
    assert bad[0].Unpack(request)
    assert [(v.field, v.description) for v in request.field_violations] == [
        ("model_version.name", "must match models/{model}/versions/{version}"),
        ("model_version.uri", "must be an s3:// URI"),
    ]


def test_grpc_status_carries_extra_trailers_before_the_details() -> None:
    status = to_grpc_status(NotFound("gone"), trailing_metadata=[("x-request-id", "r1")])
    assert status.code is grpc.StatusCode.NOT_FOUND
    assert status.details == "gone"
    keys = [key for key, _ in status.trailing_metadata]
    assert keys == ["x-request-id", STATUS_DETAILS_KEY]


def test_error_without_status_details_maps_by_code() -> None:
    # What a transport failure or a non-Gyre peer produces.
    back = from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused"))
    assert type(back) is errors.Unavailable
    assert back.message == "connection refused"
    assert back.reason == "UNAVAILABLE"


def test_status_details_with_a_mismatched_code_are_ignored() -> None:
    details = to_status(NotFound("gone")).SerializeToString()
    back = from_rpc_error(
        FakeRpcError(grpc.StatusCode.INTERNAL, "proxy failed", [(STATUS_DETAILS_KEY, details)])
    )
    assert type(back) is errors.Internal
    assert back.message == "proxy failed"


def test_foreign_reason_and_domain_are_kept_as_sent() -> None:
    info = error_details_pb2.ErrorInfo(reason="quota-ish", domain="example.com")
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message="slow down")
    status.details.add().Pack(info)

    back = from_status(status)

    assert type(back) is errors.ResourceExhausted
    assert (back.reason, back.domain) == ("quota-ish", "example.com")


def test_rpc_error_without_a_code_is_unknown() -> None:
    assert type(from_rpc_error(grpc.RpcError("weird"))) is errors.Unknown


@pytest.mark.parametrize("reason", ["not_snake", "A", "WITH-DASH", "X" * 64, "_LEADING"])
def test_reason_must_be_upper_snake_case(reason: str) -> None:
    with pytest.raises(ValueError, match="UPPER_SNAKE_CASE"):
        NotFound("gone", reason=reason)


def test_errors_survive_pickling_with_their_details() -> None:
    err = InvalidArgument(
        "bad", reason="BAD_NAME", metadata={"k": "v"}, field_violations=[FieldViolation("f", "d")]
    )
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is InvalidArgument
    assert (back.message, back.reason, back.metadata, back.field_violations) == (
        "bad",
        "BAD_NAME",
        {"k": "v"},
        [FieldViolation("f", "d")],
    )
    assert str(back) == "bad"


def test_non_string_message_metadata_and_field_violations_are_coerced() -> None:
    err = NotFound(12345, metadata={"a": 1, 2: None}, field_violations=[FieldViolation(3, 4)])  # type: ignore[arg-type]

    assert (err.message, str(err)) == ("12345", "12345")
    assert err.metadata == {"a": "1", "2": "None"}
    assert err.field_violations == [FieldViolation("3", "4")]
    status = to_status(err)
    assert status.message == "12345"
    assert dict(_error_info(status).metadata) == {"a": "1", "2": "None"}


def _wire_bytes(message: str) -> int:
    """Length of ``message`` percent-encoded as gRPC sends it in ``grpc-message``."""
    return sum(1 if " " <= c <= "~" and c != "%" else 3 * len(c.encode()) for c in message)


@pytest.mark.parametrize("letter", ["x", "é", "%", "\U0001f600"])
def test_an_oversized_error_is_bounded_and_keeps_its_code_and_error_info(letter: str) -> None:
    err = InvalidArgument(
        letter * 100_000,
        reason="TOO_BIG",
        metadata={f"key{i}": letter * 5000 for i in range(100)},
        field_violations=[FieldViolation(f"field{i}", letter * 5000) for i in range(100)],
    )

    grpc_status = to_grpc_status(err, trailing_metadata=[("x-request-id", "r1")])
    status = to_status(err)

    assert grpc_status.code is grpc.StatusCode.INVALID_ARGUMENT
    assert grpc_status.details == status.message
    assert status.message.endswith(errors.TRUNCATED_SUFFIX)
    assert status.message.startswith(letter * 10)
    assert _wire_bytes(status.message) <= errors.MAX_MESSAGE_BYTES
    details_size = sum(len(d.value) for d in status.details)
    assert details_size <= errors.MAX_DETAILS_BYTES
    info = _error_info(status)
    assert (info.reason, info.domain) == ("TOO_BIG", ERROR_DOMAIN)
    assert info.metadata
    for value in info.metadata.values():
        assert len(value.encode()) <= errors.MAX_DETAIL_TEXT_BYTES
        assert value.endswith(errors.TRUNCATED_SUFFIX)
    # Everything gRPC sends stays under the 8 KiB a client accepts.
    trailers = grpc_status.trailing_metadata
    assert _wire_bytes(grpc_status.details) + sum(len(k) + len(v) for k, v in trailers) < 7 * 1024
    back = from_rpc_error(FakeRpcError(grpc_status.code, grpc_status.details, trailers))
    assert type(back) is InvalidArgument
    assert back.reason == "TOO_BIG"


def test_metadata_is_kept_before_field_violations_and_in_order() -> None:
    err = InvalidArgument(
        "bad",
        metadata={f"k{i}": "v" * 400 for i in range(10)},
        field_violations=[FieldViolation("f", "d" * 400)],
    )
    status = to_status(err)

    kept = list(_error_info(status).metadata)
    assert sorted(kept) == [f"k{i}" for i in range(len(kept))]
    assert 0 < len(kept) < 10
    # The details are full: the violation did not fit.
    assert len(status.details) == 1


def test_a_message_within_bounds_is_sent_unchanged() -> None:
    message = "é" * (errors.MAX_MESSAGE_BYTES // 6)
    assert to_status(NotFound(message)).message == message
    assert to_status(NotFound("x" * errors.MAX_MESSAGE_BYTES)).message == (
        "x" * errors.MAX_MESSAGE_BYTES
    )


def test_lone_surrogates_do_not_break_encoding() -> None:
    status = to_status(NotFound("bad \ud800 text", metadata={"k": "\udfff"}))
    assert status.message == "bad ? text"
    assert dict(_error_info(status).metadata) == {"k": "?"}
