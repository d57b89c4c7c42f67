"""Route statistics, weighted / sticky routing and the SLO judgement of canaries."""

from __future__ import annotations

from collections import Counter

import pytest
from google.protobuf.duration_pb2 import Duration

from gyre.common.v1 import schema_pb2, value_pb2
from gyre.inference.v1 import deployment_pb2
from gyre.runtime.errors import FailedPrecondition, InvalidArgument
from gyre.services.inference._rollout import RouteStats, judge
from gyre.services.inference._routing import DeploymentRuntime, RouteRuntime
from gyre.services.inference._tensors import CompiledSignature


def _stats(requests: int, errors: int = 0, latency_s: float = 0.001) -> RouteStats:
    stats = RouteStats()
    for index in range(requests):
        stats.record(latency_s, index >= errors)
    return stats


def _policy(**fields: object) -> deployment_pb2.RolloutPolicy:
    base: dict[str, object] = {
        "min_requests": 100,
        "max_error_rate": 0.01,
        "auto_promote": True,
        "auto_rollback": True,
    }
    base.update(fields)
    return deployment_pb2.RolloutPolicy(**base)  # type: ignore[arg-type]


def test_waits_until_min_requests_then_promotes() -> None:
    waiting = judge(_policy(), "v2", _stats(40), _stats(200), started_s=0, now_s=10)
    assert waiting.decision == "wait"
    assert waiting.message == "waiting: 40/100 requests"
    ready = judge(_policy(), "v2", _stats(100), _stats(400), started_s=0, now_s=10)
    assert ready.decision == "promote"
    assert ready.status.canary_requests == 100
    assert ready.status.canary_p99_latency_ms == pytest.approx(1.0)


def test_healthy_message_reads_sensibly() -> None:
    clean = judge(_policy(max_error_rate=0.0), "v2", _stats(100), _stats(400), started_s=0)
    assert "no errors in 100 requests" in clean.message
    assert "0.000 <= 0.000" not in clean.message
    some = judge(
        _policy(max_error_rate=0.05), "v2", _stats(100, errors=2), _stats(400), started_s=0
    )
    assert "error rate 2.0% (2/100 failed) within max 5.0%" in some.message
    held = judge(_policy(auto_promote=False), "v2", _stats(100), _stats(400), started_s=0)
    assert held.decision == "hold"
    assert "auto-promote off" in held.message


def test_errors_roll_back_early_and_hold_without_auto_rollback() -> None:
    verdict = judge(_policy(), "v2", _stats(12, errors=6), _stats(50), started_s=0, now_s=1)
    assert verdict.decision == "rollback"
    assert "error rate 0.500 > 0.010 (6/12 requests failed)" in verdict.message
    assert verdict.status.canary_error_rate == 0.5
    held = judge(
        _policy(auto_rollback=False), "v2", _stats(12, errors=6), _stats(50), started_s=0, now_s=1
    )
    assert held.decision == "hold"


def test_p99_latency_and_max_duration_are_slos() -> None:
    slow = judge(
        _policy(max_p99_latency_ms=5.0),
        "v2",
        _stats(100, latency_s=0.02),
        _stats(100),
        started_s=0,
        now_s=1,
    )
    assert slow.decision == "rollback"
    assert "p99 latency 20.00 ms > 5.00 ms" in slow.message
    late = judge(
        _policy(max_duration=Duration(seconds=60)),
        "v2",
        _stats(10),
        _stats(10),
        started_s=0,
        now_s=61,
    )
    assert late.decision == "rollback"
    assert "not promoted within 60 s" in late.message


def test_live_metric_drop_is_judged_once_labels_arrive() -> None:
    canary, champion = _stats(100), _stats(100)
    policy = _policy(live_metric="accuracy", max_live_metric_drop=0.05)
    assert judge(policy, "v2", canary, champion, started_s=0, now_s=1).decision == "promote"
    for index in range(40):
        canary.record_feedback("UP", "UP" if index < 20 else "DOWN")  # 50 %
        champion.record_feedback(b"UP", "UP" if index < 36 else "DOWN")  # 90 %
    verdict = judge(policy, "v2", canary, champion, started_s=0, now_s=1)
    assert verdict.decision == "rollback"
    assert "accuracy 0.5000 vs champion 0.9000" in verdict.message
    assert verdict.status.canary_live_metric == pytest.approx(0.5)
    assert verdict.status.champion_live_metric == pytest.approx(0.9)


def _route(version: str, role: int, weight: int) -> RouteRuntime:
    signature = schema_pb2.Signature()
    signature.inputs.add(name="x", data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 1])
    signature.outputs.add(name="label", data_type=value_pb2.DATA_TYPE_INT64, shape=[-1])
    return RouteRuntime(
        deployment="deployments/unit",
        model_version=version,
        role=role,
        weight=weight,
        triton_model=version,
        signature=CompiledSignature(signature),
        stats=RouteStats(),
    )


def _runtime(*routes: RouteRuntime) -> DeploymentRuntime:
    return DeploymentRuntime(
        name="deployments/unit",
        message=deployment_pb2.Deployment(name="deployments/unit"),
        live=tuple(r for r in routes if r.role != deployment_pb2.ROUTE_ROLE_SHADOW),
        shadows=tuple(r for r in routes if r.role == deployment_pb2.ROUTE_ROLE_SHADOW),
        sample_rate=0.0,
        track_feedback=False,
    )


def test_weighted_routing_splits_and_sticky_keys_stay() -> None:
    runtime = _runtime(
        _route("models/m/versions/1", deployment_pb2.ROUTE_ROLE_CHAMPION, 70),
        _route("models/m/versions/2", deployment_pb2.ROUTE_ROLE_CANARY, 30),
        _route("models/m/versions/3", deployment_pb2.ROUTE_ROLE_SHADOW, 100),
    )
    served = Counter(runtime.pick("", "").model_version for _ in range(20_000))
    assert served.keys() == {"models/m/versions/1", "models/m/versions/2"}
    assert 0.27 < served["models/m/versions/2"] / 20_000 < 0.33
    for key in ("alice", "bob", "carol"):
        assert len({runtime.pick(key, "").model_version for _ in range(50)}) == 1
    keyed = Counter(runtime.pick(f"user-{i}", "").model_version for i in range(5000))
    assert 0.25 < keyed["models/m/versions/2"] / 5000 < 0.35
    assert runtime.pick("", "models/m/versions/3").model_version == "models/m/versions/3"
    with pytest.raises(InvalidArgument, match="not a route"):
        runtime.pick("", "models/m/versions/9")
    with pytest.raises(FailedPrecondition):
        _runtime().pick("", "")
