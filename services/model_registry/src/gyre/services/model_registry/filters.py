"""AIP-160 filters and ``order_by`` clauses over model versions, with keyset pages.

Supported filter terms (combined with ``AND``, ``OR``, ``NOT``/``-`` and
parentheses; ``OR`` binds tighter than ``AND`` as in AIP-160):

- ``status = VALIDATED`` (or ``MODEL_VERSION_STATUS_VALIDATED``), ``status != ...``
- ``labels.<key> = "v"``, ``labels.<key> != "v"``, ``labels.<key>:*`` (has the label)
- ``metrics.<name> > 0.9`` (``= != < <= > >=``), ``metrics.<name>:*``;
  names with other characters are quoted: ``metrics."val/roc_auc" > 0.9``
- ``params.<name> = 100`` (numbers compare numerically) or ``= "gini"``
- ``aliases:"champion"`` (the version holds the alias)
- ``version``, ``model`` (``registered_model``), ``source_run``, ``dataset_version``,
  ``dataset_digest``, ``creator``, ``validation`` with ``= !=`` (and ``< > <= >=`` for
  ``version``); ``create_time`` / ``update_time`` against RFC 3339 strings.

Order keys: ``version``, ``create_time``, ``update_time``, ``metrics.<name>``, each
``asc`` or ``desc``; the row id breaks ties, which makes every order total, so pages
are keyset-paginated (``WHERE (keys) > (last keys)``), never by offset.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select, true
from sqlalchemy.orm import aliased

from gyre.models.v1 import model_version_pb2
from gyre.runtime.errors import FieldViolation, InvalidArgument
from gyre.services.model_registry.tables import (
    AliasRow,
    MetricRow,
    ParamRow,
    VersionLabelRow,
    VersionRow,
)

__all__ = [
    "OrderKey",
    "Ordering",
    "PageToken",
    "decode_page_token",
    "encode_page_token",
    "keyset_condition",
    "parse_filter",
    "parse_order_by",
]

_TOKEN: Final = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<op><=|>=|!=|=|<|>|:)
    | (?P<lparen>\()
    | (?P<rparen>\))
    | (?P<dot>\.)
    | (?P<minus>-(?=[\s(A-Za-z]))
    | (?P<word>[A-Za-z0-9_*+\-/]+(?:\.[0-9]+(?:[eE][-+]?[0-9]+)?)?)
    )""",
    re.VERBOSE,
)
_STATUS_PREFIX: Final = "MODEL_VERSION_STATUS_"
_MAX_FILTER_CHARS: Final = 4000
# A semi-join term matching fewer rows than this is evaluated as ``id IN (...)``.
PROBE_LIMIT: Final = 2000


def _invalid(message: str, field: str = "filter") -> InvalidArgument:
    return InvalidArgument(
        message,
        reason="INVALID_FILTER" if field == "filter" else "INVALID_ARGUMENT",
        metadata={"field": field},
        field_violations=[FieldViolation(field, message)],
    )


@dataclass
class _Tok:
    kind: str
    text: str


