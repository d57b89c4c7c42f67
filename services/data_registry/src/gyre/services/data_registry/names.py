"""Resource names of the data registry: ``datasets/{dataset}[/versions/{version}]``."""

from __future__ import annotations

import re
from typing import Final

from gyre.runtime.errors import FieldViolation, InvalidArgument

__all__ = [
    "LATEST",
    "dataset_name",
    "parse_dataset",
    "parse_version",
    "validate_dataset_id",
    "version_name",
]

DATASET_ID: Final = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
LATEST: Final = "latest"
_DATASET_NAME: Final = re.compile(r"^datasets/([^/]+)$")
_VERSION_NAME: Final = re.compile(r"^datasets/([^/]+)/versions/([^/]+)$")


def _invalid(field: str, value: str, expected: str) -> InvalidArgument:
    return InvalidArgument(
        f"{field} {value!r} is not a valid name: expected {expected}",
        reason="INVALID_NAME",
        metadata={"field": field, "value": value[:200]},
        field_violations=[FieldViolation(field, f"expected {expected}")],
    )


def validate_dataset_id(dataset_id: str, *, field: str = "dataset_id") -> str:
    """Check a dataset id: 1-63 characters of [a-z0-9-], starting with a letter."""
    if not DATASET_ID.match(dataset_id):
        raise _invalid(field, dataset_id, "1-63 characters of [a-z0-9-] starting with a letter")
    return dataset_id


def dataset_name(dataset_id: str) -> str:
    """``datasets/{dataset_id}``."""
    return f"datasets/{dataset_id}"


def version_name(dataset_id: str, version: int) -> str:
    """``datasets/{dataset_id}/versions/{version}``."""
    return f"datasets/{dataset_id}/versions/{version}"


def parse_dataset(name: str, *, field: str = "name") -> str:
    """The dataset id of ``datasets/{dataset}``."""
    match = _DATASET_NAME.match(name)
    if match is None:
        raise _invalid(field, name, "'datasets/{dataset}'")
    return validate_dataset_id(match.group(1), field=field)


def parse_version(name: str, *, field: str = "name") -> tuple[str, int | None]:
    """(dataset id, version number or None for "latest") of a version name."""
    match = _VERSION_NAME.match(name)
    if match is None:
        raise _invalid(field, name, "'datasets/{dataset}/versions/{version}'")
    dataset_id = validate_dataset_id(match.group(1), field=field)
    version = match.group(2)
    if version == LATEST:
        return dataset_id, None
    if not version.isdigit() or int(version) < 1 or len(version) > 18:
        raise _invalid(field, name, "a positive version number or 'latest'")
    return dataset_id, int(version)
