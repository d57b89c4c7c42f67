"""AIP-160 filters, order_by and keyset page tokens of the model registry, evaluated
on an in-memory SQLite copy of its tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from gyre.runtime.errors import InvalidArgument
from gyre.services.model_registry import filters
from gyre.services.model_registry.names import parse_alias, parse_model, parse_version
from gyre.services.model_registry.tables import (
    AliasRow,
    Base,
    MetricRow,
    ModelRow,
    ParamRow,
    VersionLabelRow,
    VersionRow,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        model = ModelRow(model_id="m", etag="e", labels={})
        s.add(model)
        s.flush()
        for n in range(1, 7):
            row = VersionRow(
                model_pk=model.id,
                model_id="m",
                version=n,
                artifact_uri="s3://b/k",
                artifact_key="k",
                sha256="0" * 64,
                size_bytes=1,
                spec=b"",
                status=2 if n % 2 == 0 else 1,  # even versions VALIDATED
                labels={},
                etag=str(n),
                create_time=T0 + timedelta(minutes=n),
                update_time=T0,
                dataset_version=f"datasets/d/versions/{1 if n < 4 else 2}",
            )
            s.add(row)
            s.flush()
            s.add(VersionLabelRow(version_pk=row.id, key="team", value="risk" if n < 4 else "ops"))
            if n != 6:
                s.add(MetricRow(version_pk=row.id, name="val/auc", value=n / 10))
            s.add(ParamRow(version_pk=row.id, name="depth", text_value=str(n), number_value=n))
            if n == 5:
                s.add(AliasRow(model_pk=model.id, alias="champion", version_pk=row.id, etag="a"))
        s.commit()
    yield engine
    engine.dispose()


def _versions(engine: Engine, text: str, order: str = "version asc") -> list[int]:
    ordering = filters.parse_order_by(order, default="version asc")
    columns, joins = filters.order_columns(ordering)
    statement = select(VersionRow.version, *columns)
    for target, onclause in joins:
        statement = statement.join(target, onclause)
    statement = statement.where(filters.parse_filter(text)).order_by(
        *filters.order_clauses(ordering, columns)
    )
    with Session(engine) as s:
        return [row[0] for row in s.execute(statement)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [1, 2, 3, 4, 5, 6]),
        ("status = VALIDATED", [2, 4, 6]),
        ("status != MODEL_VERSION_STATUS_VALIDATED", [1, 3, 5]),
        ('labels.team = "risk"', [1, 2, 3]),
        ('labels.team != "risk"', [4, 5, 6]),
        ("labels.team:*", [1, 2, 3, 4, 5, 6]),
        ('metrics."val/auc" >= 0.3', [3, 4, 5]),
        ('metrics."val/auc":*', [1, 2, 3, 4, 5]),
        ("params.depth > 4", [5, 6]),
        ('params.depth = "2"', [2]),
        ('aliases:"champion"', [5]),
        ('NOT aliases:"champion" AND version >= 5', [6]),
        ("version = 1 OR version = 6", [1, 6]),
        ('status = VALIDATED AND (labels.team = "ops" OR version = 2)', [2, 4, 6]),
        ('-labels.team = "risk"', [4, 5, 6]),
        ('dataset_version = "datasets/d/versions/1"', [1, 2, 3]),
        ('model = "models/m" AND create_time > "2026-01-01T00:04:30Z"', [5, 6]),
    ],
)
def test_filters_select_the_right_versions(engine: Engine, text: str, expected: list[int]) -> None:
    assert _versions(engine, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "status = BOGUS",
        "unknown = 1",
        "metrics.auc > high",
        "version >",
        "(status = VALIDATED",
        "status < VALIDATED",
    ],
)
def test_malformed_filters_are_invalid_argument(text: str) -> None:
    with pytest.raises(InvalidArgument):
        filters.parse_filter(text)


def test_order_by_metric_lists_versions_that_report_it(engine: Engine) -> None:
    assert _versions(engine, "", 'metrics."val/auc" desc') == [5, 4, 3, 2, 1]


@pytest.mark.parametrize("prefer_in", [True, False])
def test_semi_join_shapes_select_the_same_versions(engine: Engine, prefer_in: bool) -> None:
    text = 'labels.team = "risk" AND metrics."val/auc" > 0.15 AND params.depth:*'
    plan = filters.plan_filter(text)
    assert len(plan.probes) == 3
    condition = filters.parse_filter(text, [prefer_in] * 3)
    with Session(engine) as s:
        counts = [s.scalar(p) for p in plan.probes]
        chosen = s.scalars(select(VersionRow.version).where(plan.build(counts))).all()
        forced = s.scalars(select(VersionRow.version).where(condition)).all()
    assert counts == [3, 4, 6]
    assert sorted(chosen) == sorted(forced) == [2, 3]


def test_keyset_pages_walk_every_row_once(engine: Engine) -> None:
    ordering = filters.parse_order_by("create_time desc", default="version desc")
    columns, _ = filters.order_columns(ordering)
    seen: list[int] = []
    last = None
    while True:
        statement = select(VersionRow.version, *columns).order_by(
            *filters.order_clauses(ordering, columns)
        )
        if last is not None:
            statement = statement.where(filters.keyset_condition(ordering, columns, last))
        with Session(engine) as s:
            rows = list(s.execute(statement.limit(4)))
        if not rows:
            break
        seen += [r[0] for r in rows]
        token = filters.encode_page_token(ordering, list(rows[-1][1:]), "q")
        last = filters.decode_page_token(ordering, token, "q")
    assert seen == [6, 5, 4, 3, 2, 1]


def test_page_token_of_another_query_is_refused() -> None:
    ordering = filters.parse_order_by("", default="version desc")
    token = filters.encode_page_token(ordering, [3, 7], "query-a")
    with pytest.raises(InvalidArgument):
        filters.decode_page_token(ordering, token, "query-b")
    with pytest.raises(InvalidArgument):
        filters.decode_page_token(ordering, "not-base64!", "query-a")
    with pytest.raises(InvalidArgument):
        filters.parse_order_by("sha256 desc", default="version desc")


def test_resource_names() -> None:
    assert parse_model("models/fraud") == "fraud"
    assert parse_version("models/fraud/versions/3").version == 3
    assert parse_version("models/fraud/versions/champion", allow_alias=True).alias == "champion"
    assert parse_alias("models/fraud/aliases/champion").alias == "champion"
    for bad in ("models/Fraud", "fraud", "models/fraud/versions/0", "models/f/versions/x"):
        with pytest.raises(InvalidArgument):
            parse_version(bad) if "versions" in bad else parse_model(bad)
    with pytest.raises(InvalidArgument):
        parse_alias("models/fraud/aliases/123")
