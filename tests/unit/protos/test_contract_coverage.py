"""The v1 contracts can express what the service issues need.

Each test names the issue bullet it guards, so a later change that drops or
renames the field (a breaking change) fails here with the reason attached.
"""

from __future__ import annotations

from gyre.common.v1 import artifact_pb2
from gyre.events.v1 import event_pb2
from gyre.inference.v1 import deployment_pb2, inference_service_pb2
from gyre.models.v1 import models_service_pb2
from gyre.monitoring.v1 import monitoring_service_pb2, report_pb2
from gyre.training.v1 import run_pb2, training_service_pb2


def _payload_fields(field: str) -> set[str]:
    message = event_pb2.Event.DESCRIPTOR.fields_by_name[field].message_type
    assert message is not None
    return set(message.fields_by_name)


def _rpc_names(service: str, module: object) -> set[str]:
    descriptor = module.DESCRIPTOR.services_by_name[service]  # type: ignore[attr-defined]
    return {m.name for m in descriptor.methods}


def test_data_version_committed_carries_schema_and_split_summary() -> None:
    # Data registry: "data.version.committed ... with the version name, digest,
    # schema and split summary".
    fields = _payload_fields("data_version_committed")
    assert {"dataset_version", "digest", "schema", "split_spec", "split_stats"} <= fields


def test_validation_completed_carries_verdict_failures_report_and_error() -> None:
    # Validation gate: "validation.completed with the verdict and a summary of
    # failed checks"; "verdict ERROR with the reason".
    fields = _payload_fields("validation_completed")
    assert {"verdict", "failed_checks", "report_uri", "error_message"} <= fields


def test_rolled_back_can_revert_a_promotion() -> None:
    # Inference gateway: "keeping the previous champion loaded for instant
    # rollback"; the registry must learn that champion moved back.
    assert "reverted_promotion" in _payload_fields("inference_deployment_rolled_back")
    assert "previous_champion" in deployment_pb2.Deployment.DESCRIPTOR.fields_by_name


def test_deployment_can_wait_for_its_first_validated_version() -> None:
    # gyre demo: the deployment exists before any model does, and the gateway
    # deploys the first validated version as champion on its own.
    state = deployment_pb2.DeploymentState.Value("DEPLOYMENT_STATE_AWAITING_VERSION")
    assert state != deployment_pb2.DEPLOYMENT_STATE_UNSPECIFIED


def test_predict_accepts_records_typed_columns_and_tensors() -> None:
    # Inference gateway: "Predict takes rows (typed columns or records) or raw
    # named tensors".
    oneof = inference_service_pb2.PredictRequest.DESCRIPTOR.oneofs_by_name["inputs"]
    assert {f.name for f in oneof.fields} == {"rows", "columns", "tensors"}
    request = inference_service_pb2.PredictRequest(deployment="deployments/d")
    column = request.columns.columns.add(name="nswprice")
    column.values.add(double_value=0.05)
    assert request.WhichOneof("inputs") == "columns"


def test_clients_can_upload_code_and_artifacts_without_object_store_credentials() -> None:
    # Training: "a code directory shipped to the cluster"; model registry:
    # "manual registration of an externally produced ONNX artifact".
    assert "CreateCodeUploadUrl" in _rpc_names("TrainingService", training_service_pb2)
    assert "CreateArtifactUploadUrl" in _rpc_names("ModelRegistryService", models_service_pb2)
    response = models_service_pb2.CreateArtifactUploadUrlResponse(
        artifact=artifact_pb2.ArtifactRef(uri="s3://b/a.onnx", sha256="0" * 64),
        upload_url=artifact_pb2.PresignedUrl(url="http://s3/put", method="PUT"),
    )
    assert response.upload_url.method == "PUT"
    assert not response.already_exists


def test_run_result_records_train_and_validation_metrics_and_artifacts() -> None:
    # Training: "final train and validation-split metrics"; the trainer
    # context's "artifact upload".
    fields = set(run_pb2.RunResult.DESCRIPTOR.fields_by_name)
    assert {"final_metrics", "train_metrics", "artifacts", "resource_usage"} <= fields


def test_monitor_reports_unusable_input_instead_of_failing() -> None:
    # Monitor: "logs for an unknown deployment or with columns missing from
    # the reference are counted and reported, not fatal".
    report = set(report_pb2.DriftReport.DESCRIPTOR.fields_by_name)
    assert {"missing_feature_counts", "unreferenced_column_counts"} <= report
    assert "GetIngestionStats" in _rpc_names("MonitoringService", monitoring_service_pb2)
    stats = set(monitoring_service_pb2.GetIngestionStatsResponse.DESCRIPTOR.fields_by_name)
    assert "unknown_deployment_records" in stats
