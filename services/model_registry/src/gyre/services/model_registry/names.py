"""Resource names of the model registry (``models/{model}``, versions, aliases)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from gyre.runtime.errors import FieldViolation, InvalidArgument

__all__ = [
    "ALIAS_ID",
    "MODEL_ID",
    "AliasName",
    "VersionName",
    "alias_name",
    "model_name",
    "parse_alias",
    "parse_model",
    "parse_version",
    "version_name",
]

# Model ids: [a-z0-9-], 1-63 characters, starting with a letter.
MODEL_ID: Final = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
# Alias ids: [a-z0-9-], 1-63 characters (not all digits: "3" would read as a version).
ALIAS_ID: Final = re.compile(r"^[a-z0-9-]{1,63}$")
_VERSION: Final = re.compile(r"^[1-9][0-9]{0,17}$")


@dataclass(frozen=True, slots=True)
class VersionName:
    """``models/{model}/versions/{version}``; ``alias`` is set instead of ``version``
    when the last segment is an alias id."""

    model: str
    version: int = 0
    alias: str = ""

    def __str__(self) -> str:
        return version_name(self.model, self.version) if self.version else self.alias


@dataclass(frozen=True, slots=True)
class AliasName:
    """``models/{model}/aliases/{alias}``."""

    model: str
    alias: str

    def __str__(self) -> str:
        return alias_name(self.model, self.alias)


def model_name(model: str) -> str:
    return f"models/{model}"


def version_name(model: str, version: int) -> str:
    return f"models/{model}/versions/{version}"


def alias_name(model: str, alias: str) -> str:
    return f"models/{model}/aliases/{alias}"


def _bad(field: str, value: str, expected: str) -> InvalidArgument:
    return InvalidArgument(
        f"{field} must be {expected}, got {value!r}",
        reason="INVALID_NAME",
        metadata={"field": field},
        field_violations=[FieldViolation(field, f"must be {expected}")],
    )


def check_model_id(model: str, *, field: str = "registered_model_id") -> str:
    if not MODEL_ID.match(model):
        raise _bad(field, model, "[a-z0-9-], 1-63 characters, starting with a letter")
    return model


def check_alias_id(alias: str, *, field: str = "name") -> str:
    if not ALIAS_ID.match(alias) or alias.isdigit():
        raise _bad(field, alias, "an alias id of [a-z0-9-], 1-63 characters, not all digits")
    return alias


def parse_model(name: str, *, field: str = "name") -> str:
    """The model id of ``models/{model}``."""
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != "models" or not MODEL_ID.match(parts[1]):
        raise _bad(field, name, '"models/{model}"')
    return parts[1]


def parse_version(name: str, *, field: str = "name", allow_alias: bool = False) -> VersionName:
    """Parse ``models/{model}/versions/{version}`` ({version} may be an alias id)."""
    parts = name.split("/")
    expected = '"models/{model}/versions/{version}"'
    if len(parts) != 4 or parts[0] != "models" or parts[2] != "versions":
        raise _bad(field, name, expected)
    model, last = parts[1], parts[3]
    if not MODEL_ID.match(model):
        raise _bad(field, name, expected)
    if _VERSION.match(last):
        return VersionName(model, int(last))
    if allow_alias and ALIAS_ID.match(last) and not last.isdigit():
        return VersionName(model, 0, last)
    raise _bad(field, name, expected)


def parse_alias(name: str, *, field: str = "name") -> AliasName:
    """Parse ``models/{model}/aliases/{alias}``."""
    parts = name.split("/")
    expected = '"models/{model}/aliases/{alias}"'
    if len(parts) != 4 or parts[0] != "models" or parts[2] != "aliases":
        raise _bad(field, name, expected)
    check_model_id(parts[1], field=field)
    check_alias_id(parts[3], field=field)
    return AliasName(parts[1], parts[3])
