"""Helpers of the data registry's integration tests (importable by name from test files;
fixtures live in this directory's conftest.py)."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from typing import Any

from gyre.runtime.settings import ServiceSettings
from gyre.services.data_registry.app import running

__all__ = ["ServiceThread", "unique_dataset"]

_ids = itertools.count()


class ServiceThread:
    """The data registry, run by ``app.running`` in an event loop of its own thread."""

    def __init__(self, settings: ServiceSettings, **options: Any) -> None:
        self.settings = settings
        self.options = options
        self.target = ""
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="data-registry", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running(self.settings, **self.options) as server:
            self.target = server.target
            self._started.set()
            await self._stop.wait()

    def start(self) -> None:
        self._thread.start()
        self._started.wait(120)
        if self._error is not None:
            raise self._error
        assert self.target, "the data registry did not start"

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)


def unique_dataset(prefix: str = "ds") -> str:
    """A dataset id no other test uses."""
    return f"{prefix}-{next(_ids)}-{os.getpid()}"


def committed_event(nats_url: str, version_name: str, *, timeout_s: float = 30.0) -> Any:
    """The ``data.version.committed`` event about ``version_name`` (read from the stream)."""
    from gyre.events.v1.event_pb2 import Event
    from gyre.runtime.events import connect_nats, tail_events
    from gyre.runtime.settings import NatsSettings

    async def find() -> Event:
        settings = NatsSettings(url=nats_url)
        nc = await connect_nats(settings)
        try:

            async def first() -> Event:
                async for event in tail_events(
                    nc, settings, subject="gyre.v1.data.version.committed", deliver_all=True
                ):
                    assert isinstance(event, Event)
                    if event.subject == version_name:
                        return event
                raise AssertionError("stream ended")

            return await asyncio.wait_for(first(), timeout=timeout_s)
        finally:
            await nc.close()

    return asyncio.run(find())
