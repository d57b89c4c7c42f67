"""``gyre-inference``: run the inference gateway until SIGTERM."""

from __future__ import annotations

import asyncio
import signal

from gyre.runtime.logging import configure_logging
from gyre.services.inference._settings import InferenceSettings

__all__ = ["main"]


async def _serve(settings: InferenceSettings) -> None:
    from gyre.services.inference.app import running

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running(settings) as server:
        await stop.wait()
        await server.stop(settings.server.grace_period_s)


def main() -> None:
    """Build the settings from the environment and serve."""
    settings = InferenceSettings(service_name="inference")
    configure_logging(settings.logging, service_name=settings.service_name)
    asyncio.run(_serve(settings))


if __name__ == "__main__":
    main()
