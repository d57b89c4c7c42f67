"""Real Ray head: jobs submitted through the Ray Jobs API, as the training service will.

The head runs with token authentication on (as ``gyre up`` runs it); the client
passes the token as a bearer header. Each job's driver connects back to the head
with ``ray.init()`` using the environment it inherits from the head.
"""

from __future__ import annotations

import time

import pytest
from ray.job_submission import JobStatus, JobSubmissionClient
from support.servers import RayHead

pytestmark = pytest.mark.integration

JOB_TIMEOUT_S = 60.0
ANSWER_ENTRYPOINT = (
    'python -c "import ray; ray.init(); print(ray.get(ray.remote(lambda: 6 * 7).remote()))"'
)
FAILING_ENTRYPOINT = "python -c \"import sys; print('giving up'); sys.exit(3)\""


@pytest.fixture
def jobs(ray_head: RayHead) -> JobSubmissionClient:
    return JobSubmissionClient(ray_head.address, headers=ray_head.auth_headers)


def _wait_finished(client: JobSubmissionClient, job_id: str) -> JobStatus:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        status = client.get_job_status(job_id)
        if status.is_terminal():
            return status
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} not finished after {JOB_TIMEOUT_S:.0f}s")


def test_job_runs_a_ray_task_and_succeeds(jobs: JobSubmissionClient) -> None:
    job_id = jobs.submit_job(entrypoint=ANSWER_ENTRYPOINT)
    status = _wait_finished(jobs, job_id)
    logs = jobs.get_job_logs(job_id)
    assert status == JobStatus.SUCCEEDED, logs
    assert "42" in logs.split()


def test_failing_job_ends_failed(jobs: JobSubmissionClient) -> None:
    job_id = jobs.submit_job(entrypoint=FAILING_ENTRYPOINT)
    assert _wait_finished(jobs, job_id) == JobStatus.FAILED
    info = jobs.get_job_info(job_id)
    assert "exit code 3" in (info.message or "").lower()
    assert "giving up" in jobs.get_job_logs(job_id)


def test_jobs_api_rejects_a_client_without_the_token(ray_head: RayHead) -> None:
    with pytest.raises(Exception, match=r"(?i)forbidden|invalid authentication token|403"):
        JobSubmissionClient(ray_head.address, headers={"Authorization": "Bearer wrong"}).list_jobs()
