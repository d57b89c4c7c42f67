"""Fixtures of the training scheduler's integration tests.

The real data registry and the real training scheduler (real NATS, S3, SQLite and
Ray head) each run by ``app.running`` in an event loop of its own thread, so tests
are plain blocking code using the SDK; the scheduler can be stopped and started
again on the same database (a restart).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from support.datasets import BANK_MARKETING, ELECTRICITY, dataset_path
from support.gyre_services import (
    SERVICE_NAMES,
    UNREACHABLE_PEER,
    running_service,
    service_settings,
)
from support.servers import NatsServer, RayHead, SeaweedS3

from gyre.runtime.settings import ServiceSettings
from gyre.sdk import GyreClient
from gyre.sdk import data as sdk_data
from gyre.services.training.scheduler import TrainingOptions, TrainingSettings
from gyre.training.v1 import run_pb2

BUCKET = "gyre-training-tests"
# Bounds of waits (they only bound a failing test; nothing asserts on durations).
RUN_DEADLINE_S = 240.0
EVENTUALLY_S = 60.0
SMALL_ROWS = 4000
BANK_ROWS = 6000


class ServiceThread:
    """One service, run by ``app.running`` in an event loop of its own thread."""

    def __init__(self, key: str, settings: ServiceSettings) -> None:
        self.key = key
        self.settings = settings
        self.target = ""
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running_service(self.key, self.settings) as server:
            self.target = server.target
            self._started.set()
            await self._stop.wait()

    def start(self) -> None:
        self._started.clear()
        self._error = None
        self.target = ""
        self._thread = threading.Thread(target=self._run, name=self.key, daemon=True)
        self._thread.start()
        self._started.wait(120)
        if self._error is not None:
            raise self._error
        assert self.target, f"{self.key} did not start"

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(60)
            assert not self._thread.is_alive(), f"{self.key} did not stop"


@dataclass
class Stack:
    registry: ServiceThread
    training: ServiceThread
    ray_head: RayHead
    nats: NatsServer
    s3: SeaweedS3
    elec2: str
    elec2_small: str
    bank: str
    code_dir: Path

    def client(self) -> GyreClient:
        return GyreClient(
            # Every other service at a closed port: never a local stack's default ports.
            addresses={
                **dict.fromkeys(SERVICE_NAMES, UNREACHABLE_PEER),
                "data_registry": self.registry.target,
                "training": self.training.target,
            },
            timeout=120,
        )


TRAINER_CODE = textwrap.dedent(
    '''
    """Custom trainers of the integration tests."""
    import time


    def fit(ctx):
        """Sleeps ``sleep_s``, then fits a small HistGradientBoosting pipeline."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        for step in range(int(ctx.params.get("sleep_s", 0))):
            ctx.log_metric("warmup", float(step), step=step)
            time.sleep(1.0)
        ctx.log_param("trainer", "fit")
        pipeline = ctx.pipeline(HistGradientBoostingClassifier(max_iter=20, random_state=ctx.seed))
        pipeline.fit(ctx.features_frame(ctx.train), ctx.train[ctx.target])
        return pipeline


    def broken(ctx):
        raise RuntimeError("the trainer broke on purpose")
    '''
)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    nats_server: NatsServer,
    s3_server: SeaweedS3,
    ray_head: RayHead,
) -> Iterator[Stack]:
    """The data registry and the training scheduler, with three dataset versions."""
    home = tmp_path_factory.mktemp("training")
    registry = ServiceThread(
        "data_registry",
        service_settings(
            "data_registry", home / "registry", nats=nats_server, s3=s3_server, bucket=BUCKET
        ),
    )
    registry.start()
    base = service_settings(
        "training",
        home / "training",
        nats=nats_server,
        s3=s3_server,
        bucket=BUCKET,
        peers={"data_registry": registry.target},
        ray={"address": ray_head.address},
    )
    settings = TrainingSettings(
        **base.model_dump(),
        training=TrainingOptions(
            ray_token_file=str(ray_head.token_file), poll_interval_s=0.3, max_concurrent_runs=3
        ),
    )
    training = ServiceThread("training", settings)
    training.start()
    data_dir = home / "data"
    data_dir.mkdir()
    small = data_dir / "elec2-small.csv"
    pd.read_csv(dataset_path(ELECTRICITY), nrows=SMALL_ROWS).to_csv(small, index=False)
    bank = data_dir / "bank.csv"
    pd.read_csv(dataset_path(BANK_MARKETING), nrows=BANK_ROWS).to_csv(bank, index=False)
    code_dir = home / "code"
    code_dir.mkdir()
    (code_dir / "gyre_test_trainers.py").write_text(TRAINER_CODE)
    # A git checkout, so runs record the commit of their custom code.
    for command in (
        ["git", "init", "-q"],
        ["git", "add", "."],
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "t"],
    ):
        subprocess.run(command, cwd=code_dir, check=True, capture_output=True, timeout=30)
    suffix = os.getpid()
    try:
        with GyreClient(addresses={"data_registry": registry.target}, timeout=120) as gyre:
            elec2 = sdk_data.push(
                gyre, dataset_path(ELECTRICITY), dataset=f"elec2-{suffix}", target="class"
            ).name
            elec2_small = sdk_data.push(
                gyre, small, dataset=f"elec2-small-{suffix}", target="class"
            ).name
            bank_version = sdk_data.push(gyre, bank, dataset=f"bank-{suffix}", target="Class").name
        yield Stack(
            registry=registry,
            training=training,
            ray_head=ray_head,
            nats=nats_server,
            s3=s3_server,
            elec2=elec2,
            elec2_small=elec2_small,
            bank=bank_version,
            code_dir=code_dir,
        )
    finally:
        training.stop()
        registry.stop()


def eventually(
    check: Callable[[], Any], *, timeout_s: float = EVENTUALLY_S, poll_s: float = 0.3
) -> Any:
    """``check()``'s first truthy result, polling; fails the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met after {timeout_s:.0f}s: {check}")
        time.sleep(poll_s)


def state_name(run: run_pb2.Run) -> str:
    return run_pb2.RunState.Name(run.state)
