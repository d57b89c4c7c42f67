"""Reactions to other services' events (one durable consumer, applied in stream order).

- ``training.run.succeeded`` naming a model → register a version, exactly once per
  run (idempotency key ``run:<run>``), and remember the run for lineage;
- ``training.run.queued`` / ``training.trigger.fired`` → remember runs and causes;
- ``data.version.committed`` → remember dataset versions and their parents;
- ``validation.completed`` → status VALIDATED / REJECTED with the report link;
- ``inference.deployment.*`` → remember which deployment routes which version; on
  ``promoted`` move ``champion`` (the deployment is the recorded cause), on a
  reverted promotion move it back.
"""

from __future__ import annotations

import logging
from datetime import UTC as _UTC
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.common.v1 import cause_pb2
from gyre.inference.v1 import deployment_pb2
from gyre.models.v1 import model_version_pb2
from gyre.runtime.db import utcnow
from gyre.runtime.errors import DataLoss, GyreError, InvalidArgument, NotFound
from gyre.services.model_registry.names import parse_version
from gyre.services.model_registry.registry import (
    REJECTED,
    VALIDATED,
    Registry,
)
from gyre.services.model_registry.tables import (
    DatasetVersionRow,
    DeploymentRouteRow,
    RunRow,
    ValidationRow,
    VersionRow,
)
from gyre.validation.v1 import validation_pb2

__all__ = ["CONSUMED_EVENT_TYPES", "CONSUMER_NAME", "EventHandlers"]

_log = logging.getLogger(__name__)

CONSUMER_NAME: Final = "model-registry"
CONSUMED_EVENT_TYPES: Final = (
    "data.version.committed",
    "training.run.queued",
    "training.run.succeeded",
    "training.trigger.fired",
    "validation.completed",
    "inference.deployment.created",
    "inference.deployment.updated",
    "inference.deployment.deleted",
    "inference.deployment.rollout_started",
    "inference.deployment.promoted",
    "inference.deployment.rolled_back",
)
CHAMPION: Final = "champion"
_ROLE_NAMES: Final = {
    deployment_pb2.ROUTE_ROLE_CHAMPION: "champion",
    deployment_pb2.ROUTE_ROLE_CANARY: "canary",
    deployment_pb2.ROUTE_ROLE_SHADOW: "shadow",
}


async def _upsert(
    session: AsyncSession, table: Any, values: dict[str, Any], keys: list[str]
) -> None:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table).values(**values)
    updates = {k: v for k, v in values.items() if k not in keys}
    await session.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates))


