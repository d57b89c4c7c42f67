"""The validation gate on PostgreSQL: automatic validation, and a validation whose
worker crashed (its lease expired) taken over and completed."""

# The fixture imported from validation_support is a test parameter of the same name.
# ruff: noqa: F811

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sklearn.ensemble import RandomForestClassifier
from validation_support import (  # noqa: F401 - the fixture is used by name
    PASSED,
    Stack,
    checks_by_name,
    gate_stack_postgres,
    new_model_id,
)

from gyre.runtime.db import Database, utcnow
from gyre.sdk import validation as validation_sdk
from gyre.services.validation._tables import ValidationRecord
from gyre.validation.v1 import validation_pb2

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.asyncio(loop_scope="module"),
]


def strong() -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=20, max_depth=10, random_state=0)


async def test_gate_on_postgresql_validates_and_takes_over_a_crashed_workers_validation(
    gate_stack_postgres: Stack,
) -> None:
    stack = gate_stack_postgres
    model_id = new_model_id("pg")
    version = await stack.register(model_id, stack.model("strong", strong))
    automatic = await stack.validation_of(version.name)
    assert automatic.verdict == PASSED
    assert checks_by_name(automatic)["leakage"].observed_value == 0

    # A worker claimed a validation and died: its lease has expired.
    ident = uuid.uuid4().hex
    name = f"validations/{ident}"
    resource = validation_pb2.Validation(
        name=name,
        model_version=version.name,
        state=validation_pb2.VALIDATION_STATE_RUNNING,
        cause="manual",
    )
    resource.create_time.FromDatetime(utcnow())
    db = Database(stack.settings["validation"].database_url(), pool_size=1)
    try:
        async with db.transaction() as session:
            session.add(
                ValidationRecord(
                    id=ident,
                    model_version=version.name,
                    registered_model=f"models/{model_id}",
                    champion_version="",
                    dataset_version="",
                    state=int(validation_pb2.VALIDATION_STATE_RUNNING),
                    verdict=0,
                    cause="manual",
                    creator="",
                    correlation_id="",
                    requested_dataset_version="",
                    lease_owner="crashed-worker",
                    lease_until=utcnow() - timedelta(seconds=1),
                    attempts=1,
                    resource=resource.SerializeToString(),
                    model_version_snapshot=version.SerializeToString(),
                    extras={},
                )
            )
    finally:
        await db.dispose()
    done = await validation_sdk.wait_for_validation(stack.client, name, timeout_s=90)
    assert done.verdict == PASSED
    assert done.dataset_version == stack.dataset_version.name
    assert done.report.uri
