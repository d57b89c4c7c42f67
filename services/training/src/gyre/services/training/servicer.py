"""``gyre.training.v1.TrainingService``: a thin proto ⇄ domain layer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from gyre.runtime.errors import FieldViolation, InvalidArgument
from gyre.services.training.scheduler import Scheduler
from gyre.services.training.triggers import Triggers
from gyre.training.v1 import training_service_pb2 as ts
from gyre.training.v1 import training_service_pb2_grpc

__all__ = ["TrainingServicer"]

# Request metadata naming the calling user (set by the CLI); recorded as creator/actor.
USER_METADATA_KEY = "x-gyre-user"


def _user(context: Any) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == USER_METADATA_KEY:
            return str(value)[:200]
    return ""


def _require(value: object, field: str) -> None:
    if not value:
        raise InvalidArgument(
            f"{field} is required", field_violations=[FieldViolation(field, "required")]
        )


class TrainingServicer(training_service_pb2_grpc.TrainingServiceServicer):
    """Every RPC of the training scheduler."""

    def __init__(self, scheduler: Scheduler, triggers: Triggers) -> None:
        self.scheduler = scheduler
        self.triggers = triggers

    async def CreateExperiment(
        self, request: ts.CreateExperimentRequest, context: Any
    ) -> ts.CreateExperimentResponse:
        _require(request.experiment_id, "experiment_id")
        experiment = await self.scheduler.create_experiment(
            request.experiment_id, request.experiment
        )
        return ts.CreateExperimentResponse(experiment=experiment)

    async def GetExperiment(
        self, request: ts.GetExperimentRequest, context: Any
    ) -> ts.GetExperimentResponse:
        _require(request.name, "name")
        return ts.GetExperimentResponse(
            experiment=await self.scheduler.get_experiment(request.name)
        )

    async def ListExperiments(
        self, request: ts.ListExperimentsRequest, context: Any
    ) -> ts.ListExperimentsResponse:
        items, token, total = await self.scheduler.list_experiments(
            page_size=request.page_size,
            page_token=request.page_token,
            filter=request.filter,
            order_by=request.order_by,
        )
        return ts.ListExperimentsResponse(
            experiments=items, next_page_token=token, total_size=total
        )

    async def UpdateExperiment(
        self, request: ts.UpdateExperimentRequest, context: Any
    ) -> ts.UpdateExperimentResponse:
        _require(request.experiment.name, "experiment.name")
        experiment = await self.scheduler.update_experiment(
            request.experiment, list(request.update_mask.paths)
        )
        return ts.UpdateExperimentResponse(experiment=experiment)

    async def CreateCodeUploadUrl(
        self, request: ts.CreateCodeUploadUrlRequest, context: Any
    ) -> ts.CreateCodeUploadUrlResponse:
        return await self.scheduler.code_upload_url(request.sha256, request.size_bytes)

    async def SubmitRun(self, request: ts.SubmitRunRequest, context: Any) -> ts.SubmitRunResponse:
        _require(request.HasField("run"), "run")
        _require(request.run.experiment, "run.experiment")
        run = await self.scheduler.submit(
            request.run,
            run_id=request.run_id,
            request_id=request.request_id,
            creator=_user(context),
        )
        return ts.SubmitRunResponse(run=run)

    async def GetRun(self, request: ts.GetRunRequest, context: Any) -> ts.GetRunResponse:
        _require(request.name, "name")
        return ts.GetRunResponse(run=await self.scheduler.get_run(request.name))

    async def ListRuns(self, request: ts.ListRunsRequest, context: Any) -> ts.ListRunsResponse:
        runs, token, total = await self.scheduler.search_runs(
            filter=request.filter,
            order_by=request.order_by,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return ts.ListRunsResponse(runs=runs, next_page_token=token, total_size=total)

    async def SearchRuns(
        self, request: ts.SearchRunsRequest, context: Any
    ) -> ts.SearchRunsResponse:
        runs, token, total = await self.scheduler.search_runs(
            experiments=list(request.experiments),
            filter=request.filter,
            order_by=request.order_by,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return ts.SearchRunsResponse(runs=runs, next_page_token=token, total_size=total)

    async def CancelRun(self, request: ts.CancelRunRequest, context: Any) -> ts.CancelRunResponse:
        _require(request.name, "name")
        run = await self.scheduler.cancel(request.name, reason=request.reason, actor=_user(context))
        return ts.CancelRunResponse(run=run)

    async def StreamRunLogs(
        self, request: ts.StreamRunLogsRequest, context: Any
    ) -> AsyncIterator[ts.StreamRunLogsResponse]:
        _require(request.name, "name")
        if request.start_offset < 0 or request.tail_lines < 0 or request.attempt < 0:
            raise InvalidArgument("start_offset, tail_lines and attempt must not be negative")
        async for batch in self.scheduler.stream_logs(
            request.name,
            follow=request.follow,
            start_offset=request.start_offset,
            tail_lines=request.tail_lines,
            attempt=request.attempt,
        ):
            yield ts.StreamRunLogsResponse(lines=batch)

    async def LogMetrics(
        self, request: ts.LogMetricsRequest, context: Any
    ) -> ts.LogMetricsResponse:
        _require(request.run, "run")
        await self.scheduler.log_metrics(request.run, list(request.metrics))
        return ts.LogMetricsResponse()

    async def ListMetricHistory(
        self, request: ts.ListMetricHistoryRequest, context: Any
    ) -> ts.ListMetricHistoryResponse:
        _require(request.run, "run")
        metrics, token = await self.scheduler.metric_history(
            request.run, request.metric, page_size=request.page_size, page_token=request.page_token
        )
        return ts.ListMetricHistoryResponse(metrics=metrics, next_page_token=token)

    async def CreateTrigger(
        self, request: ts.CreateTriggerRequest, context: Any
    ) -> ts.CreateTriggerResponse:
        _require(request.trigger_id, "trigger_id")
        trigger = await self.triggers.create(request.trigger_id, request.trigger)
        return ts.CreateTriggerResponse(trigger=trigger)

    async def GetTrigger(
        self, request: ts.GetTriggerRequest, context: Any
    ) -> ts.GetTriggerResponse:
        _require(request.name, "name")
        return ts.GetTriggerResponse(trigger=await self.triggers.get(request.name))

    async def ListTriggers(
        self, request: ts.ListTriggersRequest, context: Any
    ) -> ts.ListTriggersResponse:
        items, token, total = await self.triggers.list(
            page_size=request.page_size,
            page_token=request.page_token,
            filter=request.filter,
            order_by=request.order_by,
        )
        return ts.ListTriggersResponse(triggers=items, next_page_token=token, total_size=total)

    async def UpdateTrigger(
        self, request: ts.UpdateTriggerRequest, context: Any
    ) -> ts.UpdateTriggerResponse:
        _require(request.trigger.name, "trigger.name")
        trigger = await self.triggers.update(request.trigger, list(request.update_mask.paths))
        return ts.UpdateTriggerResponse(trigger=trigger)

    async def DeleteTrigger(
        self, request: ts.DeleteTriggerRequest, context: Any
    ) -> ts.DeleteTriggerResponse:
        _require(request.name, "name")
        await self.triggers.delete(request.name, request.etag)
        return ts.DeleteTriggerResponse()

    async def FireTrigger(
        self, request: ts.FireTriggerRequest, context: Any
    ) -> ts.FireTriggerResponse:
        _require(request.name, "name")
        run = await self.triggers.fire_manual(
            request.name,
            reason=request.reason,
            ignore_cooldown=request.ignore_cooldown,
            request_id=request.request_id,
            actor=_user(context),
        )
        return ts.FireTriggerResponse(run=run)
