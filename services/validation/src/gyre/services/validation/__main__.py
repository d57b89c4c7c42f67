"""``gyre-validation`` / ``python -m gyre.services.validation``: run the validation gate
until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal

from gyre.runtime.logging import configure_logging
from gyre.runtime.server import run
from gyre.services.validation.app import ValidationServiceSettings, running

__all__ = ["main"]


async def _serve(settings: ValidationServiceSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running(settings):
        await stop.wait()


def main() -> None:
    """Entry point of the ``gyre-validation`` console script."""
    settings = ValidationServiceSettings()
    configure_logging(settings.logging, service_name=settings.service_name)
    raise SystemExit(run(_serve(settings)))


if __name__ == "__main__":
    main()