def _tokenize(text: str) -> list[_Tok]:
    if len(text) > _MAX_FILTER_CHARS:
        raise _invalid(f"filter longer than {_MAX_FILTER_CHARS} characters")
    tokens: list[_Tok] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise _invalid(f"cannot parse filter at position {pos}: {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append(_Tok(kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Tok], prefer_in: Sequence[bool] | None = None) -> None:
        self.tokens = tokens
        self.pos = 0
        self.prefer_in = prefer_in
        # Selectivity probes of the semi-join terms, in parse order (see plan_filter).
        self.probes: list[Any] = []

    def semi(self, table: Any, *conditions: Any) -> ColumnElement[bool]:
        """``version has a matching row in table``: as ``EXISTS`` (good when many rows
        match: the ordered scan stops after a page) or as ``id IN (...)`` (good when few
        match: no scan at all), as the probes decided."""
        sub = select(table.version_pk).where(*conditions)
        index = len(self.probes)
        self.probes.append(select(func.count()).select_from(sub.limit(PROBE_LIMIT).subquery()))
        if self.prefer_in is not None and self.prefer_in[index]:
            return VersionRow.id.in_(sub)
        return exists().where(table.version_pk == VersionRow.id, *conditions)

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise _invalid("filter ends too early")
        self.pos += 1
        return tok

    def parse(self) -> ColumnElement[bool]:
        expr = self.and_expr()
        if self.peek() is not None:
            raise _invalid(f"unexpected {self.peek().text!r} in filter")  # type: ignore[union-attr]
        return expr

    def and_expr(self) -> ColumnElement[bool]:
        parts = [self.or_expr()]
        while True:
            tok = self.peek()
            if tok is None or tok.kind == "rparen":
                break
            if tok.kind == "word" and tok.text == "AND":
                self.take()
            parts.append(self.or_expr())
        return parts[0] if len(parts) == 1 else and_(*parts)

    def or_expr(self) -> ColumnElement[bool]:
        parts = [self.unary()]
        while (tok := self.peek()) is not None and tok.kind == "word" and tok.text == "OR":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else or_(*parts)

    def unary(self) -> ColumnElement[bool]:
        tok = self.take()
        if (tok.kind == "word" and tok.text == "NOT") or tok.kind == "minus":
            return not_(self.unary())
        if tok.kind == "lparen":
            expr = self.and_expr()
            if self.take().kind != "rparen":
                raise _invalid("missing ')' in filter")
            return expr
        if tok.kind not in {"word", "string"}:
            raise _invalid(f"expected a field name, got {tok.text!r}")
        path = [_unquote(tok) if tok.kind == "string" else tok.text]
        while (nxt := self.peek()) is not None and nxt.kind == "dot":
            self.take()
            part = self.take()
            if part.kind not in {"word", "string"}:
                raise _invalid(f"bad field name after {'.'.join(path)!r}")
            path.append(_unquote(part) if part.kind == "string" else part.text)
        op = self.take()
        if op.kind != "op":
            raise _invalid(f"expected an operator after {'.'.join(path)!r}, got {op.text!r}")
        value = self.take()
        if value.kind not in {"word", "string"}:
            raise _invalid(f"expected a value after {'.'.join(path)} {op.text}")
        return _comparison(path, op.text, value, self.semi)


def _unquote(tok: _Tok) -> str:
    try:
        result = json.loads(tok.text)
    except ValueError as exc:
        raise _invalid(f"bad string {tok.text!r} in filter") from exc
    return str(result)


def _value_text(tok: _Tok) -> str:
    return _unquote(tok) if tok.kind == "string" else tok.text


def _number(tok: _Tok, field: str) -> float:
    try:
        value = float(_value_text(tok))
    except ValueError as exc:
        raise _invalid(f"{field} compares with a number, got {tok.text!r}") from exc
    if math.isnan(value):
        raise _invalid(f"{field} cannot compare with NaN")
    return value


def _compare(column: Any, op: str, value: Any, field: str) -> ColumnElement[bool]:
    if op in {"=", ":"}:
        return column == value  # type: ignore[no-any-return]
    if op == "!=":
        return column != value  # type: ignore[no-any-return]
    if op == "<":
        return column < value  # type: ignore[no-any-return]
    if op == "<=":
        return column <= value  # type: ignore[no-any-return]
    if op == ">":
        return column > value  # type: ignore[no-any-return]
    if op == ">=":
        return column >= value  # type: ignore[no-any-return]
    raise _invalid(f"operator {op!r} is not supported for {field}")


def _equality_only(op: str, field: str) -> None:
    if op not in {"=", "!=", ":"}:
        raise _invalid(f"{field} supports only = and !=")


def parse_time(text: str, field: str = "filter") -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _invalid(f"{text!r} is not an RFC 3339 time", field) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _status_value(tok: _Tok) -> int:
    text = _value_text(tok).upper()
    if not text.startswith(_STATUS_PREFIX):
        text = _STATUS_PREFIX + text
    try:
        return int(model_version_pb2.ModelVersionStatus.Value(text))
    except ValueError as exc:
        names = ", ".join(
            n.removeprefix(_STATUS_PREFIX) for n in model_version_pb2.ModelVersionStatus.keys()[1:]
        )
        raise _invalid(f"unknown status {tok.text!r}; one of {names}") from exc


_STRING_FIELDS: Final[dict[str, Any]] = {
    "source_run": VersionRow.source_run,
    "dataset_version": VersionRow.dataset_version,
    "dataset_digest": VersionRow.dataset_digest,
    "creator": VersionRow.creator,
    "validation": VersionRow.validation,
    "artifact.sha256": VersionRow.sha256,
}


def _exists(table: Any, *conditions: Any) -> ColumnElement[bool]:
    return exists().where(table.version_pk == VersionRow.id, *conditions)


def _comparison(
    path: list[str],
    op: str,
    value: _Tok,
    semi: Callable[..., ColumnElement[bool]],
) -> ColumnElement[bool]:
    field = ".".join(path)
    head = path[0]
    present = op == ":" and value.kind == "word" and value.text == "*"
    if head == "status" and len(path) == 1:
        _equality_only(op, field)
        return _compare(VersionRow.status, op, _status_value(value), field)
    if head == "version" and len(path) == 1:
        return _compare(VersionRow.version, op, int(_number(value, field)), field)
    if head in {"model", "registered_model"} and len(path) == 1:
        _equality_only(op, field)
        model = _value_text(value).removeprefix("models/")
        return _compare(VersionRow.model_id, op, model, field)
    if head in {"create_time", "update_time"} and len(path) == 1:
        column = VersionRow.create_time if head == "create_time" else VersionRow.update_time
        return _compare(column, op, parse_time(_value_text(value)), field)
    if field in _STRING_FIELDS:
        _equality_only(op, field)
        return _compare(_STRING_FIELDS[field], op, _value_text(value), field)
    if head == "labels" and len(path) == 2:
        key = path[1]
        if present:
            return semi(VersionLabelRow, VersionLabelRow.key == key)
        _equality_only(op, field)
        conditions = (VersionLabelRow.key == key, VersionLabelRow.value == _value_text(value))
        if op == "!=":
            return not_(_exists(VersionLabelRow, *conditions))
        return semi(VersionLabelRow, *conditions)
    if head == "metrics" and len(path) == 2:
        name = path[1]
        if present:
            return semi(MetricRow, MetricRow.name == name)
        if op == ":":
            op = "="
        return semi(
            MetricRow,
            MetricRow.name == name,
            _compare(MetricRow.value, op, _number(value, field), field),
        )
    if head == "params" and len(path) == 2:
        name = path[1]
        if present:
            return semi(ParamRow, ParamRow.name == name)
        if op == ":":
            op = "="
        if value.kind == "word":
            number: float | None
            try:
                number = float(value.text)
            except ValueError:
                number = None
            if number is not None:
                return semi(
                    ParamRow,
                    ParamRow.name == name,
                    _compare(ParamRow.number_value, op, number, field),
                )
        _equality_only(op, field)
        conditions = (ParamRow.name == name, ParamRow.text_value == _value_text(value))
        if op == "!=":
            return not_(_exists(ParamRow, *conditions))
        return semi(ParamRow, *conditions)
    if head == "aliases" and len(path) == 1:
        _equality_only(op, field)
        on_alias: list[ColumnElement[bool]] = (
            [] if present else [AliasRow.alias == _value_text(value)]
        )
        if op == "!=":
            return not_(_exists(AliasRow, *on_alias))
        return semi(AliasRow, *on_alias)
    raise _invalid(
        f"unknown filter field {field!r}; use status, version, model, labels.<key>, "
        "metrics.<name>, params.<name>, aliases, source_run, dataset_version, "
        "dataset_digest, creator, validation, create_time or update_time"
    )


def parse_filter(text: str, prefer_in: Sequence[bool] | None = None) -> ColumnElement[bool]:
    """The SQL condition over :class:`VersionRow` of an AIP-160 ``filter``.

    ``prefer_in[i]`` picks ``id IN (...)`` over ``EXISTS`` for the i-th semi-join term
    (see :func:`plan_filter`); by default every term is an ``EXISTS``.

    Raises:
        InvalidArgument: the filter is malformed or names an unknown field.
    """
    if not text.strip():
        return true()
    return _Parser(_tokenize(text), prefer_in).parse()


@dataclass(frozen=True)
class FilterPlan:
    """A parsed filter whose semi-join terms (labels, metrics, params, aliases) are
    planned by selectivity: run each of :attr:`probes` (a capped count of the matching
    rows, one covering-index range scan) and pass the counts to :meth:`build`.

    Few matches (fewer than :data:`PROBE_LIMIT`) → ``id IN (subquery)``: the rows are
    fetched by key and sorted, with no scan. Many matches → ``EXISTS``: the scan in the
    page's order stops as soon as a page is full. This keeps a rare label as fast as a
    common one (SQLite's planner would always pick one shape; PostgreSQL gets the same
    SQL and plans it itself).
    """

    text: str
    probes: tuple[Any, ...]

    def build(self, counts: Sequence[int]) -> ColumnElement[bool]:
        return parse_filter(self.text, [count < PROBE_LIMIT for count in counts])


def plan_filter(text: str) -> FilterPlan:
    """Parse ``text`` (raising ``InvalidArgument`` when malformed) and list its probes."""
    if not text.strip():
        return FilterPlan(text, ())
    parser = _Parser(_tokenize(text))
    parser.parse()
    return FilterPlan(text, tuple(parser.probes))


# --- ordering and keyset pagination -------------------------------------------------


@dataclass(frozen=True)
class OrderKey:
    """One sort key: its name (as written), its SQL expression and its direction."""

    name: str
    kind: str  # "int", "float" or "time"
    desc: bool
    metric: str = ""


@dataclass(frozen=True)
class Ordering:
    """A parsed ``order_by``."""

    keys: tuple[OrderKey, ...]

    @property
    def text(self) -> str:
        return ", ".join(f"{k.name} {'desc' if k.desc else 'asc'}" for k in self.keys)


def parse_order_by(text: str, *, default: str) -> Ordering:
    """Parse ``order_by`` ("field [asc|desc], ..."); empty means ``default``.

    Raises:
        InvalidArgument: an unknown field or direction.
    """
    text = text.strip() or default
    keys: list[OrderKey] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2:
            raise _invalid(f"bad order_by term {part.strip()!r}", "order_by")
        field = words[0]
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in {"asc", "desc"}:
            raise _invalid(f"order_by direction must be asc or desc, got {words[1]!r}", "order_by")
        desc = direction == "desc"
        if field == "version":
            keys.append(OrderKey(field, "int", desc))
        elif field in {"create_time", "update_time"}:
            keys.append(OrderKey(field, "time", desc))
        elif field.startswith("metrics.") and len(field) > len("metrics."):
            metric = field.removeprefix("metrics.").strip('"')
            keys.append(OrderKey(field, "float", desc, metric))
        else:
            raise _invalid(
                f"cannot order by {field!r}; use version, create_time, update_time or "
                "metrics.<name>",
                "order_by",
            )
    if len({k.name for k in keys}) != len(keys):
        raise _invalid("order_by names a field twice", "order_by")
    return Ordering(tuple(keys))


def order_columns(ordering: Ordering) -> tuple[list[Any], list[Any]]:
    """SQL expressions of the order keys (plus the id tiebreaker) and the inner joins
    they need (``(target, onclause)`` pairs).

    Ordering by a metric joins its rows, so versions without that metric are not
    listed; when a metric is the first key the tiebreaker is the metric row's version
    id, so the ``(name, value, version)`` index delivers rows already in order.
    """
    columns: list[Any] = []
    joins: list[Any] = []
    tiebreaker: Any = VersionRow.id
    for key in ordering.keys:
        if key.name == "version":
            columns.append(VersionRow.version)
        elif key.name == "create_time":
            columns.append(VersionRow.create_time)
        elif key.name == "update_time":
            columns.append(VersionRow.update_time)
        else:
            metric = aliased(MetricRow)
            joins.append(
                (metric, and_(metric.version_pk == VersionRow.id, metric.name == key.metric))
            )
            columns.append(metric.value)
            if not columns[:-1]:
                tiebreaker = metric.version_pk
    columns.append(tiebreaker)
    return columns, joins


def order_clauses(ordering: Ordering, columns: Sequence[Any]) -> list[Any]:
    directions = [k.desc for k in ordering.keys] + [
        ordering.keys[0].desc if ordering.keys else True
    ]
    return [c.desc() if d else c.asc() for c, d in zip(columns, directions, strict=True)]


def keyset_condition(ordering: Ordering, columns: Sequence[Any], last: Sequence[Any]) -> Any:
    """``WHERE`` condition selecting rows strictly after ``last`` in ``ordering``."""
    directions = [k.desc for k in ordering.keys] + [
        ordering.keys[0].desc if ordering.keys else True
    ]
    alternatives = []
    for i, (column, value, desc) in enumerate(zip(columns, last, directions, strict=True)):
        equal_prefix = [columns[j] == last[j] for j in range(i)]
        step = column < value if desc else column > value
        alternatives.append(and_(*equal_prefix, step) if equal_prefix else step)
    return or_(*alternatives) if alternatives else false()


# --- page tokens ----------------------------------------------------------------------


@dataclass(frozen=True)
class PageToken:
    """Where the next page starts: the last row's sort values, bound to its query."""

    values: list[Any]
    query: str


def query_fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def encode_page_token(ordering: Ordering, values: Sequence[Any], query: str) -> str:
    encoded: list[Any] = []
    kinds = [k.kind for k in ordering.keys] + ["int"]
    for kind, value in zip(kinds, values, strict=True):
        encoded.append(value.isoformat() if kind == "time" else value)
    raw = json.dumps({"v": encoded, "q": query}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(ordering: Ordering, token: str, query: str) -> list[Any]:
    """The sort values of a page token issued for the same query.

    Raises:
        InvalidArgument: the token is malformed or belongs to another query.
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        values = data["v"]
        kinds = [k.kind for k in ordering.keys] + ["int"]
        if data["q"] != query or len(values) != len(kinds):
            raise ValueError("token of another query")
        decoded: list[Any] = []
        for kind, value in zip(kinds, values, strict=True):
            if kind == "time":
                decoded.append(parse_time(str(value), "page_token"))
            elif kind == "int":
                decoded.append(int(value))
            else:
                decoded.append(float(value))
        return decoded
    except InvalidArgument:
        raise
    except Exception as exc:
        raise InvalidArgument(
            "page_token is malformed or was issued for another filter or order",
            reason="INVALID_PAGE_TOKEN",
            field_violations=[FieldViolation("page_token", "not a token of this query")],
        ) from exc
