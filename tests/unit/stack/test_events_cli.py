"""``gyre events tail``: --type patterns to NATS subject filters, and the line format."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import typer
from google.protobuf.message import Message
from typer.testing import CliRunner

from gyre.events.v1.data_events_pb2 import DataVersionCommitted
from gyre.events.v1.event_pb2 import Event
from gyre.events.v1.models_events_pb2 import ModelsVersionRegistered
from gyre.events.v1.validation_events_pb2 import ValidationCompleted
from gyre.models.v1.model_version_pb2 import ModelVersion
from gyre.runtime.events import build_event
from gyre.sdk.events_catalog import EVENT_TYPES
from gyre.stack.events_cli import format_event, register, subject_filter, type_matches
from gyre.validation.v1.validation_pb2 import ValidationVerdict

AT = datetime(2025, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("pattern", "subject"),
    [
        ("data.version.committed", "gyre.v1.data.version.committed"),
        ("training.run.*", "gyre.v1.training.run.*"),
        ("monitoring.>", "gyre.v1.monitoring.>"),
        ("*.version.*", "gyre.v1.*.version.*"),
        (">", "gyre.v1.>"),
        # The whole subject is accepted too, and surrounding blanks are dropped.
        ("gyre.v1.models.alias.changed", "gyre.v1.models.alias.changed"),
        ("  validation.completed ", "gyre.v1.validation.completed"),
    ],
)
def test_subject_filter_translates_patterns(pattern: str, subject: str) -> None:
    assert subject_filter(pattern) == subject


def test_subject_filter_uses_the_given_prefix() -> None:
    assert subject_filter("training.>", prefix="acme.v2") == "acme.v2.training.>"
    assert subject_filter("acme.v2.training.>", prefix="acme.v2") == "acme.v2.training.>"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "empty"),
        ("training..run", "empty token"),
        ("training.run.", "empty token"),
        ("training.run.succ*", "whole tokens"),
        ("monitoring.>drift", "whole tokens"),
        ("monitoring.>.detected", "last token"),
        ("training run", "whitespace"),
    ],
)
def test_subject_filter_rejects_malformed_patterns(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        subject_filter(pattern)


@pytest.mark.parametrize(
    ("pattern", "matched"),
    [
        (
            "training.run.*",
            {
                "training.run.queued",
                "training.run.started",
                "training.run.succeeded",
                "training.run.failed",
                "training.run.cancelled",
            },
        ),
        (
            "monitoring.>",
            {
                "monitoring.drift.detected",
                "monitoring.performance.degraded",
                "monitoring.alert.raised",
            },
        ),
        (
            "*.version.*",
            {
                "data.version.committed",
                "models.version.registered",
                "models.version.status_changed",
                "models.version.archived",
            },
        ),
        ("validation.completed", {"validation.completed"}),
        ("validation.>", {"validation.completed"}),
        ("monitoring.drift.>", {"monitoring.drift.detected"}),
        (">", set(EVENT_TYPES)),
        # '*' is one token and '>' at least one: training types have three tokens.
        ("training.*", set()),
        ("validation.completed.>", set()),
    ],
)
def test_type_matches_like_nats_subjects(pattern: str, matched: set[str]) -> None:
    assert {t for t in EVENT_TYPES if type_matches(pattern, t)} == matched


def _event(event_type: str, subject: str, payload: Message) -> Event:
    event = build_event(
        Event, type=event_type, source="gyre.test", subject=subject, payload=payload, time=AT
    )
    assert isinstance(event, Event)
    return event


def test_format_event_line_shows_short_fields_first_and_skips_the_subject() -> None:
    digest = "sha256:" + "ab" * 32
    event = _event(
        "data.version.committed",
        "datasets/elec2/versions/7",
        DataVersionCommitted(
            dataset="datasets/elec2",
            dataset_version="datasets/elec2/versions/7",
            version=7,
            digest=digest,
            row_count=45312,
            target_column="class",
            parent_versions=["datasets/elec2/versions/6"],
        ),
    )
    time, type_, subject, *summary = format_event(event).split()
    assert (time, type_, subject) == (
        "2025-03-01T12:00:00.123Z",
        "data.version.committed",
        "datasets/elec2/versions/7",
    )
    # Numbers first, then strings; the dataset version is the subject; the digest is
    # cut; five fields at most; lists are left out.
    assert summary == [
        "version=7",
        "row_count=45312",
        "dataset=datasets/elec2",
        f"digest={digest[:37]}...",
        "target_column=class",
    ]


def test_format_event_strips_enum_prefixes_and_quotes_text_with_spaces() -> None:
    event = _event(
        "validation.completed",
        "validations/v-1",
        ValidationCompleted(
            validation="validations/v-1",
            model_version="models/elec2/versions/3",
            verdict=ValidationVerdict.VALIDATION_VERDICT_FAILED,
            error_message="auc fell",
        ),
    )
    assert format_event(event).endswith(
        "validations/v-1  verdict=FAILED model_version=models/elec2/versions/3"
        ' error_message="auc fell"'
    )


def test_format_event_flattens_a_payload_that_is_one_message() -> None:
    event = _event(
        "models.version.registered",
        "models/elec2/versions/3",
        ModelsVersionRegistered(
            model_version=ModelVersion(
                name="models/elec2/versions/3", version=3, source_run="runs/r-1"
            )
        ),
    )
    assert format_event(event).endswith("models/elec2/versions/3  version=3 source_run=runs/r-1")


def test_bad_pattern_is_a_usage_error_naming_the_option() -> None:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(
        app, ["events", "tail", "--type", "training.run.succ*"], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 2
    assert "Invalid value for '--type': 'training.run.succ*': wildcards" in result.output
