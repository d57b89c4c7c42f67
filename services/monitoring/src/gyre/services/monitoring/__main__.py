"""``gyre-monitoring`` / ``python -m gyre.services.monitoring``: run the monitor."""

from __future__ import annotations

import asyncio
import signal

from gyre.runtime.logging import configure_logging
from gyre.runtime.server import run
from gyre.services.monitoring.app import running
from gyre.services.monitoring.settings import MonitoringSettings

__all__ = ["main"]


async def _serve(settings: MonitoringSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running(settings):
        await stop.wait()


def main() -> None:
    """Run the monitor until SIGTERM or SIGINT."""
    settings = MonitoringSettings(service_name="monitoring")
    configure_logging(settings.logging, service_name=settings.service_name)
    raise SystemExit(run(_serve(settings)))


if __name__ == "__main__":
    main()
