"""The validation gate's store on real SQLite and PostgreSQL: migrations in sync with
the tables, worker claims under leases, de-duplication constraints, keyset pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from gyre.runtime.db import RUNTIME_MIGRATIONS, Database, migrate, schema_diff, utcnow
from gyre.runtime.errors import AlreadyExists
from gyre.services.validation import _store
from gyre.services.validation._migrations import VALIDATION_MIGRATIONS
from gyre.services.validation._tables import ValidationRecord
from gyre.validation.v1 import validation_pb2

pytestmark = pytest.mark.integration

PENDING = int(validation_pb2.VALIDATION_STATE_PENDING)
RUNNING = int(validation_pb2.VALIDATION_STATE_RUNNING)
LEASE = timedelta(seconds=30)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await migrate(database_url, chains=[RUNTIME_MIGRATIONS, VALIDATION_MIGRATIONS])
    database = Database(database_url, pool_size=5)
    try:
        yield database
    finally:
        await database.dispose()


def _record(ident: str, **fields: object) -> ValidationRecord:
    values: dict[str, object] = {
        "id": ident,
        "model_version": f"models/m/versions/{ident}",
        "registered_model": "models/m",
        "champion_version": "",
        "dataset_version": "",
        "state": PENDING,
        "verdict": 0,
        "cause": "manual",
        "creator": "",
        "correlation_id": "",
        "requested_dataset_version": "",
        "attempts": 0,
        "resource": b"",
        "extras": {},
    }
    values.update(fields)
    return ValidationRecord(**values)


async def test_migrations_match_the_tables(db: Database) -> None:
    assert await schema_diff(db.url, chain=VALIDATION_MIGRATIONS) == []


async def test_one_claim_per_validation_and_expired_leases_are_taken_over(db: Database) -> None:
    now = utcnow()
    async with db.transaction() as session:
        session.add(_record("a", create_time=now - timedelta(seconds=3)))
        session.add(
            _record(
                "b",
                state=RUNNING,
                lease_owner="crashed",
                lease_until=now - timedelta(seconds=1),
                attempts=1,
                create_time=now - timedelta(seconds=2),
            )
        )
        session.add(
            _record(
                "c",
                state=RUNNING,
                lease_owner="alive",
                lease_until=now + timedelta(minutes=5),
                create_time=now - timedelta(seconds=1),
            )
        )
        session.add(_record("d", lease_until=now + timedelta(minutes=5), create_time=now))

    async def claim(owner: str) -> str | None:
        async def work(session: object) -> str | None:
            record = await _store.claim_next(session, owner=owner, lease=LEASE)  # type: ignore[arg-type]
            return record.id if record is not None else None

        return await db.run(work)  # type: ignore[arg-type]

    claimed = await asyncio.gather(*(claim(f"w{i}") for i in range(4)))
    got = sorted(c for c in claimed if c is not None)
    # "a" (pending) and "b" (expired lease) once each; "c" is held, "d" deferred.
    assert got == ["a", "b"]
    async with db.transaction() as session:
        b = await _store.get_validation(session, "b")
        assert b is not None
        assert b.attempts == 2
        assert b.lease_owner in {f"w{i}" for i in range(4)}
        assert await _store.renew_lease(session, "b", owner=b.lease_owner or "", lease=LEASE)
        assert not await _store.renew_lease(session, "b", owner="someone-else", lease=LEASE)


async def test_an_event_and_a_version_create_at_most_one_automatic_validation(db: Database) -> None:
    async with db.transaction() as session:
        session.add(
            _record("x", trigger_event_id="evt-1", auto_model_version="models/m/versions/1")
        )
    with pytest.raises(AlreadyExists):
        async with db.transaction() as session:
            session.add(_record("y", trigger_event_id="evt-1"))
    with pytest.raises(AlreadyExists):
        async with db.transaction() as session:
            session.add(
                _record("z", trigger_event_id="evt-2", auto_model_version="models/m/versions/1")
            )
    async with db.transaction() as session:
        # Manual validations of the same version are unconstrained.
        session.add(_record("m1", model_version="models/m/versions/1"))
        session.add(_record("m2", model_version="models/m/versions/1", request_id="r-1"))
    with pytest.raises(AlreadyExists):
        async with db.transaction() as session:
            session.add(_record("m3", request_id="r-1"))


async def test_pages_are_keyset_and_stable(db: Database) -> None:
    now = utcnow()
    async with db.transaction() as session:
        for i in range(7):
            session.add(_record(f"v{i}", create_time=now - timedelta(seconds=i % 3)))
    names: list[str] = []
    token = ""
    while True:
        query = _store.parse_list_query(filter="", order_by="", page_size=3, page_token=token)
        async with db.transaction() as session:
            rows, token = await _store.list_validations(session, query)
        names += [r.id for r in rows]
        if not token:
            break
    assert sorted(names) == [f"v{i}" for i in range(7)]
    assert len(names) == 7
