"""Lineage graphs from what the registry recorded: its versions plus the runs,
dataset versions, triggers, validations and deployments learned from events.

Edges always point downstream (input → output). Upstream from a model version:
version ← run ← dataset version(s) ← parent versions, and run ← trigger ← causing
event. Downstream: validations, deployments, and later versions trained on the
same dataset version.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.common.v1 import cause_pb2
from gyre.models.v1 import lineage_pb2, model_version_pb2
from gyre.runtime.db import Database
from gyre.runtime.errors import FieldViolation, InvalidArgument, NotFound
from gyre.services.model_registry.names import parse_version, version_name
from gyre.services.model_registry.tables import (
    DatasetVersionRow,
    DeploymentRouteRow,
    RunRow,
    ValidationRow,
    VersionRow,
)

__all__ = ["Lineage"]

R = lineage_pb2.LineageRelation
UP: Final = lineage_pb2.LINEAGE_DIRECTION_UPSTREAM
DOWN: Final = lineage_pb2.LINEAGE_DIRECTION_DOWNSTREAM
BOTH: Final = lineage_pb2.LINEAGE_DIRECTION_BOTH
# Largest graph returned (nodes); the walk stops there and reports truncation.
MAX_NODES: Final = 2000


@dataclass(frozen=True)
class _Edge:
    source: str
    target: str
    relation: int


@dataclass
class _Node:
    name: str
    type: str
    attributes: dict[str, str] = field(default_factory=dict)


def _kind(name: str) -> str:
    parts = name.split("/")
    if len(parts) == 4 and parts[0] == "models" and parts[2] == "versions":
        return "version"
    if len(parts) == 4 and parts[0] == "datasets" and parts[2] == "versions":
        return "dataset"
    if len(parts) == 2 and parts[1]:
        return {
            "runs": "run",
            "validations": "validation",
            "deployments": "deployment",
            "triggers": "trigger",
            "events": "event",
        }.get(parts[0], "")
    return ""


def _status(value: int) -> str:
    return model_version_pb2.ModelVersionStatus.Name(value).removeprefix("MODEL_VERSION_STATUS_")


def _cause(run: RunRow) -> cause_pb2.TriggerCause | None:
    if not run.cause:
        return None
    return cause_pb2.TriggerCause.FromString(run.cause)


class Lineage:
    """``graph(name, direction, depth)``: nodes and edges around a resource."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def graph(
        self, name: str, *, direction: int, depth: int
    ) -> tuple[list[lineage_pb2.LineageNode], list[lineage_pb2.LineageEdge], bool]:
        kind = _kind(name)
        if not kind:
            raise InvalidArgument(
                f"cannot walk lineage from {name!r}: name a model version, run, dataset "
                "version, validation, deployment, trigger or event",
                field_violations=[FieldViolation("name", "unsupported resource")],
            )
        if kind == "version":
            parse_version(name)
        direction = direction or BOTH

        async def work(
            s: AsyncSession,
        ) -> tuple[list[lineage_pb2.LineageNode], list[lineage_pb2.LineageEdge], bool]:
            start = await self._describe(s, name)
            if start is None:
                raise NotFound(
                    f"{name} is unknown to the model registry",
                    reason="LINEAGE_RESOURCE_NOT_FOUND",
                    metadata={"name": name},
                )
            nodes: dict[str, _Node] = {name: start}
            edges: set[_Edge] = set()
            truncated = False
            for upstream in (True, False):
                if (upstream and direction == DOWN) or (not upstream and direction == UP):
                    continue
                seen = {name}
                queue: deque[tuple[str, int]] = deque([(name, 0)])
                while queue:
                    current, hops = queue.popleft()
                    found = await self._neighbors(s, current, upstream=upstream)
                    if hops >= depth:
                        if any((e.source if upstream else e.target) not in nodes for e in found):
                            truncated = True
                        continue
                    for edge in found:
                        other = edge.source if upstream else edge.target
                        if other == current:
                            continue
                        edges.add(edge)
                        if other not in nodes:
                            if len(nodes) >= MAX_NODES:
                                truncated = True
                                continue
                            nodes[other] = await self._describe(s, other) or _Node(
                                other, _type_of(_kind(other))
                            )
                        if other not in seen:
                            seen.add(other)
                            queue.append((other, hops + 1))
            for edge in list(edges):  # extra edges brought by "later versions"
                for end in (edge.source, edge.target):
                    if end not in nodes:
                        nodes[end] = await self._describe(s, end) or _Node(
                            end, _type_of(_kind(end))
                        )
            node_list = [
                lineage_pb2.LineageNode(name=n.name, type=n.type, attributes=n.attributes)
                for n in nodes.values()
            ]
            edge_list = [
                lineage_pb2.LineageEdge(source=e.source, target=e.target, relation=e.relation)  # type: ignore[arg-type]
                for e in sorted(edges, key=lambda e: (e.source, e.target, e.relation))
            ]
            return node_list, edge_list, truncated

        return await self._db.run(work)

    async def _describe(self, s: AsyncSession, name: str) -> _Node | None:
        kind = _kind(name)
        if kind == "version":
            ref = parse_version(name)
            row = (
                await s.execute(
                    select(VersionRow).where(
                        VersionRow.model_id == ref.model, VersionRow.version == ref.version
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                return None
            attributes = {"status": _status(row.status), "sha256": row.sha256}
            if row.delete_time is not None:
                attributes["deleted"] = "true"
            return _Node(name, "gyre.dev/ModelVersion", attributes)
        if kind == "run":
            run = await s.get(RunRow, name)
            if run is None:
                return None
            attributes = {"state": run.state, "experiment": run.experiment}
            cause = _cause(run)
            if cause is not None:
                attributes["cause"] = cause_pb2.TriggerKind.Name(cause.kind).removeprefix(
                    "TRIGGER_KIND_"
                )
                if cause.reason:
                    attributes["reason"] = cause.reason[:200]
            return _Node(name, "gyre.dev/Run", attributes)
        if kind == "dataset":
            data = await s.get(DatasetVersionRow, name)
            if data is None:
                used = (
                    await s.execute(
                        select(VersionRow.dataset_digest)
                        .where(VersionRow.dataset_version == name)
                        .limit(1)
                    )
                ).first() or (
                    await s.execute(
                        select(RunRow.dataset_digest).where(RunRow.dataset_version == name).limit(1)
                    )
                ).first()
                if used is None:
                    return None
                return _Node(name, "gyre.dev/DatasetVersion", {"digest": used[0]})
            return _Node(
                name,
                "gyre.dev/DatasetVersion",
                {"digest": data.digest, "row_count": str(data.row_count)},
            )
        if kind == "validation":
            validation = await s.get(ValidationRow, name)
            if validation is None:
                return None
            return _Node(
                name,
                "gyre.dev/Validation",
                {"verdict": validation.verdict, "report_uri": validation.report_uri},
            )
        if kind == "deployment":
            routes = (
                (
                    await s.execute(
                        select(DeploymentRouteRow).where(DeploymentRouteRow.deployment == name)
                    )
                )
                .scalars()
                .all()
            )
            if not routes:
                return None
            serving = sorted(r.model_version for r in routes if r.active and r.role == "champion")
            return _Node(name, "gyre.dev/Deployment", {"champion": ",".join(serving)})
        if kind in {"trigger", "event"}:
            for run in await self._runs_with_causes(s):
                cause = _cause(run)
                if cause is None:
                    continue
                if kind == "trigger" and cause.trigger == name:
                    return _Node(
                        name,
                        "gyre.dev/Trigger",
                        {
                            "kind": cause_pb2.TriggerKind.Name(cause.kind).removeprefix(
                                "TRIGGER_KIND_"
                            )
                        },
                    )
                if kind == "event" and f"events/{cause.event_id}" == name:
                    return _Node(
                        name,
                        "gyre.dev/Event",
                        {"event_type": cause.event_type, "subject": cause.subject},
                    )
        return None

    async def _runs_with_causes(self, s: AsyncSession) -> Sequence[RunRow]:
        return (await s.execute(select(RunRow).where(RunRow.cause != b""))).scalars().all()

    async def _neighbors(self, s: AsyncSession, name: str, *, upstream: bool) -> list[_Edge]:
        kind = _kind(name)
        edges: list[_Edge] = []
        if kind == "version":
            ref = parse_version(name)
            row = (
                await s.execute(
                    select(VersionRow).where(
                        VersionRow.model_id == ref.model, VersionRow.version == ref.version
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                return edges
            if upstream:
                if row.source_run:
                    edges.append(_Edge(row.source_run, name, R.LINEAGE_RELATION_PRODUCED))
                elif row.dataset_version:
                    edges.append(_Edge(row.dataset_version, name, R.LINEAGE_RELATION_TRAINED_ON))
                return edges
            for validation in (
                await s.execute(
                    select(ValidationRow.name).where(ValidationRow.model_version == name)
                )
            ).scalars():
                edges.append(_Edge(name, validation, R.LINEAGE_RELATION_VALIDATED_BY))
            for deployment in (
                await s.execute(
                    select(DeploymentRouteRow.deployment).where(
                        DeploymentRouteRow.model_version == name
                    )
                )
            ).scalars():
                edges.append(_Edge(name, deployment, R.LINEAGE_RELATION_DEPLOYED_TO))
            if row.dataset_version:  # later versions trained on the same data
                later = (
                    await s.execute(
                        select(VersionRow)
                        .where(
                            VersionRow.dataset_version == row.dataset_version,
                            VersionRow.id > row.id,
                        )
                        .limit(100)
                    )
                ).scalars()
                for other in later:
                    other_name = version_name(other.model_id, other.version)
                    if other.source_run:
                        edges.append(
                            _Edge(
                                row.dataset_version, other.source_run, R.LINEAGE_RELATION_TRAINED_ON
                            )
                        )
                        edges.append(
                            _Edge(other.source_run, other_name, R.LINEAGE_RELATION_PRODUCED)
                        )
                    else:
                        edges.append(
                            _Edge(row.dataset_version, other_name, R.LINEAGE_RELATION_TRAINED_ON)
                        )
            return edges
        if kind == "run":
            run = await s.get(RunRow, name)
            if upstream:
                if run is None:
                    return edges
                if run.dataset_version:
                    edges.append(_Edge(run.dataset_version, name, R.LINEAGE_RELATION_TRAINED_ON))
                if run.parent_run:
                    edges.append(_Edge(run.parent_run, name, R.LINEAGE_RELATION_TRIAL_OF))
                cause = _cause(run)
                if cause is not None:
                    event = f"events/{cause.event_id}" if cause.event_id else ""
                    if cause.trigger:
                        edges.append(_Edge(cause.trigger, name, R.LINEAGE_RELATION_TRIGGERED))
                    elif event:
                        edges.append(_Edge(event, name, R.LINEAGE_RELATION_TRIGGERED))
                return edges
            for version in (
                await s.execute(select(VersionRow).where(VersionRow.source_run == name))
            ).scalars():
                edges.append(
                    _Edge(
                        name,
                        version_name(version.model_id, version.version),
                        R.LINEAGE_RELATION_PRODUCED,
                    )
                )
            for trial in (
                await s.execute(select(RunRow.name).where(RunRow.parent_run == name))
            ).scalars():
                edges.append(_Edge(name, trial, R.LINEAGE_RELATION_TRIAL_OF))
            return edges
        if kind == "dataset":
            if upstream:
                data = await s.get(DatasetVersionRow, name)
                for parent in (data.parent_versions if data is not None else []) or []:
                    edges.append(_Edge(parent, name, R.LINEAGE_RELATION_DERIVED_FROM))
                return edges
            for child in (await s.execute(select(DatasetVersionRow))).scalars():
                if name in (child.parent_versions or []):
                    edges.append(_Edge(name, child.name, R.LINEAGE_RELATION_DERIVED_FROM))
            for run_name in (
                await s.execute(select(RunRow.name).where(RunRow.dataset_version == name))
            ).scalars():
                edges.append(_Edge(name, run_name, R.LINEAGE_RELATION_TRAINED_ON))
            for version in (
                await s.execute(
                    select(VersionRow).where(
                        VersionRow.dataset_version == name, VersionRow.source_run == ""
                    )
                )
            ).scalars():
                edges.append(
                    _Edge(
                        name,
                        version_name(version.model_id, version.version),
                        R.LINEAGE_RELATION_TRAINED_ON,
                    )
                )
            for validation in (
                await s.execute(
                    select(ValidationRow.name).where(ValidationRow.dataset_version == name)
                )
            ).scalars():
                edges.append(_Edge(name, validation, R.LINEAGE_RELATION_EVALUATED_ON))
            return edges
        if kind == "validation":
            if not upstream:
                return edges
            checked = await s.get(ValidationRow, name)
            if checked is not None:
                edges.append(_Edge(checked.model_version, name, R.LINEAGE_RELATION_VALIDATED_BY))
                if checked.dataset_version:
                    edges.append(
                        _Edge(checked.dataset_version, name, R.LINEAGE_RELATION_EVALUATED_ON)
                    )
            return edges
        if kind == "deployment":
            if not upstream:
                return edges
            for routed in (
                await s.execute(
                    select(DeploymentRouteRow.model_version).where(
                        DeploymentRouteRow.deployment == name
                    )
                )
            ).scalars():
                edges.append(_Edge(routed, name, R.LINEAGE_RELATION_DEPLOYED_TO))
            return edges
        if kind in {"trigger", "event"}:
            for run in await self._runs_with_causes(s):
                cause = _cause(run)
                if cause is None:
                    continue
                event = f"events/{cause.event_id}" if cause.event_id else ""
                if kind == "trigger":
                    if upstream and cause.trigger == name and event:
                        edges.append(_Edge(event, name, R.LINEAGE_RELATION_TRIGGERED))
                    if not upstream and cause.trigger == name:
                        edges.append(_Edge(name, run.name, R.LINEAGE_RELATION_TRIGGERED))
                elif not upstream and event == name:
                    target = cause.trigger or run.name
                    edges.append(_Edge(name, target, R.LINEAGE_RELATION_TRIGGERED))
            return edges
        return edges


def _type_of(kind: str) -> str:
    return {
        "version": "gyre.dev/ModelVersion",
        "run": "gyre.dev/Run",
        "dataset": "gyre.dev/DatasetVersion",
        "validation": "gyre.dev/Validation",
        "deployment": "gyre.dev/Deployment",
        "trigger": "gyre.dev/Trigger",
        "event": "gyre.dev/Event",
    }.get(kind, "")
