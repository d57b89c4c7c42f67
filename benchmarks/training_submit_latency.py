"""Training scheduler: time from ``SubmitRun`` to the run's code starting, vs bare Ray.

Starts a real NATS, S3 (SeaweedFS) and Ray head (token auth, 2 CPUs), runs the data
registry and the training scheduler in-process, pushes 1,000 Elec2 rows, warms the
cluster up (one run, one task, one job), then measures, interleaved, ``--repeat``
times each:

G. Gyre: ``SubmitRun`` returns → the Ray job's entrypoint
   (``python -m gyre.services.training.worker``) prints ``GYRE_RUN_CODE_STARTED <t>``
   as its first action; latency = t - time before ``SubmitRun`` (validation against the
   data registry, the queue, the scheduler's poll, Ray Jobs submission, the job
   supervisor, the interpreter start);
J. bare Ray job: ``JobSubmissionClient.submit_job("python -c 'print(time.time())'")``;
T. bare Ray task: ``f.remote()`` from a connected driver; latency = the task's
   ``time.time()`` - time before ``.remote()``.

The headline ratio is G / T (the issue's "bare Ray task submission"); G / J shows what
Gyre adds over Ray Jobs itself. Everything runs on this machine, so all clocks agree.

    .venv/bin/python benchmarks/training_submit_latency.py            # ~2-3 min on 2 cores
    .venv/bin/python benchmarks/training_submit_latency.py --repeat 8 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # real-server launchers (tests/support/servers.py)

MARKER = "GYRE_RUN_CODE_STARTED"


class ServiceThread:
    """A Gyre service (``app.running``) in an event loop of its own thread."""

    def __init__(self, key: str, settings: Any) -> None:
        self.key, self.settings, self.target = key, settings, ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        from support.gyre_services import running_service

        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with running_service(self.key, self.settings) as server:
            self.target = server.target
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> ServiceThread:
        self._thread.start()
        if not self._ready.wait(180):
            raise RuntimeError(f"{self.key} did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_s": statistics.median(ordered),
        "mean_s": statistics.fmean(ordered),
        "min_s": ordered[0],
        "max_s": ordered[-1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="measurements per path")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    import pandas as pd
    from support.datasets import ELECTRICITY, datasets_dir
    from support.gyre_services import service_settings
    from support.servers import NatsServer, RayHead, SeaweedS3

    from gyre.runtime.logging import configure_logging
    from gyre.runtime.settings import LoggingSettings
    from gyre.sdk import GyreClient, training
    from gyre.sdk import data as sdk_data
    from gyre.services.training.scheduler import TrainingOptions, TrainingSettings

    configure_logging(LoggingSettings(level="WARNING"), service_name="benchmark")
    base_dir = datasets_dir()
    if base_dir is None:
        print("the shared datasets are missing (set GYRE_DATASETS_DIR)", file=sys.stderr)
        return 2
    results: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="gyre-bench-") as tmp:
        home = Path(tmp)
        rows = home / "elec2-1000.csv"
        pd.read_csv(base_dir / ELECTRICITY, nrows=1000).to_csv(rows, index=False)
        with (
            NatsServer.running(home) as nats,
            SeaweedS3.running(home) as s3,
            RayHead.running(num_cpus=2) as head,
        ):
            os.environ.update(head.env)
            registry_settings = service_settings(
                "data_registry", home / "registry", nats=nats, s3=s3, bucket="bench"
            )
            with ServiceThread("data_registry", registry_settings) as registry:
                base = service_settings(
                    "training",
                    home / "training",
                    nats=nats,
                    s3=s3,
                    bucket="bench",
                    peers={"data_registry": registry.target},
                    ray={"address": head.address},
                )
                settings = TrainingSettings(
                    **base.model_dump(),
                    training=TrainingOptions(
                        ray_token_file=str(head.token_file), poll_interval_s=0.5
                    ),
                )
                with (
                    ServiceThread("training", settings) as scheduler,
                    GyreClient(
                        addresses={
                            "data_registry": registry.target,
                            "training": scheduler.target,
                        },
                        timeout=120,
                    ) as gyre,
                ):
                    version = sdk_data.push(gyre, rows, dataset="bench", target="class").name
                    # Ray reads RAY_AUTH_MODE when it is imported: only now (head.env set).
                    import ray
                    from ray.job_submission import JobSubmissionClient

                    jobs = JobSubmissionClient(head.address, headers=head.auth_headers)

                    ray.init(
                        address=head.gcs_address,
                        _node_ip_address="127.0.0.1",
                        logging_level="ERROR",
                    )

                    @ray.remote(num_cpus=0.5)
                    def started() -> float:
                        return time.time()

                    def gyre_once() -> float:
                        before = time.time()
                        run = training.submit(
                            gyre,
                            dataset_version=version,
                            estimator="sklearn.ensemble.HistGradientBoostingClassifier",
                            params={"max_iter": 5},
                            cpus=0.5,
                            experiment="bench",
                        )
                        run = training.wait(gyre, run.name, timeout_s=300, poll_s=0.5)
                        for line in training.logs(gyre, run.name):
                            if line.text.startswith(MARKER):
                                return float(line.text.split()[1]) - before
                        raise RuntimeError(f"{run.name}: no {MARKER} line ({run.failure_reason})")

                    def job_once() -> float:
                        before = time.time()
                        job = jobs.submit_job(
                            entrypoint='python -c "import time; print(time.time())"',
                            entrypoint_num_cpus=0.5,
                        )
                        while not jobs.get_job_status(job).is_terminal():
                            time.sleep(0.2)
                        return float(jobs.get_job_logs(job).split()[-1]) - before

                    def task_once() -> float:
                        before = time.time()
                        return float(ray.get(started.remote())) - before

                    gyre_once(), job_once(), task_once()  # warm-up
                    samples: dict[str, list[float]] = {"gyre": [], "ray_job": [], "ray_task": []}
                    for i in range(args.repeat):
                        samples["gyre"].append(gyre_once())
                        samples["ray_job"].append(job_once())
                        samples["ray_task"].append(task_once())
                        if not args.json:
                            print(
                                f"{i + 1}/{args.repeat}: gyre {samples['gyre'][-1]:.2f}s  "
                                f"ray job {samples['ray_job'][-1]:.2f}s  "
                                f"ray task {samples['ray_task'][-1] * 1000:.1f}ms",
                                flush=True,
                            )
                    ray.shutdown()
    for key, values in samples.items():
        results[key] = _summary(values)
    results["ratio_gyre_vs_ray_task_p50"] = results["gyre"]["p50_s"] / results["ray_task"]["p50_s"]
    results["ratio_gyre_vs_ray_job_p50"] = results["gyre"]["p50_s"] / results["ray_job"]["p50_s"]
    results["gyre_overhead_over_ray_job_p50_s"] = (
        results["gyre"]["p50_s"] - results["ray_job"]["p50_s"]
    )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"SubmitRun → code start p50 {results['gyre']['p50_s']:.2f}s; "
            f"bare Ray job {results['ray_job']['p50_s']:.2f}s; "
            f"bare Ray task {results['ray_task']['p50_s'] * 1000:.1f}ms\n"
            f"ratio vs task {results['ratio_gyre_vs_ray_task_p50']:.0f}x, "
            f"vs job {results['ratio_gyre_vs_ray_job_p50']:.2f}x "
            f"(+{results['gyre_overhead_over_ray_job_p50_s']:.2f}s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
