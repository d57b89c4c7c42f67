"""The run filter language of ``ListRuns`` / ``SearchRuns`` (a subset of AIP-160).

Grammar (keywords case-insensitive)::

    expr    := or
    or      := and ("OR" and)*
    and     := unary (("AND" | implicit) unary)*
    unary   := "NOT" unary | "-" unary | "(" expr ")" | term
    term    := field op value | field ":" "*"
    op      := "=" | "!=" | "<" | "<=" | ">" | ">="  | ":"
    value   := number | "quoted string" | bare_word | true | false

Fields are looked up in a flat mapping built per run: ``metrics.<name>`` (final
validation metric), ``train_metrics.<name>``, ``params.<name>`` (typed),
``labels.<key>``, ``state`` (``SUCCEEDED`` or ``RUN_STATE_SUCCEEDED``),
``experiment``, ``parent_run``, ``cause.kind``, ``cause.trigger``, ``trigger``,
``dataset_version``, ``display_name``, ``name``, ``create_time`` / ``end_time``
(RFC 3339 strings compare as times). A term on a field the run does not have is
false (``!=`` included), so ``metrics.auc > 0.9`` skips runs without that metric.
``field:*`` tests presence; ``field:value`` is a substring match for strings.

Ordering: ``order_by`` is a comma-separated list of ``field [asc|desc]`` over the
same fields; runs missing the field sort last.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from gyre.runtime.errors import FieldViolation, InvalidArgument

__all__ = ["Predicate", "parse_filter", "parse_order_by", "sort_key"]

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op><=|>=|!=|=|<|>|:)
      | (?P<paren>[()])
      | (?P<word>[A-Za-z0-9_.\-/*+@]+)
    )""",
    re.VERBOSE,
)
_FIELD: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_./\-]*$")
_MISSING: Final = object()


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise InvalidArgument(
                f"filter: cannot read {text[position : position + 20]!r}",
                reason="INVALID_FILTER",
                field_violations=[FieldViolation("filter", f"unexpected text at {position}")],
            )
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "string":
            value = bytes(value[1:-1], "utf-8").decode("unicode_escape")
        tokens.append(_Token(kind, value))
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return tokens


def _bad(message: str) -> InvalidArgument:
    return InvalidArgument(
        f"filter: {message}",
        reason="INVALID_FILTER",
        field_violations=[FieldViolation("filter", message)],
    )


