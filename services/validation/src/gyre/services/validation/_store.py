"""SQL access to policies and validations. Functions take the caller's session and
never commit (``Database.transaction`` does)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.runtime.db import utcnow
from gyre.runtime.errors import FieldViolation, InvalidArgument
from gyre.services.validation._tables import PolicyRecord, ValidationRecord
from gyre.validation.v1 import validation_pb2 as v_pb2

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "ListQuery",
    "claim_next",
    "get_policy",
    "get_validation",
    "list_validations",
    "parse_list_query",
    "release_claims",
    "renew_lease",
]

DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000
# Candidates a claimer tries before giving up until its next poll.
_CLAIM_ATTEMPTS: Final = 3

PENDING: Final = int(v_pb2.VALIDATION_STATE_PENDING)
RUNNING: Final = int(v_pb2.VALIDATION_STATE_RUNNING)
COMPLETED: Final = int(v_pb2.VALIDATION_STATE_COMPLETED)


async def get_policy(
    session: AsyncSession, name: str, *, for_update: bool = False
) -> PolicyRecord | None:
    """The stored policy called ``name``, or None (row-locked on PostgreSQL with
    ``for_update``, so concurrent read-modify-writes serialize)."""
    return await session.get(PolicyRecord, name, with_for_update=for_update)


async def get_validation(
    session: AsyncSession, validation_id: str, *, for_update: bool = False
) -> ValidationRecord | None:
    """The validation with this id, or None."""
    statement = select(ValidationRecord).where(ValidationRecord.id == validation_id)
    if for_update:
        statement = statement.with_for_update()
    result = await session.scalars(statement)
    return result.first()


async def find_by(session: AsyncSession, **criteria: str) -> ValidationRecord | None:
    """The validation whose columns equal ``criteria`` (e.g. request_id=...), or None."""
    statement = select(ValidationRecord)
    for column, value in criteria.items():
        statement = statement.where(getattr(ValidationRecord, column) == value)
    result = await session.scalars(statement.limit(1))
    return result.first()


async def claim_next(
    session: AsyncSession, *, owner: str, lease: timedelta
) -> ValidationRecord | None:
    """Claim the oldest validation that is PENDING or RUNNING under an expired lease.

    The claim is a conditional UPDATE, so two workers (processes or replicas) never
    claim the same row; on PostgreSQL the candidate is read ``FOR UPDATE SKIP LOCKED``,
    so concurrent workers claim different rows.
    """
    now = utcnow()
    # PENDING rows may carry a not-before time (lease_until) after a transient failure.
    claimable = or_(
        and_(
            ValidationRecord.state == PENDING,
            or_(ValidationRecord.lease_until.is_(None), ValidationRecord.lease_until < now),
        ),
        and_(ValidationRecord.state == RUNNING, ValidationRecord.lease_until < now),
    )
    # PostgreSQL: lock the candidate row and skip rows other workers have locked, so
    # concurrent claimers take different validations instead of all racing for the
    # oldest one (SQLite ignores FOR UPDATE; its writers are serialized anyway). A lost
    # race (the row changed after the read) moves on to the next candidate.
    for _ in range(_CLAIM_ATTEMPTS):
        candidate = await session.scalar(
            select(ValidationRecord.id)
            .where(claimable)
            .order_by(ValidationRecord.create_time, ValidationRecord.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if candidate is None:
            return None
        result = await session.execute(
            update(ValidationRecord)
            .where(ValidationRecord.id == candidate, claimable)
            .values(
                state=RUNNING,
                lease_owner=owner,
                lease_until=now + lease,
                attempts=ValidationRecord.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) == 1:
            return await get_validation(session, candidate)
    return None


async def renew_lease(
    session: AsyncSession, validation_id: str, *, owner: str, lease: timedelta
) -> bool:
    """Extend the claim; False when the claim was lost (another worker took over)."""
    result = await session.execute(
        update(ValidationRecord)
        .where(
            ValidationRecord.id == validation_id,
            ValidationRecord.lease_owner == owner,
            ValidationRecord.state == RUNNING,
        )
        .values(lease_until=utcnow() + lease)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def release_claims(session: AsyncSession, *, owner: str) -> int:
    """Put the validations ``owner`` is evaluating back to PENDING (a clean shutdown:
    the interrupted attempt does not count). Returns how many."""
    result = await session.execute(
        update(ValidationRecord)
        .where(ValidationRecord.lease_owner == owner, ValidationRecord.state == RUNNING)
        .values(
            state=PENDING,
            lease_owner=None,
            lease_until=None,
            attempts=ValidationRecord.attempts - 1,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------------------- listing

_FILTER_FIELDS: Final = {
    "model_version": ValidationRecord.model_version,
    "registered_model": ValidationRecord.registered_model,
    "champion_version": ValidationRecord.champion_version,
    "dataset_version": ValidationRecord.dataset_version,
    "cause": ValidationRecord.cause,
    "creator": ValidationRecord.creator,
    "verdict": ValidationRecord.verdict,
    "state": ValidationRecord.state,
}
_TERM: Final = re.compile(
    r"""^\s*(?P<field>[a-z_]+)\s*(?P<op>=|!=)\s*(?P<value>"(?:[^"\\]|\\.)*"|[A-Za-z0-9_./-]+)\s*$"""
)
_AND: Final = re.compile(r"\s+AND\s+")


