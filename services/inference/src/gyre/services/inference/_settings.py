"""Settings of the inference gateway (``GYRE_GATEWAY__*`` besides the shared ones)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from gyre.runtime.settings import ServiceSettings

__all__ = ["GatewaySettings", "InferenceSettings"]


class GatewaySettings(BaseModel, extra="forbid"):
    """How the gateway runs models on Triton, logs predictions and judges rollouts."""

    # Backend serving ONNX models: "onnxruntime" (Triton's native backend), "python"
    # (a Python-backend model.py running ONNX Runtime, for Triton builds without it) or
    # "auto": probe the server once by loading a tiny ONNX model with the native backend.
    onnx_backend: Literal["auto", "onnxruntime", "python"] = "auto"
    # Seconds a Triton inference call may take before it fails (UNAVAILABLE).
    triton_timeout_s: float = Field(default=10.0, gt=0)
    # Seconds between Triton liveness checks (health, reloading models after a restart).
    health_interval_s: float = Field(default=0.5, gt=0)
    # Calls to one Triton model in flight before concurrent requests are merged into one
    # batch (opportunistic batching: no added latency at low load); 0 turns it off.
    batch_in_flight: int = Field(default=2, ge=0)
    # Largest batch sent to Triton in one call; bigger requests are split.
    max_batch_size: int = Field(default=4096, gt=0)
    # Sampled predictions held in memory at most before new ones are dropped (counted).
    log_queue_size: int = Field(default=10_000, gt=0)
    # Seconds a sampled prediction waits at most before being published.
    log_flush_interval_s: float = Field(default=0.5, gt=0)
    # Rows per inference.prediction.logged event.
    log_records_per_event: int = Field(default=500, gt=0)
    # Shadow copies in flight at most; beyond, copies are skipped (counted).
    max_shadow_in_flight: int = Field(default=64, gt=0)
    # Seconds between checks of rollouts due for a judgement.
    judge_tick_s: float = Field(default=0.2, gt=0)
    # Seconds between reloads of the deployments table (changes made by other replicas).
    refresh_interval_s: float = Field(default=5.0, gt=0)
    # Recent request ids remembered to match feedback with the route that served it.
    feedback_window: int = Field(default=100_000, gt=0)
    # Where downloaded artifacts are staged; empty means <home>/inference/artifacts.
    artifacts_dir: str = ""


class InferenceSettings(ServiceSettings):
    """Settings of the inference gateway process."""

    service_name: str = "inference"
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