def _literal(token: _Token) -> Any:
    if token.kind == "string":
        return token.text
    word = token.text
    lowered = word.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    try:
        return int(word)
    except ValueError:
        pass
    try:
        return float(word)
    except ValueError:
        return word


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _normalise_enum(field: str, value: Any) -> Any:
    if field == "state" and isinstance(value, str):
        return value.upper().removeprefix("RUN_STATE_")
    if field == "cause.kind" and isinstance(value, str):
        return value.upper().removeprefix("TRIGGER_KIND_")
    if field == "kind" and isinstance(value, str):
        return value.upper().removeprefix("TRIGGER_KIND_")
    return value


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if actual is _MISSING or actual is None:
        return False
    if op == ":":
        if expected == "*":
            return True
        if isinstance(actual, str):
            return str(expected) in actual
        return bool(actual == expected)
    if isinstance(actual, datetime) or (
        isinstance(actual, str)
        and isinstance(expected, str)
        and _as_time(expected) is not None
        and _as_time(actual) is not None
    ):
        left, right = _as_time(actual), _as_time(expected)
        if left is None or right is None:
            return False
        actual, expected = left, right
    elif isinstance(actual, bool) or isinstance(expected, bool):
        if op not in ("=", "!="):
            return False
        actual, expected = bool(actual), bool(expected)
    elif isinstance(actual, int | float) and not isinstance(expected, int | float):
        try:
            expected = float(expected)
        except (TypeError, ValueError):
            return op == "!="
    elif isinstance(actual, str) and not isinstance(expected, str):
        expected = str(expected)
    try:
        if op == "=":
            return bool(actual == expected)
        if op == "!=":
            return bool(actual != expected)
        if op == "<":
            return bool(actual < expected)
        if op == "<=":
            return bool(actual <= expected)
        if op == ">":
            return bool(actual > expected)
        if op == ">=":
            return bool(actual >= expected)
    except TypeError:
        return False
    raise _bad(f"unknown operator {op!r}")


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise _bad("unexpected end of filter")
        self.i += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.upper() == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Predicate:
        predicate = self.or_()
        if self.peek() is not None:
            raise _bad(f"unexpected {self.peek().text!r}")  # type: ignore[union-attr]
        return predicate

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while self.keyword("OR"):
            parts.append(self.and_())
        if len(parts) == 1:
            return parts[0]
        return lambda row: any(p(row) for p in parts)

    def and_(self) -> Predicate:
        parts = [self.unary()]
        while True:
            if self.keyword("AND"):
                parts.append(self.unary())
                continue
            token = self.peek()
            if token is None or (token.kind == "paren" and token.text == ")"):
                break
            if token.kind == "word" and token.text.upper() == "OR":
                break
            parts.append(self.unary())  # implicit AND (AIP-160 sequence)
        if len(parts) == 1:
            return parts[0]
        return lambda row: all(p(row) for p in parts)

    def unary(self) -> Predicate:
        if self.keyword("NOT"):
            inner = self.unary()
            return lambda row: not inner(row)
        token = self.peek()
        if token is not None and token.kind == "paren" and token.text == "(":
            self.take()
            inner = self.or_()
            closing = self.take()
            if closing.kind != "paren" or closing.text != ")":
                raise _bad("missing ')'")
            return inner
        if token is not None and token.kind == "word" and token.text.startswith("-"):
            # AIP-160 negation: "-field = value" (the tokenizer keeps "-" on the word).
            self.tokens[self.i] = _Token("word", token.text[1:])
            if not self.tokens[self.i].text:
                self.take()
            inner = self.unary()
            return lambda row: not inner(row)
        return self.term()

    def term(self) -> Predicate:
        field_token = self.take()
        if field_token.kind != "word" or not _FIELD.match(field_token.text):
            raise _bad(f"expected a field name, got {field_token.text!r}")
        op_token = self.take()
        if op_token.kind != "op":
            raise _bad(f"expected an operator after {field_token.text!r}")
        value_token = self.take()
        if value_token.kind not in ("word", "string"):
            raise _bad(f"expected a value after {field_token.text} {op_token.text}")
        name = field_token.text
        op = op_token.text
        expected = _normalise_enum(name, _literal(value_token))

        def predicate(row: Mapping[str, Any]) -> bool:
            return _compare(_normalise_enum(name, row.get(name, _MISSING)), op, expected)

        return predicate


def parse_filter(text: str) -> Predicate:
    """Compile a filter expression; the empty filter matches everything.

    Raises:
        InvalidArgument: the expression is malformed (reason ``INVALID_FILTER``).
    """
    if not text or not text.strip():
        return lambda row: True
    return _Parser(_tokenize(text)).parse()


def parse_order_by(text: str, *, default: str) -> list[tuple[str, bool]]:
    """``[(field, descending), ...]`` from ``"metrics.auc desc, create_time"``.

    Raises:
        InvalidArgument: a clause is not ``field [asc|desc]``.
    """
    clauses = []
    for part in (text or default).split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or not _FIELD.match(words[0]):
            raise InvalidArgument(
                f"order_by: cannot read {part.strip()!r}",
                reason="INVALID_ORDER_BY",
                field_violations=[FieldViolation("order_by", "use 'field [asc|desc], ...'")],
            )
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise InvalidArgument(
                f"order_by: direction must be asc or desc, got {words[1]!r}",
                reason="INVALID_ORDER_BY",
                field_violations=[FieldViolation("order_by", "use 'field [asc|desc], ...'")],
            )
        clauses.append((words[0], direction == "desc"))
    return clauses


class _Reversed:
    """Wraps a value so that sorting ascending orders it descending."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash(self.value)


def sort_key(clauses: list[tuple[str, bool]]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A key function ordering rows by ``clauses``; missing values sort last."""

    def key(row: Mapping[str, Any]) -> tuple[Any, ...]:
        parts: list[Any] = []
        for field, descending in clauses:
            value = row.get(field)
            missing = value is None
            if isinstance(value, bool):
                value = int(value)
            if isinstance(value, int | float):
                value = (0, float(value), "")
            elif value is not None:
                value = (1, 0.0, str(value))
            else:
                value = (2, 0.0, "")
            parts.append((missing, _Reversed(value) if descending else value))
        return tuple(parts)

    return key
