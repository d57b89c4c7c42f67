"""Fixtures of the monitor's integration tests (defined in ``monitoring_helpers``)."""

from __future__ import annotations

from monitoring_helpers import elec2, gateway, monitor_factory
from support.runtime_events import nats_settings

__all__ = ["elec2", "gateway", "monitor_factory", "nats_settings"]
