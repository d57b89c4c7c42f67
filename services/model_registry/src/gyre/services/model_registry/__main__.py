"""``gyre-model-registry`` / ``python -m gyre.services.model_registry``: run the service
until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal
import threading

from gyre.runtime.logging import configure_logging
from gyre.runtime.server import run
from gyre.runtime.settings import ServiceSettings
from gyre.services.model_registry.app import running

__all__ = ["main"]


async def _serve(settings: ServiceSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    async with running(settings):
        await stop.wait()


def main() -> None:
    """Build the settings from the environment (``GYRE_*``) and serve."""
    settings = ServiceSettings(service_name="model-registry")
    configure_logging(settings.logging, service_name=settings.service_name)
    raise SystemExit(run(_serve(settings)))


if __name__ == "__main__":
    main()
