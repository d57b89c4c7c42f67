"""The whole continuous-training loop, end to end, as users run it.

`gyre up` starts NATS, S3, Triton, Ray and the six services as their own processes on
free ports in a temporary home; `gyre demo` then drives only what a user touches (push
data, create triggers and a deployment, send traffic and feedback) and every other stage
happens because a service reacted to another's event. The test asserts the lifecycle
from the demo's JSON summary (which the demo reads back from the services) and checks a
few of the facts again through the services themselves. The stack is always torn down.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.datasets import dataset_path
from support.local_stack import GYRE, stack_env

from gyre.sdk import GyreClient
from gyre.sdk import inference as sdk_inference
from gyre.stack import StackLayout

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

UP_TIMEOUT_S = 240.0
DEMO_TIMEOUT_S = 900.0


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, str]]:
    """A running local stack on free ports; yields the CLI's environment."""
    home = Path(tempfile.mkdtemp(prefix="gyre-e2e-"))
    env, _ = stack_env(home)
    try:
        up = subprocess.run(
            [GYRE, "up"], env=env, capture_output=True, text=True, timeout=UP_TIMEOUT_S
        )
        assert up.returncode == 0, f"gyre up failed:\n{up.stdout}\n{up.stderr}"
        yield env
    finally:
        down = subprocess.run([GYRE, "down"], env=env, capture_output=True, text=True, timeout=120)
        layout = StackLayout.for_home(home)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(layout.short_dir, ignore_errors=True)
        assert down.returncode == 0, down.stderr


def _demo(env: dict[str, str], *args: str) -> tuple[dict[str, Any], str]:
    result = subprocess.run(
        [GYRE, "demo", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
    )
    assert result.returncode == 0, f"gyre demo failed:\n{result.stderr[-6000:]}"
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout), result.stderr


def _check_lifecycle(summary: dict[str, Any]) -> None:
    prefix = summary["prefix"]
    versions = summary["dataset_versions"]
    assert [v["name"] for v in versions] == [
        f"datasets/{prefix}/versions/1",
        f"datasets/{prefix}/versions/2",
    ]
    assert versions[1]["rows"] > versions[0]["rows"] > 0
    assert versions[1]["parents"] == [versions[0]["name"]]

    runs = summary["runs"]
    assert len(runs) >= 2
    assert all(run["state"] == "SUCCEEDED" for run in runs)
    first, retrain = runs[0], runs[-1]
    assert first["cause"]["event_type"] == "data.version.committed"
    assert first["dataset_version"] == versions[0]["name"]
    # The retraining was fired by the monitor's event, on the newer data.
    assert retrain["cause"]["event_type"] in (
        "monitoring.drift.detected",
        "monitoring.performance.degraded",
    )
    assert retrain["cause"]["event_id"]
    assert retrain["dataset_version"] == versions[1]["name"]

    # Every registered version has a validation with a verdict and its checks.
    model_versions = {v["name"]: v for v in summary["model_versions"]}
    validations = {v["model_version"]: v for v in summary["validations"]}
    assert set(model_versions) == set(validations)
    for validation in validations.values():
        assert validation["verdict"] in ("PASSED", "FAILED")
        assert {c["name"] for c in validation["checks"]} >= {"sample_size", "leakage"}
    second = validations[f"models/{prefix}/versions/2"]
    assert second["champion_version"] == f"models/{prefix}/versions/1"

    # Drift on the later data, over threshold, against version 1's reference profile.
    drifted = [r for r in summary["drift_reports"] if r["drifted"]]
    assert drifted
    assert any(
        r["model_version"] == f"models/{prefix}/versions/1"
        and r["reference_dataset_version"] == versions[0]["name"]
        for r in drifted
    ), drifted

    # A champion serves; if the retrained model was promoted, its lineage reaches version 2.
    champion = summary["champion"]
    deployment = summary["deployment"]
    assert deployment["state"] == "SERVING"
    assert [r["model_version"] for r in deployment["routes"] if r["role"] == "champion"] == [
        champion
    ]
    if summary["outcome"].startswith("promoted"):
        assert champion == f"models/{prefix}/versions/2"
        assert versions[1]["name"] in summary["lineage"]["dataset_versions"]
        assert versions[0]["name"] in summary["lineage"]["dataset_versions"]  # its parent
    else:
        assert summary["outcome"].startswith(("rejected", "rolled back"))
        assert champion == f"models/{prefix}/versions/1"

    # The events that drove it, in causal order.
    types = [e["type"] for e in summary["events"]]
    for before, after in [
        ("data.version.committed", "training.trigger.fired"),
        ("training.run.succeeded", "models.version.registered"),
        ("models.version.registered", "validation.completed"),
        ("validation.completed", "inference.deployment.promoted"),
        ("monitoring.drift.detected", "training.run.queued"),
    ]:
        assert before in types, f"no {before} in {types}"
        assert after in types[types.index(before) :], f"no {after} after {before} in {types}"
    drift_at = types.index("monitoring.drift.detected")
    assert "training.trigger.fired" in types[drift_at:]
    assert summary["event_counts"].get("inference.prediction.logged", 0) > 0
    assert summary["event_counts"].get("inference.feedback.recorded", 0) > 0


def test_demo_loop_on_elec2_in_time_order(stack: dict[str, str]) -> None:
    """The issue's acceptance run: Elec2 replayed by `date`, every stage by events."""
    csv = dataset_path("electricity.csv")
    summary, progress = _demo(
        stack, "--csv", str(csv), "--target", "class", "--time-column", "date"
    )
    _check_lifecycle(summary)
    assert summary["outcome"].startswith("promoted")
    assert "waiting for monitoring.drift.detected" in progress
    # `date` orders the replay and is not a feature of any run.
    assert all(run["dataset_version"] for run in summary["runs"])
    # The champion answers predictions through the gateway.
    with GyreClient(home=Path(stack["GYRE_HOME"])) as client:
        response = sdk_inference.predict(
            client,
            summary["prefix"],
            [
                {
                    "day": 2,
                    "period": 0.5,
                    "nswprice": 0.06,
                    "nswdemand": 0.45,
                    "vicprice": 0.003,
                    "vicdemand": 0.42,
                    "transfer": 0.41,
                }
            ],
        )
        assert response.model_version == summary["champion"]
        assert response.predictions[0].prediction.string_value in {"UP", "DOWN"}


def test_demo_default_data_needs_no_file(stack: dict[str, str]) -> None:
    """`gyre demo` with no arguments (what `make demo` runs): the bundled data."""
    summary, _ = _demo(stack)
    assert summary["data"]["rows"] == 569
    _check_lifecycle(summary)


def test_demo_refuses_bad_arguments_without_a_traceback(stack: dict[str, str]) -> None:
    csv = dataset_path("electricity.csv")
    result = subprocess.run(
        [GYRE, "demo", "--csv", str(csv), "--target", "no_such_column"],
        env=stack,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no column 'no_such_column'" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_without_a_stack_says_how_to_start_one(tmp_path: Path) -> None:
    env, _ = stack_env(tmp_path / "nothing-here")
    result = subprocess.run([GYRE, "demo"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "gyre up" in result.stderr
    assert "Traceback" not in result.stderr
