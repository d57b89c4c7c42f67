"""Deterministic row keys and split assignment, shared by the data registry and clients.

A row's key is either the value of a key column or the whole row; its 64-bit hash,
seeded by the split seed, decides the row's split: the hash mapped to ``[0, 1)`` is
compared with the cumulative fractions ``train``, ``train + validation``. A row's
split is therefore a pure function of ``(seed, key)``: equal keys land in the same
split in every version, and two splits never share a key.

Each value is hashed by kind, so the hash does not depend on how a file spelled it:
numbers (integers, floats, booleans as 0/1, timestamps in their unit) by their
float64 value (``2`` and ``2.0`` are equal; ``-0.0`` is ``0.0``); everything else by its
Arrow string form under SipHash-2-4 keyed by the seed (``pandas.util.hash_array``);
nulls and NaN by one fixed token. Column hashes are combined in schema order with the
SplitMix64 finalizer (Steele et al., "Fast splittable pseudorandom number generators",
OOPSLA 2014), vectorized with NumPy.
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
    "column_hashes",
    "key_digest",
    "row_key_hashes",
    "split_thresholds",
]

# Name of the uint64 key-hash column added to split row files and to tables read with
# ``with_row_keys=True``.
ROW_KEY_COLUMN: Final = "_gyre_row_key"
# Values of gyre.common.v1.Split.
SPLIT_TRAIN: Final = 1
SPLIT_VALIDATION: Final = 2
SPLIT_TEST: Final = 3
_TWO_POW_64: Final = 2**64
_U64: Final = 0xFFFFFFFFFFFFFFFF
# Hash of a null / NaN value, and the per-position increment of the column combiner.
NULL_TOKEN: Final = np.uint64(0x9E3779B97F4A7C15)
_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)
_M1: Final = np.uint64(0xBF58476D1CE4E5B9)
_M2: Final = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray[Any, np.dtype[np.uint64]]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """SplitMix64's finalizer, in place (uint64 arithmetic wraps)."""
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= _M1
        x ^= x >> np.uint64(27)
        x *= _M2
        x ^= x >> np.uint64(31)
    return x


def _hash_key(seed: int) -> str:
    """SipHash's 16-byte key derived from the split seed."""
    return f"{seed & _U64:016x}"


def _numeric_bits(column: pa.Array) -> np.ndarray[Any, Any] | None:
    """float64 values (NaN for null) of a numeric-like column; None for other types."""
    dtype = column.type
    if pa.types.is_boolean(dtype):
        column = column.cast(pa.uint8())
    elif pa.types.is_timestamp(dtype) or pa.types.is_duration(dtype):
        column = column.cast(pa.int64())
    elif not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        return None
    values = np.asarray(
        column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False), dtype=np.float64
    )
    return values


def column_hashes(column: pa.Array | pa.ChunkedArray, *, seed: int) -> np.ndarray[Any, Any]:
    """Seeded 64-bit hash of every value of one column (uint64 array)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    seed_bits = np.uint64(seed & _U64)
    numbers = _numeric_bits(column)
    if numbers is not None:
        missing = np.isnan(numbers)
        numbers = numbers + 0.0  # -0.0 -> 0.0
        bits = numbers.view(np.uint64).copy()
        bits ^= seed_bits
        hashed = _mix(bits)
        hashed[missing] = NULL_TOKEN
        return hashed
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]  # SipHash, in C

    if pa.types.is_null(column.type):
        return np.full(len(column), NULL_TOKEN, dtype=np.uint64)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string(), safe=False)
    encoded = pc.dictionary_encode(column)
    uniques = encoded.dictionary.to_numpy(zero_copy_only=False)
    unique_hashes = np.asarray(
        pd.util.hash_array(uniques.astype(object), hash_key=_hash_key(seed), categorize=False),
        dtype=np.uint64,
    )
    indices = encoded.indices
    positions = np.asarray(indices.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    hashed = unique_hashes[positions] if unique_hashes.size else np.zeros(len(column), np.uint64)
    if indices.null_count:
        hashed[np.asarray(indices.is_null().to_numpy(zero_copy_only=False))] = NULL_TOKEN
    return hashed


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
    if table.num_rows == 0:
        return np.zeros(0, dtype=np.uint64)
    if key_column:
        return column_hashes(table.column(key_column), seed=seed)
    names = [n for n in (columns if columns is not None else table.column_names)]
    names = [n for n in names if n != ROW_KEY_COLUMN]
    combined = np.full(table.num_rows, np.uint64(seed & _U64), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for position, name in enumerate(names):
            combined ^= column_hashes(table.column(name), seed=seed) + _GOLDEN * np.uint64(
                position + 1
            )
            combined = _mix(combined)
    return combined


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