class EventHandlers:
    """``handle(event, session)`` dispatches one envelope to its reaction."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def handle(self, event: Any, session: AsyncSession) -> None:
        kind = event.WhichOneof("payload")
        method = getattr(self, f"_on_{kind}", None)
        if method is None:
            _log.debug("ignoring event %s of type %s", event.id, event.type)
            return
        await method(event, getattr(event, kind), session)

    # --- data and training -------------------------------------------------------

    async def _on_data_version_committed(self, event: Any, payload: Any, s: AsyncSession) -> None:
        await _upsert(
            s,
            DatasetVersionRow,
            {
                "name": payload.dataset_version,
                "digest": payload.digest,
                "parent_versions": list(payload.parent_versions),
                "row_count": payload.row_count,
                "event_id": event.id,
            },
            ["name"],
        )

    async def _remember_run(
        self,
        s: AsyncSession,
        *,
        run: str,
        event_id: str,
        state: str,
        experiment: str = "",
        dataset_version: str = "",
        dataset_digest: str = "",
        parent_run: str = "",
        registered_model: str = "",
        cause: cause_pb2.TriggerCause | None = None,
    ) -> None:
        existing = await s.get(RunRow, run)
        if existing is None:
            s.add(
                RunRow(
                    name=run,
                    experiment=experiment,
                    dataset_version=dataset_version,
                    dataset_digest=dataset_digest,
                    parent_run=parent_run,
                    registered_model=registered_model,
                    cause=cause.SerializeToString() if cause is not None else b"",
                    state=state,
                    event_id=event_id,
                    update_time=utcnow(),
                )
            )
            await s.flush()
            return
        existing.experiment = experiment or existing.experiment
        existing.dataset_version = dataset_version or existing.dataset_version
        existing.dataset_digest = dataset_digest or existing.dataset_digest
        existing.parent_run = parent_run or existing.parent_run
        existing.registered_model = registered_model or existing.registered_model
        if cause is not None and cause.ByteSize():
            existing.cause = cause.SerializeToString()
        if state == "SUCCEEDED" or not existing.state:
            existing.state = state
        existing.event_id = event_id
        existing.update_time = utcnow()

    async def _on_training_run_queued(self, event: Any, payload: Any, s: AsyncSession) -> None:
        await self._remember_run(
            s,
            run=payload.run,
            event_id=event.id,
            state="QUEUED",
            experiment=payload.experiment,
            dataset_version=payload.dataset_version,
            parent_run=payload.parent_run,
            registered_model=payload.registered_model,
            cause=payload.cause if payload.HasField("cause") else None,
        )

    async def _on_training_trigger_fired(self, event: Any, payload: Any, s: AsyncSession) -> None:
        cause = cause_pb2.TriggerCause()
        cause.CopyFrom(payload.cause)
        if not cause.trigger:
            cause.trigger = payload.trigger
        await self._remember_run(s, run=payload.run, event_id=event.id, state="", cause=cause)

    async def _on_training_run_succeeded(self, event: Any, payload: Any, s: AsyncSession) -> None:
        await self._remember_run(
            s,
            run=payload.run,
            event_id=event.id,
            state="SUCCEEDED",
            experiment=payload.experiment,
            dataset_version=payload.dataset_version,
            dataset_digest=payload.dataset_digest,
            parent_run=payload.parent_run,
            registered_model=payload.registered_model,
            cause=payload.cause if payload.HasField("cause") else None,
        )
        if not payload.registered_model:
            return
        parent = payload.registered_model
        if not parent.startswith("models/"):  # tolerate a bare model id
            parent = f"models/{parent}"
        mv = model_version_pb2.ModelVersion(
            source_run=payload.run,
            dataset_version=payload.dataset_version,
            dataset_digest=payload.dataset_digest,
            artifact=payload.model_artifact,
            model_format=model_version_pb2.MODEL_FORMAT_ONNX,
            signature=payload.signature,
            metrics=payload.metrics,
            description=f"trained by {payload.run}",
        )
        for key, value in payload.params.items():
            mv.params[key].CopyFrom(value)
        if payload.HasField("cause"):
            mv.cause.CopyFrom(payload.cause)
        if payload.experiment:
            mv.labels["experiment"] = payload.experiment.removeprefix("experiments/")[:255]
        if payload.target_column:
            mv.labels["target"] = payload.target_column[:255]
        try:
            version = await self._registry.create_version(
                parent,
                mv,
                request_id=f"run:{payload.run}",
                creator=self._registry.actor,
                session=s,
                caused_by=event,
                create_model=True,
            )
        except (DataLoss, InvalidArgument, NotFound) as exc:
            # Retrying cannot fix a missing or corrupt artifact or a malformed payload:
            # record nothing and say why (the run stays in lineage).
            _log.error("not registering %s from event %s: %s", payload.run, event.id, exc)
            return
        _log.info("registered %s from %s", version.name, payload.run)

    # --- validation ----------------------------------------------------------------

    async def _on_validation_completed(self, event: Any, payload: Any, s: AsyncSession) -> None:
        verdict = validation_pb2.ValidationVerdict.Name(payload.verdict).removeprefix(
            "VALIDATION_VERDICT_"
        )
        await _upsert(
            s,
            ValidationRow,
            {
                "name": payload.validation,
                "model_version": payload.model_version,
                "dataset_version": payload.dataset_version,
                "champion_version": payload.champion_version,
                "verdict": verdict,
                "report_uri": payload.report_uri,
                "complete_time": event.time.ToDatetime(tzinfo=_UTC)
                if event.HasField("time")
                else utcnow(),
            },
            ["name"],
        )
        row = await self._version_row(s, payload.model_version)
        if row is None:
            return
        if payload.verdict == validation_pb2.VALIDATION_VERDICT_PASSED:
            status, reason = VALIDATED, f"passed {payload.validation}"
        elif payload.verdict == validation_pb2.VALIDATION_VERDICT_FAILED:
            failed = ", ".join(c.name for c in payload.failed_checks) or "checks failed"
            status, reason = REJECTED, f"failed {payload.validation}: {failed}"
        elif payload.verdict == validation_pb2.VALIDATION_VERDICT_ERROR:
            status = REJECTED
            reason = f"{payload.validation} could not validate it: {payload.error_message}"
        else:
            return
        if payload.report_uri:
            reason = f"{reason} (report: {payload.report_uri})"
        if row.status == model_version_pb2.MODEL_VERSION_STATUS_ARCHIVED:
            row.previous_status = status  # restored to the validation's verdict
            row.validation = payload.validation
            return
        await self._registry._set_status(
            s, row, status, reason=reason, validation=payload.validation, caused_by=event
        )

    async def _version_row(self, s: AsyncSession, name: str) -> VersionRow | None:
        try:
            ref = parse_version(name)
        except GyreError:
            _log.warning("event names a malformed model version %r", name)
            return None
        row = (
            await s.execute(
                select(VersionRow)
                .where(VersionRow.model_id == ref.model, VersionRow.version == ref.version)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if row is None or row.delete_time is not None:
            _log.warning("event names unknown model version %s", name)
            return None
        return row

    # --- deployments -----------------------------------------------------------------

    async def _route(
        self,
        s: AsyncSession,
        deployment: str,
        model_version: str,
        *,
        registered_model: str,
        role: str,
        active: bool,
    ) -> None:
        if not deployment or not model_version:
            return
        await _upsert(
            s,
            DeploymentRouteRow,
            {
                "deployment": deployment,
                "model_version": model_version,
                "registered_model": registered_model,
                "role": role,
                "active": active,
                "update_time": utcnow(),
            },
            ["deployment", "model_version"],
        )

    async def _sync_routes(self, s: AsyncSession, deployment: Any) -> None:
        await s.execute(
            update(DeploymentRouteRow)
            .where(DeploymentRouteRow.deployment == deployment.name)
            .values(active=False, role="", update_time=utcnow())
        )
        for route in deployment.routes:
            await self._route(
                s,
                deployment.name,
                route.model_version,
                registered_model=deployment.registered_model,
                role=_ROLE_NAMES.get(route.role, ""),
                active=True,
            )

    async def _on_inference_deployment_created(
        self, event: Any, payload: Any, s: AsyncSession
    ) -> None:
        await self._sync_routes(s, payload.deployment)

    async def _on_inference_deployment_updated(
        self, event: Any, payload: Any, s: AsyncSession
    ) -> None:
        await self._sync_routes(s, payload.deployment)

    async def _on_inference_deployment_deleted(
        self, event: Any, payload: Any, s: AsyncSession
    ) -> None:
        await s.execute(
            update(DeploymentRouteRow)
            .where(DeploymentRouteRow.deployment == payload.deployment)
            .values(active=False, role="", update_time=utcnow())
        )

    async def _on_inference_deployment_rollout_started(
        self, event: Any, payload: Any, s: AsyncSession
    ) -> None:
        await self._route(
            s,
            payload.deployment,
            payload.model_version,
            registered_model=payload.registered_model,
            role=_ROLE_NAMES.get(payload.role, "canary"),
            active=True,
        )

    async def _on_inference_deployment_promoted(
        self, event: Any, payload: Any, s: AsyncSession
    ) -> None:
        if payload.previous_version and payload.previous_version != payload.model_version:
            await self._route(
                s,
                payload.deployment,
                payload.previous_version,
                registered_model=payload.registered_model,
                role="",
                active=False,
            )
        await self._route(
            s,
            payload.deployment,
            payload.model_version,
            registered_model=payload.registered_model,
            role="champion",
            active=True,
        )
        why = payload.reason or ("automatic promotion" if payload.automatic else "promotion")
        await self._move_champion(
            s,
            event,
            payload.model_version,
            payload.deployment,
            f"promoted by {payload.deployment}: {why}",
        )

    async def _on_inference_deployment_rolled_back(
        self, event: Any, payload: Any, s: AsyncSession
    ) -> None:
        await self._route(
            s,
            payload.deployment,
            payload.model_version,
            registered_model=payload.registered_model,
            role="",
            active=False,
        )
        if payload.reverted_promotion and payload.champion_version:
            await self._route(
                s,
                payload.deployment,
                payload.champion_version,
                registered_model=payload.registered_model,
                role="champion",
                active=True,
            )
            why = payload.reason or "promotion reverted"
            await self._move_champion(
                s,
                event,
                payload.champion_version,
                payload.deployment,
                f"rolled back by {payload.deployment}: {why}",
            )

    async def _move_champion(
        self, s: AsyncSession, event: Any, version: str, deployment: str, reason: str
    ) -> None:
        row = await self._version_row(s, version)
        if row is None:
            return
        # The gateway decides what serves; the alias follows it. A version that is not
        # VALIDATED (yet) is moved to with a recorded override rather than refused.
        override = row.status != VALIDATED
        try:
            await self._registry.set_alias(
                f"models/{row.model_id}/aliases/{CHAMPION}",
                version,
                override_protection=override,
                reason=reason,
                cause=deployment,
                actor=event.source or "inference",
                session=s,
                caused_by=event,
            )
        except GyreError as exc:  # e.g. archived: keep the history honest, do not retry
            _log.error("cannot move champion to %s for %s: %s", version, deployment, exc)
