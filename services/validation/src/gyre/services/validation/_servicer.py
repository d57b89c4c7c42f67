"""gRPC servicer of ``gyre.validation.v1.ValidationService``: proto in, domain call,
proto out. Errors are the runtime's error classes (the interceptor maps them)."""

from __future__ import annotations

from typing import Any

from gyre.runtime.errors import FieldViolation, InvalidArgument
from gyre.services.validation._gate import ValidationGate
from gyre.validation.v1 import validation_service_pb2 as pb
from gyre.validation.v1 import validation_service_pb2_grpc as pb_grpc

__all__ = ["ValidationServicer"]


def _creator(context: Any) -> str:
    try:
        metadata = dict(context.invocation_metadata() or ())
    except Exception:  # metadata unavailable (tests calling the servicer directly)
        return ""
    value = metadata.get("gyre-actor") or metadata.get("x-gyre-user") or ""
    return str(value)[:200]


class ValidationServicer(pb_grpc.ValidationServiceServicer):
    """The validation gate's RPCs over :class:`ValidationGate`."""

    def __init__(self, gate: ValidationGate) -> None:
        self._gate = gate

    async def GetValidationPolicy(
        self, request: pb.GetValidationPolicyRequest, context: Any
    ) -> pb.GetValidationPolicyResponse:
        _require(request.name, "name")
        policy, is_default = await self._gate.get_policy(request.name)
        return pb.GetValidationPolicyResponse(validation_policy=policy, is_default=is_default)

    async def UpdateValidationPolicy(
        self, request: pb.UpdateValidationPolicyRequest, context: Any
    ) -> pb.UpdateValidationPolicyResponse:
        if not request.HasField("validation_policy"):
            raise InvalidArgument(
                "validation_policy is required",
                reason="MISSING_FIELD",
                field_violations=[FieldViolation("validation_policy", "required")],
            )
        policy = await self._gate.update_policy(
            request.validation_policy,
            list(request.update_mask.paths),
            allow_missing=request.allow_missing,
        )
        return pb.UpdateValidationPolicyResponse(validation_policy=policy)

    async def ValidateModelVersion(
        self, request: pb.ValidateModelVersionRequest, context: Any
    ) -> pb.ValidateModelVersionResponse:
        _require(request.model_version, "model_version")
        validation = await self._gate.request_validation(
            request.model_version,
            dataset_version=request.dataset_version,
            request_id=request.request_id,
            creator=_creator(context),
        )
        return pb.ValidateModelVersionResponse(validation=validation)

    async def GetValidation(
        self, request: pb.GetValidationRequest, context: Any
    ) -> pb.GetValidationResponse:
        _require(request.name, "name")
        return pb.GetValidationResponse(validation=await self._gate.get_validation(request.name))

    async def ListValidations(
        self, request: pb.ListValidationsRequest, context: Any
    ) -> pb.ListValidationsResponse:
        validations, token = await self._gate.list_validations(request)
        return pb.ListValidationsResponse(validations=validations, next_page_token=token)

    async def GetValidationReport(
        self, request: pb.GetValidationReportRequest, context: Any
    ) -> pb.GetValidationReportResponse:
        _require(request.name, "name")
        content, media_type, report = await self._gate.get_report(request.name, request.format)
        return pb.GetValidationReportResponse(content=content, media_type=media_type, report=report)


def _require(value: str, field: str) -> None:
    if not value:
        raise InvalidArgument(
            f"{field} is required",
            reason="MISSING_FIELD",
            field_violations=[FieldViolation(field, "required")],
        )
