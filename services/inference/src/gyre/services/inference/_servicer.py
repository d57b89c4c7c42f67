"""The gRPC servicer: proto requests in, domain calls, proto responses out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from gyre.inference.v1 import inference_service_pb2 as pb
from gyre.inference.v1.inference_service_pb2_grpc import InferenceServiceServicer
from gyre.runtime.errors import GyreError, InvalidArgument, NotFound, Unavailable, to_status
from gyre.services.inference._gateway import Gateway

__all__ = ["InferenceServicer"]


def _actor(context: Any) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "gyre-actor":
            return str(value)
    return ""


def _timeout(context: Any) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else max(0.0, float(remaining))


class InferenceServicer(InferenceServiceServicer):
    """``gyre.inference.v1.InferenceService`` over a :class:`Gateway`."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def CreateDeployment(
        self, request: pb.CreateDeploymentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CreateDeploymentResponse:
        deployment = await self._gateway.create(
            request.deployment_id,
            request.deployment,
            allow_unvalidated=request.allow_unvalidated,
            actor=_actor(context),
        )
        return pb.CreateDeploymentResponse(deployment=deployment)

    async def GetDeployment(
        self, request: pb.GetDeploymentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetDeploymentResponse:
        return pb.GetDeploymentResponse(deployment=await self._gateway.get(request.name))

    async def ListDeployments(
        self, request: pb.ListDeploymentsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListDeploymentsResponse:
        items, token, total = await self._gateway.list_deployments(
            page_size=request.page_size,
            page_token=request.page_token,
            filter_text=request.filter,
            order_by=request.order_by,
        )
        return pb.ListDeploymentsResponse(
            deployments=items, next_page_token=token, total_size=total
        )

    async def UpdateDeployment(
        self, request: pb.UpdateDeploymentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.UpdateDeploymentResponse:
        deployment = await self._gateway.update(
            request.deployment, list(request.update_mask.paths), actor=_actor(context)
        )
        return pb.UpdateDeploymentResponse(deployment=deployment)

    async def DeleteDeployment(
        self, request: pb.DeleteDeploymentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.DeleteDeploymentResponse:
        await self._gateway.delete(request.name, etag=request.etag, actor=_actor(context))
        return pb.DeleteDeploymentResponse()

    async def ListDeploymentHistory(
        self, request: pb.ListDeploymentHistoryRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListDeploymentHistoryResponse:
        entries, token = await self._gateway.history(
            request.parent,
            page_size=request.page_size,
            page_token=request.page_token,
            filter_text=request.filter,
        )
        return pb.ListDeploymentHistoryResponse(entries=entries, next_page_token=token)

    async def Rollout(
        self, request: pb.RolloutRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RolloutResponse:
        deployment = await self._gateway.rollout(
            request.name,
            request.model_version,
            role=request.role,
            weight=request.weight,
            allow_unvalidated=request.allow_unvalidated,
            reason=request.reason,
            etag=request.etag,
            actor=_actor(context),
        )
        return pb.RolloutResponse(deployment=deployment)

    async def Promote(
        self, request: pb.PromoteRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.PromoteResponse:
        deployment = await self._gateway.promote(
            request.name, reason=request.reason, etag=request.etag, actor=_actor(context)
        )
        return pb.PromoteResponse(deployment=deployment)

    async def Rollback(
        self, request: pb.RollbackRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RollbackResponse:
        deployment = await self._gateway.rollback(
            request.name, reason=request.reason, etag=request.etag, actor=_actor(context)
        )
        return pb.RollbackResponse(deployment=deployment)

    async def Predict(
        self, request: pb.PredictRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.PredictResponse:
        return await self._gateway.predict(request, timeout_s=_timeout(context))

    async def StreamPredict(
        self,
        request_iterator: AsyncIterator[pb.StreamPredictRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.StreamPredictResponse]:
        """Answers in request order; requests are served concurrently (pipelined)."""
        pending: asyncio.Queue[asyncio.Task[pb.PredictResponse] | None] = asyncio.Queue(maxsize=64)
        ids: dict[int, str] = {}

        async def feed() -> None:
            try:
                async for item in request_iterator:
                    task = asyncio.ensure_future(self._gateway.predict(item.request))
                    ids[id(task)] = item.request.request_id
                    await pending.put(task)
            finally:
                await pending.put(None)

        feeder = asyncio.ensure_future(feed())
        try:
            while True:
                task = await pending.get()
                if task is None:
                    break
                request_id = ids.pop(id(task), "")
                try:
                    response = await task
                except (NotFound, Unavailable):
                    raise  # these end the stream (see the contract)
                except GyreError as exc:
                    yield pb.StreamPredictResponse(error=to_status(exc), request_id=request_id)
                    continue
                except Exception:
                    yield pb.StreamPredictResponse(
                        error=to_status(InvalidArgument("the request could not be served")),
                        request_id=request_id,
                    )
                    continue
                yield pb.StreamPredictResponse(response=response, request_id=response.request_id)
            await feeder
        finally:
            feeder.cancel()

    async def RecordFeedback(
        self, request: pb.RecordFeedbackRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RecordFeedbackResponse:
        if not request.HasField("feedback"):
            raise InvalidArgument("feedback is required", reason="EMPTY_FEEDBACK")
        await self._gateway.record_feedback(request.deployment, [request.feedback])
        return pb.RecordFeedbackResponse()

    async def RecordFeedbackBatch(
        self, request: pb.RecordFeedbackBatchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RecordFeedbackBatchResponse:
        accepted = await self._gateway.record_feedback(request.deployment, list(request.feedback))
        return pb.RecordFeedbackBatchResponse(accepted_count=accepted)
