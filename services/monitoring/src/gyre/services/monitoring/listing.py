"""List requests: a small AIP-160 filter subset, AIP-132 ordering and page tokens.

Filters are comparisons joined by ``AND``: ``field OP value`` with ``OP`` one of
``= != < <= > >=``; values are double-quoted strings, ``true``/``false``, numbers, or
bare words (enum value names such as ``OPEN`` or ``DRIFT``). Timestamps are quoted
RFC 3339 strings. Page tokens are opaque (base64 JSON of an offset and a checksum of
the query, so a token cannot be replayed against another filter).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import InstrumentedAttribute

from gyre.runtime.errors import FieldViolation, InvalidArgument

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "FilterField",
    "Page",
    "apply_listing",
    "parse_timestamp",
]

DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000

_TOKEN: Final = re.compile(
    r'\s*(?:(?P<op><=|>=|!=|=|<|>)|(?P<str>"(?:[^"\\]|\\.)*")|(?P<word>[A-Za-z0-9_./:+-]+))'
)


@dataclass(frozen=True)
class FilterField:
    """A filterable field: its column and how a literal becomes a column value."""

    column: InstrumentedAttribute[Any]
    convert: Callable[[str | bool | float], Any]
    orderable: bool = False


@dataclass(frozen=True)
class Page:
    """One page's offset and size."""

    offset: int
    size: int


def parse_timestamp(value: str | bool | float) -> datetime:
    """An RFC 3339 timestamp literal as an aware datetime."""
    if not isinstance(value, str):
        raise ValueError("expected a quoted RFC 3339 timestamp")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("timestamp needs a time zone (e.g. 'Z')")
    return parsed


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"unexpected character at {pos}: {text[pos : pos + 10]!r}")
        kind = match.lastgroup or "word"
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _literal(kind: str, raw: str) -> str | bool | float:
    if kind == "str":
        return str(json.loads(raw))
    if raw in {"true", "false"}:
        return raw == "true"
    try:
        return float(raw)
    except ValueError:
        return raw


def _conditions(text: str, fields: Mapping[str, FilterField]) -> list[ColumnElement[bool]]:
    tokens = _tokens(text)
    conditions: list[ColumnElement[bool]] = []
    i = 0
    while i < len(tokens):
        if len(tokens) < i + 3:
            raise ValueError("a comparison is 'field OP value'")
        (k1, name), (k2, op), (k3, raw) = tokens[i : i + 3]
        if k1 != "word" or k2 != "op" or k3 == "op":
            raise ValueError("a comparison is 'field OP value'")
        field = fields.get(name)
        if field is None:
            raise ValueError(f"unknown field {name!r} (filterable: {', '.join(sorted(fields))})")
        value = field.convert(_literal(k3, raw))
        condition = _compare(field.column, op, value)
        conditions.append(condition)
        i += 3
        if i < len(tokens):
            if tokens[i] != ("word", "AND"):
                raise ValueError("comparisons are joined by AND")
            i += 1
            if i == len(tokens):
                raise ValueError("dangling AND")
    return conditions


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return column == value  # type: ignore[no-any-return]
    if op == "!=":
        return column != value  # type: ignore[no-any-return]
    if op == "<":
        return column < value  # type: ignore[no-any-return]
    if op == "<=":
        return column <= value  # type: ignore[no-any-return]
    if op == ">":
        return column > value  # type: ignore[no-any-return]
    return column >= value  # type: ignore[no-any-return]


def _checksum(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12]


def apply_listing(
    statement: Select[Any],
    *,
    filter: str,
    order_by: str,
    page_size: int,
    page_token: str,
    fields: Mapping[str, FilterField],
    default_order: tuple[InstrumentedAttribute[Any], ...],
    scope: str = "",
) -> tuple[Select[Any], Page]:
    """``statement`` filtered, ordered and limited to one page (``size + 1`` rows are
    fetched so the caller knows whether a next page exists).

    ``order_by`` is ``"create_time"`` or ``"create_time desc"`` (default desc).

    Raises:
        InvalidArgument: malformed filter, order_by, page size or page token.
    """
    try:
        conditions = _conditions(filter, fields) if filter.strip() else []
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(
            f"invalid filter: {exc}",
            reason="INVALID_FILTER",
            field_violations=[FieldViolation("filter", str(exc))],
        ) from exc
    order = order_by.strip() or "create_time desc"
    parts = order.split()
    if (
        len(parts) not in {1, 2}
        or parts[0] != "create_time"
        or parts[1:] not in ([], ["asc"], ["desc"])
    ):
        raise InvalidArgument(
            f"invalid order_by {order_by!r}: only 'create_time [asc|desc]' is supported",
            reason="INVALID_ORDER_BY",
            field_violations=[FieldViolation("order_by", "unsupported")],
        )
    descending = parts[1:] == ["desc"]
    if page_size < 0:
        raise InvalidArgument(
            "page_size must be >= 0",
            reason="INVALID_PAGE_SIZE",
            field_violations=[FieldViolation("page_size", "negative")],
        )
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    checksum = _checksum(scope, filter, order)
    offset = 0
    if page_token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(page_token.encode()))
            offset = int(decoded["o"])
            if decoded["c"] != checksum or offset < 0:
                raise ValueError("token of another query")
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise InvalidArgument(
                "invalid page_token (it belongs to another query or is corrupt)",
                reason="INVALID_PAGE_TOKEN",
                field_violations=[FieldViolation("page_token", "invalid")],
            ) from exc
    for condition in conditions:
        statement = statement.where(condition)
    statement = statement.order_by(*[c.desc() if descending else c.asc() for c in default_order])
    statement = statement.offset(offset).limit(size + 1)
    return statement, Page(offset=offset, size=size)


def next_token(page: Page, fetched: int, *, scope: str, filter: str, order_by: str) -> str:
    """The token of the page after ``page`` when more rows exist, else ``""``."""
    if fetched <= page.size:
        return ""
    order = order_by.strip() or "create_time desc"
    payload = {"o": page.offset + page.size, "c": _checksum(scope, filter, order)}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


__all__ += ["next_token"]
