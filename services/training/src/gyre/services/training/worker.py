"""The Ray job entrypoint of a run: ``python -m gyre.services.training.worker``.

The scheduler submits one Ray job per attempt. The job's environment carries:

- ``GYRE_TRAINING_JOB``: the job description (JSON, see :class:`JobSpec`);
- ``GYRE_S3__*``: the object store the model, extra artifacts and the outcome go to;
- ``GYRE_DATA_REGISTRY_ADDRESS``: where the dataset version is read from (through
  ``gyre.sdk.data.read_table``: presigned downloads, verified chunks);
- ``GYRE_TRAINING_ADDRESS``: the scheduler, to which step-wise metrics are streamed
  live with ``LogMetrics`` (best effort: a scheduler that is restarting misses
  live points, never the final result).

The outcome of the attempt — succeeded with a ``RunResult``, or failed with a
reason and whether a retry could help — is written as JSON to the object store at
``outcome_key``. That file, not the job's exit code or a callback, is what the
scheduler records when it sees the Ray job finish, so a run completes and is
recorded even if the scheduler was down while it trained.

Sweeps run their trials with Ray Tune inside the job: one Tune trial per child run
the scheduler created (the scheduler samples the search space, so every trial is a
named run before it starts), each trial packaging its own model and writing its own
outcome; the best trial's result becomes the sweep's.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import math
import os
import platform
import resource
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from gyre.common.v1 import artifact_pb2, compute_pb2, metric_pb2, schema_pb2, value_pb2
from gyre.training.v1 import run_pb2

if TYPE_CHECKING:
    from gyre.services.training import trainers

__all__ = ["JOB_ENV", "STARTED_MARKER", "JobSpec", "Outcome", "main"]

# Environment variable holding the job description.
JOB_ENV: Final = "GYRE_TRAINING_JOB"
# First line every attempt prints, with the wall-clock time its code started.
STARTED_MARKER: Final = "GYRE_RUN_CODE_STARTED"
# Seconds between batches of streamed metrics.
METRIC_FLUSH_S: Final = 0.5
ONNX_MEDIA_TYPE: Final = "application/onnx"


@dataclass
class JobSpec:
    """What one attempt runs (the scheduler writes it, the worker reads it)."""

    run: str
    attempt: int
    spec: run_pb2.RunSpec
    params: dict[str, Any]
    dataset_digest: str
    outcome_key: str
    artifact_prefix: str
    # Sweep trials: child run name, its params, its outcome key and artifact prefix.
    trials: list[dict[str, Any]] = field(default_factory=list)
    code_key: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "run": self.run,
                "attempt": self.attempt,
                "spec": base64.b64encode(self.spec.SerializeToString()).decode(),
                "params": self.params,
                "dataset_digest": self.dataset_digest,
                "outcome_key": self.outcome_key,
                "artifact_prefix": self.artifact_prefix,
                "trials": self.trials,
                "code_key": self.code_key,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        raw = json.loads(text)
        spec = run_pb2.RunSpec()
        spec.ParseFromString(base64.b64decode(raw["spec"]))
        return cls(
            run=raw["run"],
            attempt=int(raw["attempt"]),
            spec=spec,
            params=dict(raw.get("params") or {}),
            dataset_digest=raw.get("dataset_digest", ""),
            outcome_key=raw["outcome_key"],
            artifact_prefix=raw["artifact_prefix"],
            trials=list(raw.get("trials") or []),
            code_key=raw.get("code_key", ""),
        )


@dataclass
class Outcome:
    """How an attempt (or a trial) ended, as stored at its ``outcome_key``."""

    status: str  # "succeeded" | "failed"
    result: run_pb2.RunResult = field(default_factory=run_pb2.RunResult)
    reason: str = ""
    retryable: bool = False
    metrics: list[tuple[str, float, int, float]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "status": self.status,
                "reason": self.reason,
                "retryable": self.retryable,
                "result": base64.b64encode(self.result.SerializeToString()).decode(),
                "metrics": self.metrics,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Outcome:
        raw = json.loads(text)
        result = run_pb2.RunResult()
        result.ParseFromString(base64.b64decode(raw.get("result", "")))
        return cls(
            status=str(raw["status"]),
            result=result,
            reason=str(raw.get("reason", "")),
            retryable=bool(raw.get("retryable", False)),
            metrics=[
                (str(m[0]), float(m[1]), int(m[2]), float(m[3])) for m in raw.get("metrics", [])
            ],
        )


class MetricStreamer:
    """Collects a run's step-wise metrics and streams them to the scheduler in batches."""

    def __init__(self, run: str, client: Any | None) -> None:
        self.run = run
        self._client = client
        self._pending: list[metric_pb2.Metric] = []
        self.history: list[tuple[str, float, int, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, name: str, value: float, step: int) -> None:
        if not math.isfinite(value):
            return
        now = time.time()
        metric = metric_pb2.Metric(name=name, value=value, step=step)
        metric.time.FromDatetime(datetime.fromtimestamp(now, UTC))
        with self._lock:
            self._pending.append(metric)
            self.history.append((name, value, step, now))

    def start(self) -> None:
        if self._client is None:
            return
        self._thread = threading.Thread(target=self._loop, name="gyre-metrics", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(METRIC_FLUSH_S):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch or self._client is None:
            return
        from gyre.training.v1 import training_service_pb2 as ts

        try:
            self._client.training.LogMetrics(
                ts.LogMetricsRequest(run=self.run, metrics=batch), timeout=5.0
            )
        except Exception as exc:  # live metrics are best effort: the outcome has them all
            print(f"gyre: streaming {len(batch)} metric(s) failed: {exc}", file=sys.stderr)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()


# -- environment, code version, usage -----------------------------------------------


def environment() -> run_pb2.Environment:
    """Python, platform, Ray and installed distributions of this process."""
    env = run_pb2.Environment(
        python_version=platform.python_version(), platform=platform.platform()
    )
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            env.packages[name] = dist.version
    with contextlib.suppress(metadata.PackageNotFoundError):
        env.ray_version = metadata.version("ray")
    return env


def builtin_code_version(estimator: str) -> run_pb2.CodeVersion:
    """SHA-256 of the built-in trainer's source (Gyre's trainer module + the estimator's)."""
    from gyre.services.training import trainers

    digest = hashlib.sha256()
    digest.update(Path(trainers.__file__).read_bytes())
    with contextlib.suppress(Exception):
        cls = trainers.load_estimator_class(estimator)
        module = sys.modules[cls.__module__]
        if module.__file__:
            digest.update(Path(module.__file__).read_bytes())
    return run_pb2.CodeVersion(source_sha256=digest.hexdigest())


def _usage(started: float) -> compute_pb2.ResourceUsage:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return compute_pb2.ResourceUsage(
        wall_seconds=time.monotonic() - started,
        cpu_seconds=own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
        peak_memory_bytes=max(own.ru_maxrss, children.ru_maxrss) * 1024,
    )


def _summaries(history: list[tuple[str, float, int, float]]) -> list[run_pb2.MetricSummary]:
    by_name: dict[str, list[tuple[str, float, int, float]]] = {}
    for item in history:
        by_name.setdefault(item[0], []).append(item)
    out = []
    for name, items in sorted(by_name.items()):
        values = [v for _, v, _, _ in items]
        last = max(items, key=lambda i: (i[2], i[3]))
        out.append(
            run_pb2.MetricSummary(
                name=name,
                last=last[1],
                min=min(values),
                max=max(values),
                last_step=last[2],
                count=len(items),
            )
        )
    return out


def signature_from_onnx(onnx_bytes: bytes) -> schema_pb2.Signature:
    """A signature read off an ONNX graph (for trainers that return ONNX themselves)."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    kinds: dict[int, Any] = {
        onnx.TensorProto.FLOAT: value_pb2.DATA_TYPE_FLOAT32,
        onnx.TensorProto.DOUBLE: value_pb2.DATA_TYPE_FLOAT64,
        onnx.TensorProto.INT64: value_pb2.DATA_TYPE_INT64,
        onnx.TensorProto.INT32: value_pb2.DATA_TYPE_INT32,
        onnx.TensorProto.STRING: value_pb2.DATA_TYPE_STRING,
        onnx.TensorProto.BOOL: value_pb2.DATA_TYPE_BOOL,
    }
    signature = schema_pb2.Signature()
    for values, target in (
        (model.graph.input, signature.inputs),
        (model.graph.output, signature.outputs),
    ):
        for item in values:
            tensor = item.type.tensor_type
            shape = [d.dim_value if d.dim_value > 0 else -1 for d in tensor.shape.dim]
            data_type = kinds.get(tensor.elem_type, value_pb2.DATA_TYPE_UNSPECIFIED)
            target.add(
                name=item.name,
                data_type=data_type,
                shape=shape,
                categorical=data_type == value_pb2.DATA_TYPE_STRING,
            )
    return signature


# -- one training ----------------------------------------------------------------------


class Worker:
    """Runs one attempt (or one sweep trial) against the object store and the scheduler."""

    def __init__(self, store: Any, client: Any | None) -> None:
        self.store = store
        self.client = client

    def upload(self, key: str, data: bytes, media_type: str) -> artifact_pb2.ArtifactRef:
        self.store.put_bytes(key, data, content_type=media_type)
        return artifact_pb2.ArtifactRef(
            uri=self.store.uri(key),
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            media_type=media_type,
        )

    def write_outcome(self, key: str, outcome: Outcome) -> None:
        self.store.put_bytes(key, outcome.to_json().encode(), content_type="application/json")

    def train_one(
        self,
        *,
        run: str,
        spec: run_pb2.RunSpec,
        params: Mapping[str, Any],
        data: trainers.TrainingData,
        artifact_prefix: str,
        dataset_digest: str,
        code_dir: Path | None,
        code_version: run_pb2.CodeVersion,
    ) -> Outcome:
        from gyre.services.training import trainers

        started = time.monotonic()
        streamer = MetricStreamer(run, self.client)
        streamer.start()
        result = run_pb2.RunResult(data_digest=dataset_digest)
        result.code_version.CopyFrom(code_version)
        for key, value in trainers.params_to_proto(params).items():
            result.params[key].CopyFrom(value)

        def upload_artifact(name: str, data_bytes: bytes, media_type: str) -> None:
            ref = self.upload(f"{artifact_prefix}artifacts/{name}", data_bytes, media_type)
            result.artifacts[name].CopyFrom(ref)

        try:
            outcome = trainers.train(
                spec,
                data,
                params=params,
                sink=streamer,
                upload=upload_artifact,
                code_dir=code_dir,
            )
        except trainers.TrainerError as exc:
            streamer.close()
            result.resource_usage.CopyFrom(_usage(started))
            result.metric_summaries.extend(_summaries(streamer.history))
            return Outcome(
                status="failed",
                result=result,
                reason=str(exc),
                retryable=exc.retryable,
                metrics=streamer.history,
            )
        for name, final in sorted(outcome.val_metrics.items()):
            streamer(name, final, 0)
        streamer.close()
        result.params.clear()
        for key, typed in trainers.params_to_proto(outcome.params).items():
            result.params[key].CopyFrom(typed)
        now = datetime.now(UTC)
        for name, final in sorted(outcome.val_metrics.items()):
            metric = result.final_metrics.add(name=name, value=final)
            metric.time.FromDatetime(now)
        for name, final in sorted(outcome.train_metrics.items()):
            metric = result.train_metrics.add(name=name, value=final)
            metric.time.FromDatetime(now)
        result.model_artifact.CopyFrom(
            self.upload(f"{artifact_prefix}model.onnx", outcome.onnx_bytes, ONNX_MEDIA_TYPE)
        )
        result.signature.CopyFrom(
            outcome.model.signature
            if outcome.model is not None
            else signature_from_onnx(outcome.onnx_bytes)
        )
        result.onnx_parity.CopyFrom(outcome.parity)
        result.environment.CopyFrom(environment())
        result.metric_summaries.extend(_summaries(streamer.history))
        result.resource_usage.CopyFrom(_usage(started))
        if spec.resources.gpus:
            result.resource_usage.gpus = spec.resources.gpus
            result.resource_usage.gpu_seconds = (
                spec.resources.gpus * result.resource_usage.wall_seconds
            )
        if not outcome.parity.passed:
            return Outcome(
                status="failed",
                result=result,
                reason=f"the ONNX model does not match the native model: {outcome.parity.message}",
                metrics=streamer.history,
            )
        return Outcome(status="succeeded", result=result, metrics=streamer.history)


def load_data(client: Any, spec: run_pb2.RunSpec) -> trainers.TrainingData:
    """The train and validation splits of the spec's dataset version, read through the
    data registry SDK (``gyre.sdk.data.read_table``).

    Raises:
        TrainerError: the version cannot be read or lacks the columns.
    """
    from gyre.sdk import data as sdk_data
    from gyre.services.training import trainers

    target = spec.target_column
    columns = None
    if spec.feature_columns:
        columns = [*spec.feature_columns, target]
    try:
        train = sdk_data.read_table(
            client, spec.dataset_version, split="train", columns=columns
        ).to_pandas()
        validation = sdk_data.read_table(
            client, spec.dataset_version, split="validation", columns=columns
        ).to_pandas()
    except Exception as exc:
        name = type(exc).__name__
        retryable = name in {"Unavailable", "DeadlineExceeded", "Internal"}
        raise trainers.TrainerError(
            f"reading {spec.dataset_version} failed: {name}: {exc}", retryable=retryable
        ) from exc
    return trainers.TrainingData.from_frames(
        train, validation, target=target, features=list(spec.feature_columns)
    )


def _code_dir(store: Any, key: str) -> Path:
    target = Path(tempfile.mkdtemp(prefix="gyre-code-"))
    with zipfile.ZipFile(io.BytesIO(store.get_bytes(key))) as archive:
        archive.extractall(target)
    return target


def _trial_fn(config: dict[str, Any], job_json: str, data: Any) -> None:
    """A Ray Tune trial: train one child run, write its outcome, report its metric.

    ``data`` (the splits) comes from the sweep's driver through Ray's object store,
    so trials do not read the dataset version again.
    """
    from ray import tune

    job = JobSpec.from_json(job_json)
    trial = job.trials[int(config["trial"])]
    store, client = _connect()
    worker = Worker(store, client)
    _, code_dir, code_version = _prepare(store, client, job, data=data)
    spec = run_pb2.RunSpec()
    spec.CopyFrom(job.spec)
    spec.ClearField("sweep")
    outcome = worker.train_one(
        run=trial["run"],
        spec=spec,
        params={**job.params, **trial["params"]},
        data=data,
        artifact_prefix=trial["artifact_prefix"],
        dataset_digest=job.dataset_digest,
        code_dir=code_dir,
        code_version=code_version,
    )
    worker.write_outcome(trial["outcome_key"], outcome)
    metric = job.spec.sweep.metric
    values = {m.name: m.value for m in outcome.result.final_metrics}
    if outcome.status != "succeeded" or metric not in values:
        reason = outcome.reason or f"the trial did not log the sweep metric {metric!r}"
        raise RuntimeError(f"trial {trial['run']} failed: {reason}")
    tune.report({metric: values[metric], "trial": int(config["trial"])})


_prepared: dict[str, Any] = {}


def _prepare(
    store: Any, client: Any, job: JobSpec, *, data: Any = None
) -> tuple[trainers.TrainingData, Path | None, run_pb2.CodeVersion]:
    """Data, code directory and code version of ``job`` (cached per process)."""
    if job.run in _prepared:
        return _prepared[job.run]  # type: ignore[no-any-return]
    if data is None:
        data = load_data(client, job.spec)
    code_dir: Path | None = None
    if job.spec.trainer.WhichOneof("trainer") == "custom":
        code = job.spec.trainer.custom.code
        code_dir = _code_dir(store, job.code_key) if job.code_key else None
        code_version = run_pb2.CodeVersion(source_sha256=code.sha256)
        # The SDK records the git commit of the uploaded directory inside the zip.
        version_file = code_dir / ".gyre-code-version.json" if code_dir else None
        if version_file is not None and version_file.is_file():
            with contextlib.suppress(ValueError, TypeError):
                recorded = json.loads(version_file.read_text())
                code_version.git_commit = str(recorded.get("git_commit", ""))
                code_version.git_dirty = bool(recorded.get("git_dirty", False))
    else:
        code_version = builtin_code_version(job.spec.trainer.builtin.estimator)
    _prepared[job.run] = (data, code_dir, code_version)
    return data, code_dir, code_version


def _connect() -> tuple[Any, Any]:
    from gyre.runtime.objectstore import SyncObjectStore
    from gyre.runtime.settings import GyreSettings
    from gyre.sdk.client import GyreClient

    settings = GyreSettings()
    store = SyncObjectStore.from_settings(settings.s3)
    client = GyreClient(home=settings.home)
    return store, client


def run_sweep(job: JobSpec, worker: Worker, started: float) -> Outcome:
    """Run every trial with Ray Tune; the best trial's result is the sweep's."""
    import ray
    from ray import tune

    sweep = job.spec.sweep
    mode = "min" if sweep.mode == run_pb2.OPTIMIZATION_MODE_MIN else "max"
    ray.init(logging_level=logging.WARNING, log_to_driver=True)
    cpus = job.spec.resources.cpus or 1.0
    resources: dict[str, float] = {"cpu": cpus}
    if job.spec.resources.gpus:
        resources["gpu"] = job.spec.resources.gpus
    if job.spec.resources.memory_bytes:
        resources["memory"] = float(job.spec.resources.memory_bytes)
    data, _, _ = _prepare(worker.store, worker.client, job)
    print(
        f"gyre: sweep of {len(job.trials)} trials on {len(data.train)} train rows",
        flush=True,
    )
    trainable = tune.with_resources(
        tune.with_parameters(_trial_fn, job_json=job.to_json(), data=data), resources
    )
    storage = tempfile.mkdtemp(prefix="gyre-tune-")
    tuner = tune.Tuner(
        trainable,
        param_space={"trial": tune.grid_search(list(range(len(job.trials))))},
        tune_config=tune.TuneConfig(
            metric=sweep.metric,
            mode=mode,
            max_concurrent_trials=sweep.max_concurrent_trials or None,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=job.run.replace("/", "-"),
            storage_path=storage,
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )
    grid = tuner.fit()
    best_index: int | None = None
    best_value = math.nan
    for i in range(len(grid)):
        trial_result = grid[i]
        reported = trial_result.metrics
        if trial_result.error is not None or not reported or sweep.metric not in reported:
            continue
        value = float(reported[sweep.metric])
        index = int(reported["trial"])
        better = value < best_value if mode == "min" else value > best_value
        if best_index is None or better:
            best_index, best_value = index, value
    if best_index is None:
        return Outcome(status="failed", reason="every trial of the sweep failed", retryable=False)
    best = job.trials[best_index]
    best_outcome = Outcome.from_json(worker.store.get_bytes(best["outcome_key"]))
    result = run_pb2.RunResult()
    result.CopyFrom(best_outcome.result)
    result.best_trial = best["run"]
    usage = _usage(started)
    for trial in job.trials:
        with contextlib.suppress(Exception):
            trial_outcome = Outcome.from_json(worker.store.get_bytes(trial["outcome_key"]))
            usage.cpu_seconds += trial_outcome.result.resource_usage.cpu_seconds
            usage.peak_memory_bytes = max(
                usage.peak_memory_bytes, trial_outcome.result.resource_usage.peak_memory_bytes
            )
    result.resource_usage.CopyFrom(usage)
    print(f"gyre: best trial {best['run']} with {sweep.metric}={best_value:.6g}")
    return Outcome(status="succeeded", result=result)


def main(argv: list[str] | None = None) -> int:
    """Run the attempt described by ``$GYRE_TRAINING_JOB``; exit 0 on success."""
    print(f"{STARTED_MARKER} {time.time():.6f}", flush=True)
    started = time.monotonic()
    from gyre.services.training import trainers

    job = JobSpec.from_json(os.environ[JOB_ENV])
    store, client = _connect()
    worker = Worker(store, client)
    print(f"gyre: {job.run} attempt {job.attempt} on {job.spec.dataset_version}", flush=True)
    try:
        if job.trials:
            outcome = run_sweep(job, worker, started)
        else:
            data, code_dir, code_version = _prepare(store, client, job)
            print(
                f"gyre: {len(data.train)} train / {len(data.validation)} validation rows, "
                f"{len(data.features)} features ({len(data.categorical)} categorical)",
                flush=True,
            )
            outcome = worker.train_one(
                run=job.run,
                spec=job.spec,
                params=job.params,
                data=data,
                artifact_prefix=job.artifact_prefix,
                dataset_digest=job.dataset_digest,
                code_dir=code_dir,
                code_version=code_version,
            )
    except trainers.TrainerError as exc:
        outcome = Outcome(status="failed", reason=str(exc), retryable=exc.retryable)
    except Exception as exc:
        traceback.print_exc()
        outcome = Outcome(status="failed", reason=f"{type(exc).__name__}: {exc}", retryable=True)
    worker.write_outcome(job.outcome_key, outcome)
    if outcome.status == "succeeded":
        print(f"gyre: {job.run} succeeded", flush=True)
        return 0
    print(f"gyre: {job.run} failed: {outcome.reason}", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
