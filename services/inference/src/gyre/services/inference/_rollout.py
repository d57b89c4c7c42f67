"""Live statistics of routes and the SLO judgement of a canary.

Each route keeps, in memory, counts of requests and errors, a window of recent
latencies (for the p99) and, when ground truth arrives, counts of correct predictions
(accuracy) or absolute errors (MAE). A rollout is judged on the canary's statistics
since the rollout started against the policy: error rate, p99 latency and, when both
routes have enough labels, the drop of the live metric versus the champion.
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass
from typing import Final, Literal

from gyre.inference.v1 import deployment_pb2

__all__ = [
    "DEFAULT_CANARY_WEIGHT",
    "DEFAULT_JUDGE_INTERVAL_S",
    "DEFAULT_MIN_REQUESTS",
    "MIN_FEEDBACK",
    "RouteStats",
    "Verdict",
    "judge",
]

DEFAULT_CANARY_WEIGHT: Final = 10
DEFAULT_MIN_REQUESTS: Final = 100
# Judgements without a policy interval. Judging is cheap (counters and one sort of at
# most LATENCY_WINDOW latencies), so the status shown is at most this old.
DEFAULT_JUDGE_INTERVAL_S: Final = 2.0
# Labels each route needs before the live metric is judged.
MIN_FEEDBACK: Final = 20
# Latencies kept per route for the p99.
LATENCY_WINDOW: Final = 20_000
# Live metrics the gateway computes from feedback; "higher is better" for each.
LIVE_METRICS: Final = {"accuracy": True, "mae": False}


class RouteStats:
    """Counters of one route since it was (re)set; updated on the predict path."""

    __slots__ = (
        "abs_error_sum",
        "errors",
        "feedback",
        "feedback_correct",
        "latencies",
        "requests",
        "since",
    )

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.latencies: collections.deque[float] = collections.deque(maxlen=LATENCY_WINDOW)
        self.feedback = 0
        self.feedback_correct = 0
        self.abs_error_sum = 0.0
        self.since = time.time()

    def record(self, latency_s: float, ok: bool) -> None:
        self.requests += 1
        if ok:
            self.latencies.append(latency_s)
        else:
            self.errors += 1

    def record_feedback(self, predicted: object, truth: object) -> None:
        self.feedback += 1
        numeric = isinstance(predicted, int | float) and isinstance(truth, int | float)
        if numeric and not isinstance(predicted, bool):
            self.abs_error_sum += abs(float(predicted) - float(truth))  # type: ignore[arg-type]
        if _same(predicted, truth):
            self.feedback_correct += 1

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def p99_ms(self) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)
        return ordered[index] * 1000.0

    def live_metric(self, metric: str) -> float | None:
        if self.feedback < MIN_FEEDBACK:
            return None
        if metric == "accuracy":
            return self.feedback_correct / self.feedback
        if metric == "mae":
            return self.abs_error_sum / self.feedback
        return None


def _same(predicted: object, truth: object) -> bool:
    if isinstance(predicted, bytes):
        predicted = predicted.decode(errors="replace")
    if isinstance(truth, bytes):
        truth = truth.decode(errors="replace")
    if isinstance(predicted, str) or isinstance(truth, str):
        return str(predicted) == str(truth)
    return predicted == truth


@dataclass(frozen=True, slots=True)
class Verdict:
    """Outcome of one judgement."""

    decision: Literal["wait", "promote", "rollback", "hold"]
    message: str
    status: deployment_pb2.RolloutStatus


def judge(
    policy: deployment_pb2.RolloutPolicy,
    canary_version: str,
    canary: RouteStats,
    champion: RouteStats,
    *,
    started_s: float,
    now_s: float | None = None,
) -> Verdict:
    """Judge a canary on ``policy``'s SLOs.

    ``rollback`` when an SLO is violated (or ``max_duration`` passed without a
    promotion), ``promote`` when every SLO holds after ``min_requests``, ``wait`` before
    that. ``hold`` means every SLO holds but ``auto_promote`` is off, or an SLO is
    violated and ``auto_rollback`` is off (a person decides).
    """
    now = time.time() if now_s is None else now_s
    min_requests = policy.min_requests or DEFAULT_MIN_REQUESTS
    status = deployment_pb2.RolloutStatus(
        model_version=canary_version,
        canary_requests=canary.requests,
        canary_error_rate=canary.error_rate,
        canary_p99_latency_ms=canary.p99_ms(),
        champion_p99_latency_ms=champion.p99_ms(),
    )
    status.start_time.FromNanoseconds(int(started_s * 1e9))
    status.last_judge_time.FromNanoseconds(int(now * 1e9))
    metric = policy.live_metric
    canary_metric = canary.live_metric(metric) if metric else None
    champion_metric = champion.live_metric(metric) if metric else None
    if canary_metric is not None:
        status.canary_live_metric = canary_metric
    if champion_metric is not None:
        status.champion_live_metric = champion_metric

    violations: list[str] = []
    # Errors are judged early (after 10 requests) so that a broken canary goes quickly.
    judged_errors = canary.requests >= min_requests or (
        canary.errors > 0 and canary.requests >= min(min_requests, 10)
    )
    if judged_errors and canary.error_rate > policy.max_error_rate:
        violations.append(
            f"error rate {canary.error_rate:.3f} > {policy.max_error_rate:.3f} "
            f"({canary.errors}/{canary.requests} requests failed)"
        )
    if canary.requests >= min_requests:
        p99 = status.canary_p99_latency_ms
        if policy.max_p99_latency_ms > 0 and p99 > policy.max_p99_latency_ms:
            violations.append(f"p99 latency {p99:.2f} ms > {policy.max_p99_latency_ms:.2f} ms")
        if canary_metric is not None and champion_metric is not None:
            higher_is_better = LIVE_METRICS.get(metric, True)
            drop = (
                champion_metric - canary_metric
                if higher_is_better
                else canary_metric - champion_metric
            )
            if drop > policy.max_live_metric_drop:
                violations.append(
                    f"{metric} {canary_metric:.4f} vs champion {champion_metric:.4f} "
                    f"(drop {drop:.4f} > {policy.max_live_metric_drop:.4f})"
                )
    max_duration = policy.max_duration.ToTimedelta().total_seconds()
    if not violations and max_duration > 0 and now - started_s > max_duration:
        violations.append(f"not promoted within {max_duration:g} s")

    if violations:
        message = "SLO violated: " + "; ".join(violations)
        status.message = message
        return Verdict("rollback" if policy.auto_rollback else "hold", message, status)
    if canary.requests < min_requests:
        message = f"waiting: {canary.requests}/{min_requests} requests"
        status.message = message
        return Verdict("wait", message, status)
    if canary.errors == 0:
        errors = f"no errors in {canary.requests} requests"
    else:
        errors = (
            f"error rate {canary.error_rate:.1%} ({canary.errors}/{canary.requests} failed) "
            f"within max {policy.max_error_rate:.1%}"
        )
    latency = f"p99 {status.canary_p99_latency_ms:.2f} ms"
    if policy.max_p99_latency_ms > 0:
        latency += f" within max {policy.max_p99_latency_ms:.2f} ms"
    parts = [errors, latency]
    if canary_metric is not None and champion_metric is not None:
        parts.append(f"{metric} {canary_metric:.4f} vs champion {champion_metric:.4f}")
    message = f"SLOs hold after {canary.requests} requests: " + ", ".join(parts)
    if not policy.auto_promote:
        message += " (auto-promote off: promote by hand)"
    status.message = message
    return Verdict("promote" if policy.auto_promote else "hold", message, status)
