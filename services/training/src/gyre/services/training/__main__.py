"""``gyre-training`` / ``python -m gyre.services.training``: run the training scheduler."""

from __future__ import annotations

import asyncio
import signal

from gyre.runtime.logging import configure_logging
from gyre.runtime.server import run
from gyre.services.training.app import running
from gyre.services.training.scheduler import TrainingSettings

__all__ = ["main"]


async def _serve(settings: TrainingSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running(settings):
        await stop.wait()


def main() -> None:
    """Run the training scheduler until SIGTERM or SIGINT."""
    settings = TrainingSettings(service_name="training")
    configure_logging(settings.logging, service_name=settings.service_name)
    raise SystemExit(run(_serve(settings)))


if __name__ == "__main__":
    main()