@dataclass(frozen=True)
class ListQuery:
    """A parsed ListValidations request."""

    conditions: tuple[tuple[str, str, Any], ...]
    descending: bool
    page_size: int
    after: tuple[datetime, str] | None
    fingerprint: str


def _enum_value(field: str, raw: str) -> int:
    enum = v_pb2.ValidationVerdict if field == "verdict" else v_pb2.ValidationState
    prefix = "VALIDATION_VERDICT_" if field == "verdict" else "VALIDATION_STATE_"
    name = raw.upper()
    if not name.startswith(prefix):
        name = prefix + name
    try:
        return int(enum.Value(name))
    except ValueError as exc:
        names = ", ".join(n.removeprefix(prefix) for n in enum.keys())  # noqa: SIM118 - protobuf enum wrapper
        raise InvalidArgument(
            f"unknown {field} {raw!r}; one of {names}",
            reason="INVALID_FILTER",
            field_violations=[FieldViolation("filter", f"unknown {field}")],
        ) from exc


def parse_list_query(*, filter: str, order_by: str, page_size: int, page_token: str) -> ListQuery:
    """Parse filter (``field = "value"`` terms joined by AND), order_by
    (``create_time [asc|desc]``), page size and token.

    Raises:
        InvalidArgument: any of them is malformed.
    """
    conditions: list[tuple[str, str, Any]] = []
    text = filter.strip()
    if text:
        for term in _AND.split(text):
            match = _TERM.match(term)
            if match is None or match.group("field") not in _FILTER_FIELDS:
                raise InvalidArgument(
                    f'cannot parse filter term {term.strip()!r}; use field = "value" joined '
                    f"by AND, fields: {', '.join(_FILTER_FIELDS)}",
                    reason="INVALID_FILTER",
                    field_violations=[FieldViolation("filter", "malformed")],
                )
            field, op, raw = match.group("field"), match.group("op"), match.group("value")
            value: Any = json.loads(raw) if raw.startswith('"') else raw
            if field in ("verdict", "state"):
                value = _enum_value(field, str(value))
            conditions.append((field, op, value))
    order = " ".join(order_by.split()).lower()
    if order in ("", "create_time desc"):
        descending = True
    elif order in ("create_time", "create_time asc"):
        descending = False
    else:
        raise InvalidArgument(
            f"cannot order by {order_by!r}; use 'create_time desc' or 'create_time asc'",
            reason="INVALID_ORDER_BY",
            field_violations=[FieldViolation("order_by", "unsupported")],
        )
    if page_size < 0:
        raise InvalidArgument(
            "page_size must be >= 0",
            reason="INVALID_PAGE_SIZE",
            field_violations=[FieldViolation("page_size", "negative")],
        )
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    fingerprint = json.dumps([conditions, descending], sort_keys=True, default=str)
    after = None
    if page_token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(page_token.encode()))
            if decoded["q"] != fingerprint:
                raise ValueError("the token belongs to another query")
            after = (datetime.fromisoformat(decoded["t"]), str(decoded["i"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgument(
                "page_token is malformed or belongs to another filter/order",
                reason="INVALID_PAGE_TOKEN",
                field_violations=[FieldViolation("page_token", "malformed")],
            ) from exc
    return ListQuery(tuple(conditions), descending, size, after, fingerprint)


def _filtered(query: ListQuery) -> Select[Any]:
    statement = select(ValidationRecord)
    for field, op, value in query.conditions:
        column = _FILTER_FIELDS[field]
        statement = statement.where(column == value if op == "=" else column != value)
    return statement


async def list_validations(
    session: AsyncSession, query: ListQuery
) -> tuple[Sequence[ValidationRecord], str]:
    """One page of validations and the next page token ("" on the last page)."""
    statement = _filtered(query)
    if query.after is not None:
        time, ident = query.after
        if query.descending:
            statement = statement.where(
                or_(
                    ValidationRecord.create_time < time,
                    and_(ValidationRecord.create_time == time, ValidationRecord.id < ident),
                )
            )
        else:
            statement = statement.where(
                or_(
                    ValidationRecord.create_time > time,
                    and_(ValidationRecord.create_time == time, ValidationRecord.id > ident),
                )
            )
    if query.descending:
        statement = statement.order_by(
            ValidationRecord.create_time.desc(), ValidationRecord.id.desc()
        )
    else:
        statement = statement.order_by(ValidationRecord.create_time, ValidationRecord.id)
    rows: list[ValidationRecord] = list(
        (await session.scalars(statement.limit(query.page_size + 1))).all()
    )
    token = ""
    if len(rows) > query.page_size:
        rows = rows[: query.page_size]
        last = rows[-1]
        token = base64.urlsafe_b64encode(
            json.dumps(
                {"q": query.fingerprint, "t": last.create_time.isoformat(), "i": last.id}
            ).encode()
        ).decode()
    return rows, token
