"""Fixtures of the monitor's integration tests (defined in ``monitoring_helpers``)."""

from __future__ import annotations

from monitoring_helpers import data_registry, elec2, gateway, monitor_factory
from support.runtime_events import nats_settings

__all__ = ["data_registry", "elec2", "gateway", "monitor_factory", "nats_settings"]
