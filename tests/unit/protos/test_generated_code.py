"""Checks of Gyre's API contracts (protos/) and their checked-in Python code.

- the checked-in code is exactly what ``scripts/gen_protos.py`` generates;
- ``buf lint`` (STANDARD + comment rules) passes and protos are buf-formatted;
- the event catalog (``gyre.sdk.events_catalog``), the ``Event.payload``
  oneof with its ``event_type`` options and ``docs/events.md`` agree;
- enum zero values are ``<ENUM>_UNSPECIFIED``;
- resources have ``string name = 1`` and a ``google.api.resource`` option, and
  every resource reference names a known resource type;
- standard methods keep their standard shapes and every RPC documents its
  errors.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from google.api import field_behavior_pb2, resource_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    FieldDescriptor,
    FileDescriptor,
)

from gyre.events.v1 import event_pb2
from gyre.sdk import events_catalog

REPO_ROOT = Path(__file__).resolve().parents[3]
PROTO_ROOT = REPO_ROOT / "protos"
SDK_SRC = REPO_ROOT / "libs" / "sdk" / "src"
GEN_SCRIPT = REPO_ROOT / "scripts" / "gen_protos.py"
BUF = Path(sys.executable).parent / "buf"

DOMAINS = (
    "common",
    "data",
    "training",
    "models",
    "validation",
    "inference",
    "monitoring",
    "events",
)

# Service per domain (buf STANDARD: names end in "Service").
SERVICES = {
    "gyre.data.v1.DataRegistryService",
    "gyre.training.v1.TrainingService",
    "gyre.models.v1.ModelRegistryService",
    "gyre.validation.v1.ValidationService",
    "gyre.inference.v1.InferenceService",
    "gyre.monitoring.v1.MonitoringService",
}

# Every AIP resource the contracts define: type -> first pattern.
RESOURCES = {
    "gyre.dev/Dataset": "datasets/{dataset}",
    "gyre.dev/DatasetVersion": "datasets/{dataset}/versions/{version}",
    "gyre.dev/Manifest": "datasets/{dataset}/versions/{version}/manifest",
    "gyre.dev/Experiment": "experiments/{experiment}",
    "gyre.dev/Run": "runs/{run}",
    "gyre.dev/Trigger": "triggers/{trigger}",
    "gyre.dev/RegisteredModel": "models/{model}",
    "gyre.dev/ModelVersion": "models/{model}/versions/{version}",
    "gyre.dev/Alias": "models/{model}/aliases/{alias}",
    "gyre.dev/ValidationPolicy": "models/{model}/validationPolicy",
    "gyre.dev/Validation": "validations/{validation}",
    "gyre.dev/Deployment": "deployments/{deployment}",
    "gyre.dev/MonitoringPolicy": "deployments/{deployment}/monitoringPolicy",
    "gyre.dev/DriftReport": "deployments/{deployment}/driftReports/{drift_report}",
    "gyre.dev/PerformanceReport": (
        "deployments/{deployment}/performanceReports/{performance_report}"
    ),
    "gyre.dev/Alert": "alerts/{alert}",
}


# --------------------------------------------------------------------------- helpers


def _generated_modules(suffix: str) -> list[str]:
    files = sorted(SDK_SRC.glob(f"gyre/*/v1/*{suffix}.py"))
    return [p.relative_to(SDK_SRC).with_suffix("").as_posix().replace("/", ".") for p in files]


def _file_descriptors() -> list[FileDescriptor]:
    return [importlib.import_module(m).DESCRIPTOR for m in _generated_modules("_pb2")]


def _walk_messages(messages: list[Descriptor]) -> Iterator[Descriptor]:
    for message in messages:
        yield message
        yield from _walk_messages(list(message.nested_types))


def _all_messages() -> list[Descriptor]:
    out: list[Descriptor] = []
    for fd in _file_descriptors():
        out.extend(_walk_messages(list(fd.message_types_by_name.values())))
    return out


def _all_enums() -> list[EnumDescriptor]:
    enums: list[EnumDescriptor] = []
    for fd in _file_descriptors():
        enums.extend(fd.enum_types_by_name.values())
        for message in _walk_messages(list(fd.message_types_by_name.values())):
            enums.extend(message.enum_types)
    return enums


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def _pascal(event_type: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[._]", event_type))


def _load_gen_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_protos", GEN_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _resource(message: Descriptor) -> resource_pb2.ResourceDescriptor | None:
    options = message.GetOptions()
    if not options.HasExtension(resource_pb2.resource):
        return None
    return options.Extensions[resource_pb2.resource]


# --------------------------------------------------------------------------- (1) codegen


def test_checked_in_code_matches_regeneration() -> None:
    result = subprocess.run(
        [sys.executable, str(GEN_SCRIPT), "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_check_detects_modified_missing_and_stale_files(tmp_path: Path) -> None:
    gen = _load_gen_script()
    fresh = tmp_path / "fresh"
    gen.generate(fresh)
    checked_in = tmp_path / "checked_in"
    shutil.copytree(fresh, checked_in)
    assert gen.compare(fresh, checked_in) == []

    modified = checked_in / "gyre/data/v1/dataset_pb2.py"
    modified.write_text(modified.read_text() + "# hand edit\n")
    (checked_in / "gyre/models/v1/alias_pb2.pyi").unlink()
    (checked_in / "gyre/models/v1/old_pb2.py").write_text("# stale\n")

    problems = gen.compare(fresh, checked_in)
    assert len(problems) == 3
    (differs,) = [p for p in problems if p.startswith("differs: gyre/data/v1/dataset_pb2.py")]
    assert "-# hand edit" in differs
    assert "missing: gyre/models/v1/alias_pb2.pyi" in problems
    assert "stale (no longer generated): gyre/models/v1/old_pb2.py" in problems


def test_generation_covers_every_proto_and_no_vendored_one() -> None:
    protos = sorted(
        p.relative_to(PROTO_ROOT / "gyre").with_suffix("").as_posix()
        for p in (PROTO_ROOT / "gyre").rglob("*.proto")
    )
    generated = sorted(
        p.relative_to(SDK_SRC / "gyre").as_posix().removesuffix("_pb2.py")
        for p in (SDK_SRC / "gyre").glob("*/v1/*_pb2.py")
    )
    assert protos == generated
    assert {p.split("/")[0] for p in protos} == set(DOMAINS)
    # googleapis runtime comes from googleapis-common-protos, never from us.
    assert not (SDK_SRC / "google").exists()
    # gyre/ is a PEP 420 namespace shared with other distributions.
    assert not (SDK_SRC / "gyre" / "__init__.py").exists()


def test_every_grpc_module_imports_and_services_exist() -> None:
    modules = _generated_modules("_pb2_grpc")
    assert len(modules) == len(_generated_modules("_pb2"))
    services = set()
    for name in modules:
        module = importlib.import_module(name)
        pb2 = importlib.import_module(name.removesuffix("_grpc"))
        for service in pb2.DESCRIPTOR.services_by_name.values():
            services.add(service.full_name)
            assert hasattr(module, f"{service.name}Stub")
            assert hasattr(module, f"{service.name}Servicer")
            assert hasattr(module, f"add_{service.name}Servicer_to_server")
    assert services == SERVICES


# --------------------------------------------------------------------------- (2) buf


@pytest.fixture(scope="module")
def buf() -> Path:
    assert BUF.exists(), f"buf not installed next to the interpreter: {BUF}"
    return BUF


def test_buf_lint_passes(buf: Path) -> None:
    result = subprocess.run(
        [str(buf), "lint"], cwd=PROTO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_buf_lint_config_is_standard_with_comment_rules() -> None:
    config = (PROTO_ROOT / "buf.yaml").read_text()
    assert "version: v2" in config
    for rule in ("STANDARD", "COMMENT_MESSAGE", "COMMENT_RPC", "COMMENT_SERVICE", "COMMENT_ENUM"):
        assert f"- {rule}" in config
    assert "except:" not in config  # no STANDARD rule is switched off


def test_protos_are_buf_formatted(buf: Path) -> None:
    result = subprocess.run(
        [str(buf), "format", "--diff", "--exit-code", "--path", "gyre"],
        cwd=PROTO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- (3) events


def _payload_fields() -> list[FieldDescriptor]:
    event = event_pb2.Event.DESCRIPTOR
    return list(event.oneofs_by_name["payload"].fields)


def test_every_payload_field_has_exactly_one_catalog_entry() -> None:
    fields = _payload_fields()
    field_names = [f.name for f in fields]
    catalog_fields = list(events_catalog.EVENT_TYPES.values())
    assert len(catalog_fields) == len(set(catalog_fields)), "a payload field is cataloged twice"
    assert sorted(field_names) == sorted(catalog_fields)


def test_catalog_matches_event_type_options_and_naming_conventions() -> None:
    by_field = {field: etype for etype, field in events_catalog.EVENT_TYPES.items()}
    for field in _payload_fields():
        options = field.GetOptions()
        assert options.HasExtension(event_pb2.event_type), field.name
        declared = options.Extensions[event_pb2.event_type]
        assert by_field[field.name] == declared
        assert re.fullmatch(r"[a-z]+(\.[a-z_]+){1,2}", declared), declared
        assert declared.split(".")[0] in DOMAINS
        assert field.name == declared.replace(".", "_")
        assert field.message_type is not None
        assert field.message_type.name == _pascal(declared)
        assert field.message_type.full_name.startswith("gyre.events.v1.")


def test_subjects_follow_gyre_v1_prefix() -> None:
    assert events_catalog.subject_for("data.version.committed") == "gyre.v1.data.version.committed"
    assert (
        events_catalog.subject_for("inference.deployment.rolled_back")
        == "gyre.v1.inference.deployment.rolled_back"
    )
    subjects = {events_catalog.subject_for(t) for t in events_catalog.EVENT_TYPES}
    assert len(subjects) == len(events_catalog.EVENT_TYPES)
    for event_type in events_catalog.EVENT_TYPES:
        subject = events_catalog.subject_for(event_type)
        assert subject == f"gyre.v1.{event_type}"
        assert events_catalog.event_type_for_subject(subject) == event_type
        assert events_catalog.payload_field_for(event_type) == event_type.replace(".", "_")
    assert events_catalog.STREAM_SUBJECTS == "gyre.v1.>"
    with pytest.raises(KeyError):
        events_catalog.subject_for("data.version.deleted")
    with pytest.raises(KeyError):
        events_catalog.event_type_for_subject("gyre.v1.nope")


def test_blueprint_lifecycle_events_are_cataloged() -> None:
    required = {
        "data.version.committed",
        "training.run.succeeded",
        "training.trigger.fired",
        "models.version.registered",
        "models.alias.changed",
        "validation.completed",
        "inference.deployment.promoted",
        "inference.prediction.logged",
        "inference.feedback.recorded",
        "monitoring.drift.detected",
        "monitoring.performance.degraded",
    }
    assert required <= events_catalog.EVENT_TYPES.keys()


def test_envelope_fields_round_trip() -> None:
    event = event_pb2.Event(
        id="0b7e6f0e-8d2f-4c59-9a53-1b1f0a6f2b1d",
        type="data.version.committed",
        source="gyre.data-registry",
        subject="datasets/elec2/versions/7",
        correlation_id="c",
        causation_id="p",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        tracestate="gyre=1",
        spec_version="1.0",
    )
    event.time.FromSeconds(1_700_000_000)
    event.data_version_committed.dataset_version = "datasets/elec2/versions/7"
    event.data_version_committed.digest = "sha256:" + "0" * 64
    decoded = event_pb2.Event.FromString(event.SerializeToString())
    assert decoded == event
    assert decoded.WhichOneof("payload") == events_catalog.payload_field_for(decoded.type)
    assert decoded.data_version_committed.version == 0
    assert decoded.time.seconds == 1_700_000_000


def test_succeeded_payload_lets_registry_register_without_calling_back() -> None:
    payload = event_pb2.Event.DESCRIPTOR.fields_by_name["training_run_succeeded"].message_type
    fields = set(payload.fields_by_name)
    assert {
        "run",
        "registered_model",
        "dataset_version",
        "dataset_digest",
        "model_artifact",
        "signature",
        "params",
        "metrics",
        "cause",
    } <= fields


def test_docs_event_table_lists_every_event() -> None:
    doc = (REPO_ROOT / "docs" / "events.md").read_text()
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\|\s*`([a-z_.]+)`\s*\|\s*`([a-z0-9_.>]+)`\s*\|", doc, re.MULTILINE)
    }
    assert rows == {t: events_catalog.subject_for(t) for t in events_catalog.EVENT_TYPES}


# --------------------------------------------------------------------------- (4) enums


def test_every_enum_zero_value_is_unspecified_and_values_are_prefixed() -> None:
    enums = _all_enums()
    assert len(enums) >= 30
    for enum in enums:
        prefix = _upper_snake(enum.name)
        zero = enum.values_by_number.get(0)
        assert zero is not None, enum.full_name
        assert zero.index == 0, f"{enum.full_name}: zero value is not first"
        assert zero.name.endswith("_UNSPECIFIED"), f"{enum.full_name}: {zero.name}"
        assert zero.name == f"{prefix}_UNSPECIFIED", f"{enum.full_name}: {zero.name}"
        for value in enum.values:
            assert value.name.startswith(prefix + "_"), f"{enum.full_name}: {value.name}"


# --------------------------------------------------------------------------- (5) resources


def test_every_resource_has_name_field_one_and_resource_option() -> None:
    found: dict[str, Descriptor] = {}
    for message in _all_messages():
        resource = _resource(message)
        if resource is None:
            continue
        assert resource.type not in found, f"duplicate resource type {resource.type}"
        found[resource.type] = message
        name = message.fields_by_number.get(1)
        assert name is not None, message.full_name
        assert name.name == "name", message.full_name
        assert name.type == FieldDescriptor.TYPE_STRING, message.full_name
        assert not name.is_repeated
        behaviors = list(name.GetOptions().Extensions[field_behavior_pb2.field_behavior])
        assert field_behavior_pb2.IDENTIFIER in behaviors, message.full_name
        assert resource.type == f"gyre.dev/{message.name}"
        assert resource.pattern, message.full_name
        for pattern in resource.pattern:
            assert re.fullmatch(r"[a-zA-Z]+(/(\{[a-z_]+\}|[a-zA-Z]+))*", pattern), pattern
        assert resource.singular, message.full_name
        assert resource.plural, message.full_name
    first_patterns = {
        t: found[t].GetOptions().Extensions[resource_pb2.resource].pattern[0] for t in found
    }
    assert first_patterns == RESOURCES


def test_expected_resource_messages_are_resources() -> None:
    expected = {
        "gyre.data.v1.Dataset",
        "gyre.data.v1.DatasetVersion",
        "gyre.training.v1.Run",
        "gyre.training.v1.Trigger",
        "gyre.models.v1.ModelVersion",
        "gyre.models.v1.Alias",
        "gyre.validation.v1.Validation",
        "gyre.inference.v1.Deployment",
        "gyre.monitoring.v1.DriftReport",
    }
    resources = {m.full_name for m in _all_messages() if _resource(m) is not None}
    assert expected <= resources


def test_resource_references_name_known_types() -> None:
    known = set(RESOURCES)
    checked = 0
    for message in _all_messages():
        for field in message.fields:
            options = field.GetOptions()
            if not options.HasExtension(resource_pb2.resource_reference):
                continue
            reference = options.Extensions[resource_pb2.resource_reference]
            target = reference.type or reference.child_type
            assert target in known, f"{message.full_name}.{field.name} -> {target!r}"
            assert field.type == FieldDescriptor.TYPE_STRING
            checked += 1
    assert checked >= 50


def test_mutable_resources_have_etag_and_timestamps_are_output_only() -> None:
    for message in _all_messages():
        if _resource(message) is None:
            continue
        for field_name in ("create_time", "update_time"):
            field = message.fields_by_name.get(field_name)
            if field is None:
                continue
            assert field.message_type is not None
            assert field.message_type.full_name == "google.protobuf.Timestamp"
            behaviors = list(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])
            assert field_behavior_pb2.OUTPUT_ONLY in behaviors, f"{message.full_name}.{field_name}"


# --------------------------------------------------------------------------- methods


def _services() -> list[_descriptor.ServiceDescriptor]:
    return [s for fd in _file_descriptors() for s in fd.services_by_name.values()]


def test_standard_methods_keep_standard_shapes() -> None:
    checked = 0
    for service in _services():
        for method in service.methods:
            request, response = method.input_type, method.output_type
            assert request.name == f"{method.name}Request"
            assert response.name == f"{method.name}Response"
            if method.name.startswith("List") and method.name != "ListMetricHistory":
                assert request.fields_by_name["page_size"].type == FieldDescriptor.TYPE_INT32
                assert request.fields_by_name["page_token"].type == FieldDescriptor.TYPE_STRING
                assert "next_page_token" in response.fields_by_name, method.full_name
                checked += 1
            if method.name.startswith("Update"):
                mask = request.fields_by_name["update_mask"]
                assert mask.message_type is not None
                assert mask.message_type.full_name == "google.protobuf.FieldMask"
                (resource_field,) = [
                    f for f in request.fields if f.message_type and _resource(f.message_type)
                ]
                assert "etag" in resource_field.message_type.fields_by_name, method.full_name
                checked += 1
    assert checked >= 20


def test_every_rpc_comment_documents_errors() -> None:
    rpc = re.compile(r"((?:^[ \t]*//.*\n)+)[ \t]*rpc (\w+)\(", re.MULTILINE)
    documented = 0
    for path in sorted((PROTO_ROOT / "gyre").rglob("*_service.proto")):
        text = path.read_text()
        total = len(re.findall(r"^\s*rpc \w+\(", text, re.MULTILINE))
        matches = rpc.findall(text)
        assert len(matches) == total, f"{path.name}: an rpc has no comment"
        for comment, name in matches:
            assert "Errors:" in comment, f"{path.name}: {name} does not document its errors"
            documented += 1
    assert documented == sum(len(s.methods) for s in _services())
