from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from gyre.common.v1 import artifact_pb2 as _artifact_pb2
from gyre.validation.v1 import validation_pb2 as _validation_pb2
from gyre.validation.v1 import validation_policy_pb2 as _validation_policy_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_FORMAT_UNSPECIFIED: _ClassVar[ReportFormat]
    REPORT_FORMAT_MARKDOWN: _ClassVar[ReportFormat]
    REPORT_FORMAT_HTML: _ClassVar[ReportFormat]
    REPORT_FORMAT_JSON: _ClassVar[ReportFormat]
REPORT_FORMAT_UNSPECIFIED: ReportFormat
REPORT_FORMAT_MARKDOWN: ReportFormat
REPORT_FORMAT_HTML: ReportFormat
REPORT_FORMAT_JSON: ReportFormat

class GetValidationPolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetValidationPolicyResponse(_message.Message):
    __slots__ = ("validation_policy", "is_default")
    VALIDATION_POLICY_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    validation_policy: _validation_policy_pb2.ValidationPolicy
    is_default: bool
    def __init__(self, validation_policy: _Optional[_Union[_validation_policy_pb2.ValidationPolicy, _Mapping]] = ..., is_default: _Optional[bool] = ...) -> None: ...

class UpdateValidationPolicyRequest(_message.Message):
    __slots__ = ("validation_policy", "update_mask", "allow_missing")
    VALIDATION_POLICY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    ALLOW_MISSING_FIELD_NUMBER: _ClassVar[int]
    validation_policy: _validation_policy_pb2.ValidationPolicy
    update_mask: _field_mask_pb2.FieldMask
    allow_missing: bool
    def __init__(self, validation_policy: _Optional[_Union[_validation_policy_pb2.ValidationPolicy, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., allow_missing: _Optional[bool] = ...) -> None: ...

class UpdateValidationPolicyResponse(_message.Message):
    __slots__ = ("validation_policy",)
    VALIDATION_POLICY_FIELD_NUMBER: _ClassVar[int]
    validation_policy: _validation_policy_pb2.ValidationPolicy
    def __init__(self, validation_policy: _Optional[_Union[_validation_policy_pb2.ValidationPolicy, _Mapping]] = ...) -> None: ...

class ValidateModelVersionRequest(_message.Message):
    __slots__ = ("model_version", "dataset_version", "request_id")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    dataset_version: str
    request_id: str
    def __init__(self, model_version: _Optional[str] = ..., dataset_version: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ValidateModelVersionResponse(_message.Message):
    __slots__ = ("validation",)
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    validation: _validation_pb2.Validation
    def __init__(self, validation: _Optional[_Union[_validation_pb2.Validation, _Mapping]] = ...) -> None: ...

class GetValidationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetValidationResponse(_message.Message):
    __slots__ = ("validation",)
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    validation: _validation_pb2.Validation
    def __init__(self, validation: _Optional[_Union[_validation_pb2.Validation, _Mapping]] = ...) -> None: ...

class ListValidationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "filter", "order_by")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    filter: str
    order_by: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListValidationsResponse(_message.Message):
    __slots__ = ("validations", "next_page_token", "total_size")
    VALIDATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    validations: _containers.RepeatedCompositeFieldContainer[_validation_pb2.Validation]
    next_page_token: str
    total_size: int
    def __init__(self, validations: _Optional[_Iterable[_Union[_validation_pb2.Validation, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetValidationReportRequest(_message.Message):
    __slots__ = ("name", "format")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    name: str
    format: ReportFormat
    def __init__(self, name: _Optional[str] = ..., format: _Optional[_Union[ReportFormat, str]] = ...) -> None: ...

class GetValidationReportResponse(_message.Message):
    __slots__ = ("content", "media_type", "report")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    content: str
    media_type: str
    report: _artifact_pb2.ArtifactRef
    def __init__(self, content: _Optional[str] = ..., media_type: _Optional[str] = ..., report: _Optional[_Union[_artifact_pb2.ArtifactRef, _Mapping]] = ...) -> None: ...
