"""Settings of the monitor process (``GYRE_``-prefixed environment variables)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from gyre.runtime.settings import ServiceSettings

__all__ = ["MonitorOptions", "MonitoringSettings"]


class MonitorOptions(BaseModel, extra="forbid"):
    """Knobs of the monitor itself (per-deployment behaviour is in policies)."""

    # Logged predictions kept for the feedback join, at most, and for how long (seconds).
    join_max_entries: int = Field(default=200_000, ge=1)
    join_retention_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    # Seconds between checks of open windows for closing by time.
    tick_s: float = Field(default=0.5, gt=0)
    # Seconds between checkpoints of the open windows (one more at a graceful stop).
    checkpoint_interval_s: float = Field(default=30.0, gt=0)
    # Webhook attempts per alert, per-attempt timeout and first backoff (seconds).
    webhook_attempts: int = Field(default=5, ge=1)
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_wait_initial_s: float = Field(default=0.2, ge=0)
    # Seconds a failed reference lookup (model or data registry) is not retried.
    reference_retry_after_s: float = Field(default=30.0, ge=0)
    # Deadline of calls to the model and data registries (seconds).
    peer_timeout_s: float = Field(default=5.0, gt=0)
    # Consumer name (durable) of the monitor's event intake.
    consumer_name: str = "monitoring"


class MonitoringSettings(ServiceSettings):
    """The monitor's settings: a service's, plus ``GYRE_MONITORING__*``."""

    service_name: str = "monitoring"
    monitoring: MonitorOptions = Field(default_factory=MonitorOptions)
