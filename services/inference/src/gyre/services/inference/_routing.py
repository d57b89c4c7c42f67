"""In-memory route tables: what the predict path reads instead of the database.

A :class:`DeploymentRuntime` is rebuilt (never mutated) whenever a deployment's routes
change; the predict path reads one dict entry and draws a route. Weighted routing
draws a uniform number in [0, 100); with a routing key the number is the key's CRC32
modulo 100, so requests with the same key go to the same live route while the routes
are unchanged.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from typing import Any

from gyre.inference.v1 import deployment_pb2
from gyre.runtime.errors import FailedPrecondition, InvalidArgument
from gyre.services.inference import _metrics
from gyre.services.inference._rollout import RouteStats
from gyre.services.inference._tensors import CompiledSignature

__all__ = ["DeploymentRuntime", "RouteRuntime"]


class RouteRuntime:
    """One routed model version, with everything the predict path needs precomputed."""

    __slots__ = (
        "deployment",
        "errors",
        "latency",
        "model_version",
        "outputs",
        "requests",
        "role",
        "role_name",
        "rows",
        "signature",
        "stats",
        "triton_model",
        "weight",
    )

    def __init__(
        self,
        *,
        deployment: str,
        model_version: str,
        role: int,
        weight: int,
        triton_model: str,
        signature: CompiledSignature,
        stats: RouteStats,
    ) -> None:
        self.deployment = deployment
        self.model_version = model_version
        self.role = role
        self.role_name = deployment_pb2.RouteRole.Name(role).removeprefix("ROUTE_ROLE_").lower()
        self.weight = weight
        self.triton_model = triton_model
        self.signature = signature
        self.stats = stats
        self.outputs = list(signature.output_names)
        labels = (deployment, model_version, self.role_name)
        self.requests = _metrics.REQUESTS.labels(*labels)
        self.latency = _metrics.LATENCY.labels(*labels)
        self.rows = _metrics.ROWS.labels(*labels)
        self.errors: dict[str, Any] = {}

    def error_counter(self, code: str) -> Any:
        counter = self.errors.get(code)
        if counter is None:
            counter = _metrics.ERRORS.labels(
                self.deployment, self.model_version, self.role_name, code
            )
            self.errors[code] = counter
        return counter


@dataclass
class DeploymentRuntime:
    """A deployment's routes as the predict path sees them."""

    name: str
    message: deployment_pb2.Deployment
    live: tuple[RouteRuntime, ...]
    shadows: tuple[RouteRuntime, ...]
    sample_rate: float
    track_feedback: bool
    # Upper bounds (exclusive) of each live route's share of [0, 100).
    bounds: tuple[int, ...] = field(default=())
    by_version: dict[str, RouteRuntime] = field(default_factory=dict)
    rollout_started_s: float | None = None
    last_judge_s: float = 0.0
    rollout_status: deployment_pb2.RolloutStatus | None = None

    def __post_init__(self) -> None:
        total = 0
        bounds = []
        for route in self.live:
            total += route.weight
            bounds.append(total)
        self.bounds = tuple(bounds)
        self.by_version = {r.model_version: r for r in (*self.live, *self.shadows)}

    @property
    def champion(self) -> RouteRuntime | None:
        return next((r for r in self.live if r.role == deployment_pb2.ROUTE_ROLE_CHAMPION), None)

    @property
    def canary(self) -> RouteRuntime | None:
        return next((r for r in self.live if r.role == deployment_pb2.ROUTE_ROLE_CANARY), None)

    def pick(self, routing_key: str, model_version: str) -> RouteRuntime:
        """The live route serving a request.

        Raises:
            FailedPrecondition: the deployment has no live route.
            InvalidArgument: ``model_version`` is not one of its routes.
        """
        if model_version:
            route = self.by_version.get(model_version)
            if route is None:
                raise InvalidArgument(
                    f"{model_version} is not a route of {self.name}; routes: "
                    f"{', '.join(sorted(self.by_version)) or 'none'}",
                    reason="NOT_A_ROUTE",
                )
            return route
        live = self.live
        if not live:
            raise FailedPrecondition(
                f"{self.name} has no route serving traffic (state "
                f"{deployment_pb2.DeploymentState.Name(self.message.state)})",
                reason="NO_ROUTE",
            )
        if len(live) == 1:
            return live[0]
        if routing_key:
            point = zlib.crc32(routing_key.encode()) % 100
        else:
            point = int(random.random() * 100)
        for route, bound in zip(live, self.bounds, strict=True):
            if point < bound:
                return route
        return live[-1]
