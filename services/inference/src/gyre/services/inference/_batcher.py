"""Opportunistic batching of concurrent predictions for one Triton model.

While fewer than ``max_in_flight`` calls to the model are in flight, a request is sent
at once, by itself (no added latency at low load). Beyond that, requests queue, and
when a call returns, everything queued (up to ``max_rows`` rows) goes to Triton as one
batch whose outputs are split back per request. Under load this trades many small
gRPC calls — most of the gateway's client-side cost — for few larger ones; Triton's
dynamic batcher would merge them anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Batcher"]

Arrays = Mapping[str, NDArray[Any]]
Call = Callable[[Arrays], Awaitable[dict[str, NDArray[Any]]]]
Entry = tuple[Arrays, int, "asyncio.Future[dict[str, NDArray[Any]]]"]


class Batcher:
    """Merges concurrent requests to one model (see the module docstring)."""

    __slots__ = ("_call", "_in_flight", "_max_in_flight", "_max_rows", "_pending", "_tasks")

    def __init__(self, call: Call, *, max_in_flight: int = 2, max_rows: int = 4096) -> None:
        self._call = call
        self._max_in_flight = max_in_flight
        self._max_rows = max_rows
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: list[tuple[Arrays, int, asyncio.Future[dict[str, NDArray[Any]]]]] = []

    async def submit(self, arrays: Arrays, count: int) -> dict[str, NDArray[Any]]:
        """The model's outputs for ``arrays`` (``count`` rows)."""
        if self._in_flight < self._max_in_flight and not self._pending:
            self._in_flight += 1
            try:
                return await self._call(arrays)
            finally:
                self._in_flight -= 1
                self._dispatch()
        future: asyncio.Future[dict[str, NDArray[Any]]] = asyncio.get_running_loop().create_future()
        self._pending.append((arrays, count, future))
        return await future

    def _dispatch(self) -> None:
        while self._pending and self._in_flight < self._max_in_flight:
            batch: list[Entry] = []
            rows = 0
            while self._pending and (not batch or rows + self._pending[0][1] <= self._max_rows):
                entry = self._pending.pop(0)
                if entry[2].cancelled():
                    continue
                batch.append(entry)
                rows += entry[1]
            if not batch:
                return
            self._in_flight += 1
            task = asyncio.ensure_future(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(
        self, batch: list[tuple[Arrays, int, asyncio.Future[dict[str, NDArray[Any]]]]]
    ) -> None:
        try:
            if len(batch) == 1:
                merged: Arrays = batch[0][0]
            else:
                names = list(batch[0][0])
                merged = {
                    name: np.concatenate([entry[0][name] for entry in batch]) for name in names
                }
            outputs = await self._call(merged)
        except BaseException as exc:  # every waiter gets the failure
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            start = 0
            for _, count, future in batch:
                if not future.done():
                    future.set_result(
                        {name: value[start : start + count] for name, value in outputs.items()}
                    )
                start += count
        finally:
            self._in_flight -= 1
            self._dispatch()
