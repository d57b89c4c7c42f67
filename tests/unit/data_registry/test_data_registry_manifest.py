"""Manifest, split spec and name checks, PSI."""

from __future__ import annotations

import hashlib

import pytest

from gyre.data.v1 import dataset_pb2, manifest_pb2
from gyre.runtime.errors import InvalidArgument
from gyre.services.data_registry.names import parse_dataset, parse_version
from gyre.services.data_registry.registry import (
    manifest_digest,
    normalize_manifest,
    normalize_split_spec,
    psi,
)

SHA = hashlib.sha256(b"abc").hexdigest()
DEFAULT = dataset_pb2.SplitSpec(train_fraction=0.8, validation_fraction=0.1, test_fraction=0.1)


def _file(
    path: str, *, size: int = 3, offset: int = 0, sha: str = SHA
) -> manifest_pb2.ManifestFile:
    return manifest_pb2.ManifestFile(
        path=path,
        size_bytes=size,
        sha256=sha,
        chunks=[manifest_pb2.ChunkRef(sha256=SHA, offset=offset, length=3)],
    )


def test_data_registry_manifest_is_sorted_and_formats_inferred() -> None:
    files = normalize_manifest(
        manifest_pb2.Manifest(files=[_file("b/x.parquet"), _file("a.csv"), _file("c.txt")])
    )
    assert [f.path for f in files] == ["a.csv", "b/x.parquet", "c.txt"]
    assert [f.format for f in files] == [
        manifest_pb2.FILE_FORMAT_CSV,
        manifest_pb2.FILE_FORMAT_PARQUET,
        manifest_pb2.FILE_FORMAT_OTHER,
    ]


@pytest.mark.parametrize(
    "bad",
    [
        _file("../up.csv"),
        _file("/abs.csv"),
        _file("a//b.csv"),
        _file("a\\b.csv"),
        _file("a.csv", size=4),
        _file("a.csv", offset=1),
        _file("a.csv", sha="ABC"),
    ],
)
def test_data_registry_malformed_manifest_files(bad: manifest_pb2.ManifestFile) -> None:
    with pytest.raises(InvalidArgument):
        normalize_manifest(manifest_pb2.Manifest(files=[bad]))


def test_data_registry_duplicate_paths_and_empty_manifests() -> None:
    with pytest.raises(InvalidArgument):
        normalize_manifest(manifest_pb2.Manifest(files=[_file("a.csv"), _file("a.csv")]))
    with pytest.raises(InvalidArgument):
        normalize_manifest(manifest_pb2.Manifest())
    with pytest.raises(InvalidArgument) as caught:
        normalize_manifest(
            manifest_pb2.Manifest(files=[manifest_pb2.ManifestFile(path="e.csv", sha256=SHA)])
        )
    assert caught.value.reason == "EMPTY_FILE"


def test_data_registry_manifest_digest_ignores_order() -> None:
    a, b = _file("a.csv"), _file("b.csv")
    assert manifest_digest([a, b]) == manifest_digest([b, a])
    assert manifest_digest([a]) != manifest_digest([b])


def test_data_registry_split_spec_checks() -> None:
    spec = normalize_split_spec(
        dataset_pb2.SplitSpec(
            train_fraction=0.7, validation_fraction=0.2, test_fraction=0.1, key_column="id"
        ),
        DEFAULT,
    )
    assert spec.key_source == dataset_pb2.SPLIT_KEY_SOURCE_COLUMN
    assert normalize_split_spec(None, DEFAULT) == DEFAULT
    for fractions in ((0.5, 0.3, 0.3), (1.2, -0.1, -0.1), (float("nan"), 0.5, 0.5)):
        with pytest.raises(InvalidArgument) as caught:
            normalize_split_spec(
                dataset_pb2.SplitSpec(
                    train_fraction=fractions[0],
                    validation_fraction=fractions[1],
                    test_fraction=fractions[2],
                ),
                DEFAULT,
            )
        assert caught.value.reason == "INVALID_SPLIT"


def test_data_registry_names() -> None:
    assert parse_dataset("datasets/elec2") == "elec2"
    assert parse_version("datasets/elec2/versions/3") == ("elec2", 3)
    assert parse_version("datasets/elec2/versions/latest") == ("elec2", None)
    for bad in ("datasets/Elec2", "elec2", "datasets/elec2/versions/x", "datasets/e/versions/-1"):
        with pytest.raises(InvalidArgument):
            parse_version(bad) if "/versions/" in bad else parse_dataset(bad)


def test_data_registry_psi() -> None:
    assert psi([10, 10, 10], [20, 20, 20]) == pytest.approx(0.0)
    assert psi([50, 50], [90, 10]) > 0.3
    assert psi([100, 0], [0, 100]) > 10
