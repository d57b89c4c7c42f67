"""Row keys and split assignment: deterministic, type-independent, seeded, disjoint."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from gyre.sdk.data._rowkeys import (
    SPLIT_TEST,
    SPLIT_TRAIN,
    SPLIT_VALIDATION,
    assign_splits,
    key_digest,
    row_key_hashes,
)


def test_data_registry_row_keys_ignore_how_numbers_are_typed() -> None:
    ints = pa.table({"a": pa.array([1, 2, None], pa.int64()), "b": ["x", None, "y"]})
    floats = pa.table({"a": pa.array([1.0, 2.0, float("nan")]), "b": ["x", None, "y"]})
    assert (
        row_key_hashes(ints, key_column=None, seed=0).tolist()
        == row_key_hashes(floats, key_column=None, seed=0).tolist()
    )


def test_data_registry_row_keys_depend_on_seed_values_and_column_order() -> None:
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    base = row_key_hashes(table, key_column=None, seed=0)
    assert len(set(base.tolist())) == 3
    assert base.tolist() != row_key_hashes(table, key_column=None, seed=1).tolist()
    swapped = row_key_hashes(table, key_column=None, seed=0, columns=["b", "a"])
    assert base.tolist() != swapped.tolist()
    again = row_key_hashes(table.slice(1), key_column=None, seed=0)
    assert again.tolist() == base[1:].tolist()  # a row's key does not depend on its neighbours


def test_data_registry_key_column_groups_equal_values() -> None:
    table = pa.table({"customer": ["c1", "c2", "c1", "c3", "c2"], "v": [1, 2, 3, 4, 5]})
    hashes = row_key_hashes(table, key_column="customer", seed=7)
    assert hashes[0] == hashes[2]
    assert hashes[1] == hashes[4]
    assert hashes[0] != hashes[1]


def test_data_registry_splits_follow_fractions_and_never_overlap() -> None:
    hashes = row_key_hashes(pa.table({"i": np.arange(100_000)}), key_column=None, seed=0)
    splits = assign_splits(hashes, train=0.7, validation=0.15)
    shares = {s: float((splits == s).mean()) for s in (SPLIT_TRAIN, SPLIT_VALIDATION, SPLIT_TEST)}
    assert abs(shares[SPLIT_TRAIN] - 0.7) < 0.01
    assert abs(shares[SPLIT_VALIDATION] - 0.15) < 0.01
    keys = {s: set(hashes[splits == s].tolist()) for s in shares}
    assert not keys[SPLIT_TRAIN] & keys[SPLIT_TEST]
    assert not keys[SPLIT_TRAIN] & keys[SPLIT_VALIDATION]
    assert (assign_splits(hashes, train=1.0, validation=0.0) == SPLIT_TRAIN).all()
    assert (assign_splits(hashes, train=0.0, validation=0.0) == SPLIT_TEST).all()


def test_data_registry_key_digest_is_over_sorted_little_endian_keys() -> None:
    import hashlib

    keys = np.array([1, 2, 2**63], dtype=np.uint64)
    expected = hashlib.sha256(keys.astype("<u8").tobytes()).hexdigest()
    assert key_digest(keys) == f"sha256:{expected}"
