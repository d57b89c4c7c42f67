"""Opportunistic batching: alone at low load, merged under load, failures shared."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from gyre.services.inference._batcher import Batcher


class Model:
    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.fail = fail
        self.gate = asyncio.Event()

    async def __call__(self, feed: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        self.calls.append(len(feed["x"]))
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("model failed")
        return {"y": feed["x"] * 10}


def _feed(*values: float) -> dict[str, NDArray[Any]]:
    return {"x": np.array(values, dtype=np.float32).reshape(-1, 1)}


async def test_requests_go_alone_until_calls_are_in_flight_then_merge() -> None:
    model = Model()
    batcher = Batcher(model, max_in_flight=1)
    first = asyncio.ensure_future(batcher.submit(_feed(1), 1))
    await asyncio.sleep(0)
    queued = [asyncio.ensure_future(batcher.submit(_feed(v, v), 2)) for v in (2, 3, 4)]
    await asyncio.sleep(0)
    assert model.calls == [1]  # the first went at once, alone
    model.gate.set()
    results = await asyncio.gather(first, *queued)
    assert model.calls == [1, 6]  # the three queued requests: one call of 6 rows
    assert results[0]["y"].reshape(-1).tolist() == [10.0]
    assert [r["y"].reshape(-1).tolist() for r in results[1:]] == [
        [20.0, 20.0],
        [30.0, 30.0],
        [40.0, 40.0],
    ]


async def test_a_failed_batch_fails_each_of_its_requests() -> None:
    model = Model(fail=True)
    batcher = Batcher(model, max_in_flight=1)
    tasks = [asyncio.ensure_future(batcher.submit(_feed(v), 1)) for v in (1, 2, 3)]
    await asyncio.sleep(0)
    model.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert model.calls == [1, 2]


async def test_cancelled_waiters_are_skipped() -> None:
    model = Model()
    batcher = Batcher(model, max_in_flight=1)
    first = asyncio.ensure_future(batcher.submit(_feed(1), 1))
    await asyncio.sleep(0)
    gone = asyncio.ensure_future(batcher.submit(_feed(2), 1))
    kept = asyncio.ensure_future(batcher.submit(_feed(3), 1))
    await asyncio.sleep(0)
    gone.cancel()
    model.gate.set()
    await first
    assert (await kept)["y"].reshape(-1).tolist() == [30.0]
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert model.calls == [1, 1]
