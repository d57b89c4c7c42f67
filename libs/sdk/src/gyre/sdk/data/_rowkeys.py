"""Deterministic row keys and split assignment, shared by the data registry and clients.

A row's key is either the value of a key column or the canonical encoding of the whole
row; its 64-bit hash (SipHash-2-4 keyed by the split seed, as ``pandas.util.hash_array``
computes it) decides the row's split: the hash mapped to ``[0, 1)`` is compared with the
cumulative fractions ``train``, ``train + validation``. A row's split is therefore a pure
function of ``(seed, key)``: equal keys land in the same split in every version, and two
splits never share a key.

The canonical encoding casts every value to its Arrow string form (``2``, ``0.5``,
``1e+20``, ``true``), writes nulls as ``"\\x00"`` and joins columns with ``"\\x1f"``. The
column types come from the version's schema, so every reader hashes identical strings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]

__all__ = [
    "NULL_TOKEN",
    "ROW_KEY_COLUMN",
    "SPLIT_TEST",
    "SPLIT_TRAIN",
    "SPLIT_VALIDATION",
    "assign_splits",
    "key_digest",
    "row_key_hashes",
    "split_thresholds",
]

# Name of the uint64 key-hash column added to split row files and to tables read with
# ``with_row_keys=True``.
ROW_KEY_COLUMN: Final = "_gyre_row_key"
# Separator between columns and the token of a null value in the canonical row encoding.
FIELD_SEPARATOR: Final = "\x1f"
NULL_TOKEN: Final = "\x00"
# Values of gyre.common.v1.Split.
SPLIT_TRAIN: Final = 1
SPLIT_VALIDATION: Final = 2
SPLIT_TEST: Final = 3
_TWO_POW_64: Final = 2**64


def _hash_key(seed: int) -> str:
    """SipHash's 16-byte key derived from the split seed."""
    return f"{seed & 0xFFFFFFFFFFFFFFFF:016x}"


def _as_strings(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        strings = column
    elif pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        strings = pc.cast(column, pa.string(), safe=False)
    elif pa.types.is_null(column.type):
        strings = pa.nulls(len(column), pa.string())
    else:
        strings = pc.cast(column, pa.string())
    return pc.fill_null(strings, NULL_TOKEN)


def row_key_hashes(
    table: pa.Table | pa.RecordBatch,
    *,
    key_column: str | None,
    seed: int,
    columns: Sequence[str] | None = None,
) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """64-bit key hash of every row of ``table`` (uint64 array, one per row).

    Args:
        table: The rows, typed as in the version's schema.
        key_column: Hash this column's value; ``None`` hashes the whole row.
        seed: The split seed (``SplitSpec.seed``).
        columns: Columns of the row-content key, in schema order (default: all of
            ``table``'s columns except :data:`ROW_KEY_COLUMN`).
    """
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]  # SipHash, in C

    if table.num_rows == 0:
        return np.zeros(0, dtype=np.uint64)
    if key_column:
        strings = _as_strings(table.column(key_column))
    else:
        names = [
            n
            for n in (columns if columns is not None else table.column_names)
            if n != ROW_KEY_COLUMN
        ]
        parts = [_as_strings(table.column(n)) for n in names]
        strings = (
            parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, FIELD_SEPARATOR)
        )
    values = strings.to_numpy(zero_copy_only=False)
    hashed = pd.util.hash_array(values, hash_key=_hash_key(seed), categorize=False)
    return np.asarray(hashed, dtype=np.uint64)


def split_thresholds(train: float, validation: float) -> tuple[int, int]:
    """Hash thresholds: a hash below the first is train, below the second validation."""
    first = min(int(train * _TWO_POW_64), _TWO_POW_64)
    second = min(int((train + validation) * _TWO_POW_64), _TWO_POW_64)
    return first, second


def assign_splits(
    hashes: np.ndarray[Any, np.dtype[np.uint64]], *, train: float, validation: float
) -> np.ndarray[Any, np.dtype[np.int8]]:
    """The split (1 train, 2 validation, 3 test) of each key hash."""
    first, second = split_thresholds(train, validation)
    result = np.full(hashes.shape, SPLIT_TEST, dtype=np.int8)
    # Thresholds of 2**64 do not fit uint64: "every hash is below it".
    if second >= _TWO_POW_64:
        result[:] = SPLIT_VALIDATION
    else:
        result[hashes < np.uint64(second)] = SPLIT_VALIDATION
    if first >= _TWO_POW_64:
        result[:] = SPLIT_TRAIN
    else:
        result[hashes < np.uint64(first)] = SPLIT_TRAIN
    return result


def key_digest(sorted_unique_hashes: np.ndarray[Any, np.dtype[np.uint64]]) -> str:
    """``"sha256:<hex>"`` over sorted distinct key hashes as little-endian uint64."""
    data = np.ascontiguousarray(sorted_unique_hashes, dtype="<u8").tobytes()
    return "sha256:" + hashlib.sha256(data).hexdigest()
