"""The model registry against real NATS, S3 (SeaweedFS) and SQLite / PostgreSQL:
manual registration through presigned uploads, sha256 checks on both ends, aliases
with protection, etags and history, archive / restore / delete, search."""

# The fixture imported from model_registry_support is a test parameter of the same name.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from model_registry_support import (  # noqa: F401 - the fixture is used by name
    ARCHIVED,
    PENDING,
    Registry,
    new_model,
    onnx_bytes,
    registry,
    signature,
    validate,
)

from gyre.models.v1 import model_version_pb2, models_service_pb2
from gyre.runtime.events import connect_nats, tail_events
from gyre.runtime.objectstore import ObjectStore
from gyre.sdk import Aborted, DataLoss, FailedPrecondition, InvalidArgument, NotFound
from gyre.sdk import models as sdk_models

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


async def test_register_onnx_uploads_verifies_and_downloads(
    registry: Registry, tmp_path: Path
) -> None:
    model_id = await new_model(registry)
    data = onnx_bytes()
    nc = await connect_nats(registry.settings.nats)
    events = tail_events(
        nc,
        registry.settings.nats,
        subject=f"{registry.settings.nats.subject_prefix}.models.version.registered",
    )
    first = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.3)
    try:
        version = await sdk_models.register_onnx(
            registry.client,
            model_id,
            data,
            signature=signature(),
            dataset_version="datasets/elec2/versions/1",
            metrics={"accuracy": 0.91},
            labels={"stage": "dev"},
            params={"n_estimators": 100, "criterion": "gini"},
        )
        assert version.name == f"models/{model_id}/versions/1"
        assert version.status == PENDING
        assert version.artifact.sha256 == hashlib.sha256(data).hexdigest()
        assert version.artifact.size_bytes == len(data)
        assert version.params["n_estimators"].int64_value == 100
        event = await asyncio.wait_for(first, 20)
        assert event.type == "models.version.registered"
        assert event.models_version_registered.model_version.name == version.name
    finally:
        first.cancel()
        await events.aclose()
        await nc.close()

    # The same bytes again: no upload needed, a second version with the same digest.
    again = await sdk_models.register_onnx(registry.client, model_id, data, signature=signature())
    assert again.version == 2

    path = await sdk_models.download_artifact(registry.client, version.name, tmp_path)
    assert path.read_bytes() == data
    assert await sdk_models.read_artifact(registry.client, version.name) == data

    def sync_roundtrip() -> tuple[Any, Path]:
        with registry.sync_client() as gyre:
            registered = sdk_models.register_onnx(
                gyre, model_id, onnx_bytes(), signature=signature(), request_id="sync-1"
            )
            same = sdk_models.register_onnx(
                gyre, model_id, onnx_bytes(), signature=signature(), request_id="sync-1"
            )
            assert same.name == registered.name  # idempotent on request_id
            page, _ = sdk_models.search_versions(gyre, models=[model_id], filter="version >= 3")
            assert [v.name for v in page] == [registered.name]
            graph = sdk_models.get_lineage(gyre, registered.name, direction="up")
            assert [n.name for n in graph.nodes] == [registered.name]
            return registered, sdk_models.download_artifact(
                gyre, registered.name, tmp_path / "sync.onnx"
            )

    registered, sync_path = await asyncio.to_thread(sync_roundtrip)
    assert registered.version == 3
    assert sync_path.name == "sync.onnx"


async def test_sha256_mismatch_is_refused_with_data_loss(registry: Registry) -> None:
    model_id = await new_model(registry)
    data = onnx_bytes()
    claimed = hashlib.sha256(b"other bytes").hexdigest()
    upload = await registry.client.models.CreateArtifactUploadUrl(
        models_service_pb2.CreateArtifactUploadUrlRequest(
            parent=f"models/{model_id}", sha256=claimed, size_bytes=len(data)
        )
    )
    # Someone uploads different bytes than announced under the digest's key.
    bucket, key = upload.artifact.uri.removeprefix("s3://").split("/", 1)
    await ObjectStore.from_settings(registry.settings.s3, bucket=bucket).put_bytes(key, data)
    request = models_service_pb2.CreateModelVersionRequest(
        parent=f"models/{model_id}",
        model_version=model_version_pb2.ModelVersion(
            artifact=upload.artifact, signature=signature()
        ),
    )
    with pytest.raises(DataLoss) as refused:
        await registry.client.models.CreateModelVersion(request)
    assert refused.value.reason == "ARTIFACT_DIGEST_MISMATCH"
    # Nothing was half-written: the model still has no version.
    listed = await registry.client.models.ListModelVersions(
        models_service_pb2.ListModelVersionsRequest(parent=f"models/{model_id}")
    )
    assert list(listed.model_versions) == []

    # The download side re-checks too: corrupt a registered artifact in place.
    good = await sdk_models.register_onnx(registry.client, model_id, data, signature=signature())
    bucket, key = good.artifact.uri.removeprefix("s3://").split("/", 1)
    await ObjectStore.from_settings(registry.settings.s3, bucket=bucket).put_bytes(key, data[::-1])
    with pytest.raises(DataLoss):
        await sdk_models.read_artifact(registry.client, good.name)


async def test_bad_inputs_get_clear_codes(registry: Registry) -> None:
    model_id = await new_model(registry)
    models = registry.client.models
    with pytest.raises(InvalidArgument):
        await models.CreateRegisteredModel(
            models_service_pb2.CreateRegisteredModelRequest(registered_model_id="Bad_Id")
        )
    with pytest.raises(NotFound):
        await models.GetModelVersion(
            models_service_pb2.GetModelVersionRequest(name=f"models/{model_id}/versions/9")
        )
    with pytest.raises(InvalidArgument):
        await models.CreateArtifactUploadUrl(
            models_service_pb2.CreateArtifactUploadUrlRequest(
                parent=f"models/{model_id}", sha256="xyz", size_bytes=1
            )
        )
    with pytest.raises(InvalidArgument):  # no signature
        await models.CreateModelVersion(
            models_service_pb2.CreateModelVersionRequest(
                parent=f"models/{model_id}",
                model_version=model_version_pb2.ModelVersion(
                    artifact={"uri": "s3://b/k", "sha256": "0" * 64, "size_bytes": 3}
                ),
            )
        )
    with pytest.raises(NotFound):  # artifact never uploaded
        await models.CreateModelVersion(
            models_service_pb2.CreateModelVersionRequest(
                parent=f"models/{model_id}",
                model_version=model_version_pb2.ModelVersion(
                    artifact={
                        "uri": f"s3://{registry.settings.s3.bucket}/missing.onnx",
                        "sha256": "0" * 64,
                        "size_bytes": 3,
                    },
                    signature=signature(),
                ),
            )
        )
    with pytest.raises(InvalidArgument):
        await models.SearchModelVersions(
            models_service_pb2.SearchModelVersionsRequest(filter="status = BOGUS")
        )
    assert await sdk_models.resolve_alias(registry.client, model_id, "champion") is None


async def test_protected_champion_and_alias_history(registry: Registry) -> None:
    model_id = await new_model(registry)
    v1 = await sdk_models.register_onnx(
        registry.client, model_id, onnx_bytes(), signature=signature()
    )
    v2 = await sdk_models.register_onnx(
        registry.client, model_id, onnx_bytes(), signature=signature()
    )
    champion = f"models/{model_id}/aliases/champion"
    models = registry.client.models

    with pytest.raises(FailedPrecondition) as refused:
        await models.SetAlias(models_service_pb2.SetAliasRequest(name=champion, version=v1.name))
    assert refused.value.reason == "PROTECTED_ALIAS"
    with pytest.raises(InvalidArgument):  # an override needs a reason
        await models.SetAlias(
            models_service_pb2.SetAliasRequest(
                name=champion, version=v1.name, override_protection=True
            )
        )
    forced = await models.SetAlias(
        models_service_pb2.SetAliasRequest(
            name=champion, version=v1.name, override_protection=True, reason="hotfix"
        ),
        metadata=(("gyre-actor", "alice"),),
    )
    assert forced.alias.protected
    assert forced.change.override_protection
    assert forced.change.actor == "alice"
    t_after_v1 = datetime.now(UTC)
    await asyncio.sleep(0.05)

    await validate(registry, v2.name)
    moved = await sdk_models.set_alias(
        registry.client, model_id, "champion", 2, etag=forced.alias.etag, reason="better"
    )
    assert moved.change.from_version == v1.name
    assert moved.change.to_version == v2.name
    resolved = await sdk_models.resolve_alias(registry.client, model_id, "champion")
    assert resolved is not None
    assert resolved.name == v2.name
    assert "champion" in resolved.aliases

    # A stale etag is ABORTED.
    with pytest.raises(Aborted):
        await sdk_models.set_alias(
            registry.client,
            model_id,
            "champion",
            1,
            etag=forced.alias.etag,
            override_protection=True,
            reason="stale",
        )

    history = await models.ListAliasHistory(
        models_service_pb2.ListAliasHistoryRequest(parent=f"models/{model_id}")
    )
    assert [(c.from_version, c.to_version) for c in history.changes] == [
        (v1.name, v2.name),
        ("", v1.name),
    ]
    assert [c.sequence for c in history.changes] == [2, 1]
    at = Timestamp()
    at.FromDatetime(t_after_v1)
    then = await models.GetAlias(models_service_pb2.GetAliasRequest(name=champion, at_time=at))
    assert then.alias.version == v1.name
    now = await models.GetAlias(models_service_pb2.GetAliasRequest(name=champion))
    assert now.alias.version == v2.name
    then_alias = await sdk_models.alias_at(registry.client, model_id, "champion", t_after_v1)
    assert then_alias is not None
    assert then_alias.version == v1.name
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    assert await sdk_models.alias_at(registry.client, model_id, "champion", long_ago) is None
    assert len(await sdk_models.alias_history(registry.client, model_id, alias="champion")) == 2
    before = Timestamp()
    before.FromDatetime(long_ago)
    with pytest.raises(NotFound):
        await models.GetAlias(models_service_pb2.GetAliasRequest(name=champion, at_time=before))


async def test_concurrent_alias_moves_one_aborted(registry: Registry) -> None:
    model_id = await new_model(registry)
    versions = [
        await sdk_models.register_onnx(
            registry.client, model_id, onnx_bytes(), signature=signature()
        )
        for _ in range(3)
    ]
    created = await sdk_models.set_alias(registry.client, model_id, "challenger", 1)
    etag = created.alias.etag

    async def move(version: Any) -> Any:
        try:
            return await sdk_models.set_alias(
                registry.client, model_id, "challenger", version.name, etag=etag
            )
        except Aborted as exc:
            return exc

    results = await asyncio.gather(move(versions[1]), move(versions[2]))
    aborted = [r for r in results if isinstance(r, Aborted)]
    moved = [r for r in results if not isinstance(r, Aborted)]
    assert len(aborted) == 1
    assert len(moved) == 1
    current = await sdk_models.resolve_alias(registry.client, model_id, "challenger")
    assert current is not None
    assert current.name == moved[0].alias.version
    history = await registry.client.models.ListAliasHistory(
        models_service_pb2.ListAliasHistoryRequest(
            parent=f"models/{model_id}", filter='alias = "challenger"'
        )
    )
    assert len(history.changes) == 2


async def test_archive_restore_delete_refused_while_aliased(registry: Registry) -> None:
    model_id = await new_model(registry)
    v1 = await sdk_models.register_onnx(
        registry.client, model_id, onnx_bytes(), signature=signature()
    )
    models = registry.client.models
    await sdk_models.set_alias(registry.client, model_id, "staging", 1)
    with pytest.raises(FailedPrecondition) as refused:
        await models.DeleteModelVersion(models_service_pb2.DeleteModelVersionRequest(name=v1.name))
    assert refused.value.reason == "MODEL_VERSION_HAS_ALIASES"
    with pytest.raises(FailedPrecondition):
        await models.ArchiveModelVersion(
            models_service_pb2.ArchiveModelVersionRequest(name=v1.name)
        )
    await models.DeleteAlias(
        models_service_pb2.DeleteAliasRequest(name=f"models/{model_id}/aliases/staging")
    )
    archived = await models.ArchiveModelVersion(
        models_service_pb2.ArchiveModelVersionRequest(name=v1.name, reason="old")
    )
    assert archived.model_version.status == ARCHIVED
    with pytest.raises(FailedPrecondition):  # no alias on an archived version
        await sdk_models.set_alias(registry.client, model_id, "staging", 1)
    restored = await models.RestoreModelVersion(
        models_service_pb2.RestoreModelVersionRequest(name=v1.name)
    )
    assert restored.model_version.status == PENDING
    with pytest.raises(Aborted):
        await models.DeleteModelVersion(
            models_service_pb2.DeleteModelVersionRequest(name=v1.name, etag="stale")
        )
    await models.DeleteModelVersion(models_service_pb2.DeleteModelVersionRequest(name=v1.name))
    with pytest.raises(NotFound):
        await models.GetModelVersion(models_service_pb2.GetModelVersionRequest(name=v1.name))
    with pytest.raises(FailedPrecondition):
        await models.GetModelVersionDownloadUrl(
            models_service_pb2.GetModelVersionDownloadUrlRequest(name=v1.name)
        )
    model = await models.GetRegisteredModel(
        models_service_pb2.GetRegisteredModelRequest(name=f"models/{model_id}")
    )
    assert model.registered_model.version_count == 0
    v2 = await sdk_models.register_onnx(
        registry.client, model_id, onnx_bytes(), signature=signature()
    )
    assert v2.version == 2  # numbers are never reused


async def test_search_filters_order_and_pages(registry: Registry) -> None:
    model_id = await new_model(registry, "search")
    for i in range(7):
        await sdk_models.register_onnx(
            registry.client,
            model_id,
            onnx_bytes(),
            signature=signature(),
            metrics={"auc": 0.5 + i / 20},
            labels={"parity": "even" if i % 2 == 0 else "odd"},
            params={"depth": i},
        )
    models = registry.client.models
    await models.UpdateModelVersion(
        models_service_pb2.UpdateModelVersionRequest(
            model_version=model_version_pb2.ModelVersion(
                name=f"models/{model_id}/versions/7", description="best"
            ),
            update_mask=FieldMask(paths=["description"]),
        )
    )
    seen: list[str] = []
    token = ""
    while True:
        page = await models.SearchModelVersions(
            models_service_pb2.SearchModelVersionsRequest(
                registered_models=[f"models/{model_id}"],
                filter='labels.parity = "even" AND metrics.auc >= 0.6',
                order_by="metrics.auc desc",
                page_size=1,
                page_token=token,
            )
        )
        seen += [v.name for v in page.model_versions]
        token = page.next_page_token
        if not token:
            break
    # even i in {2, 4, 6} have auc >= 0.6: versions 3, 5, 7, best first.
    assert seen == [f"models/{model_id}/versions/{n}" for n in (7, 5, 3)]
    listed = await models.ListModelVersions(
        models_service_pb2.ListModelVersionsRequest(
            parent=f"models/{model_id}", filter="params.depth > 4 OR version = 1"
        )
    )
    assert [v.version for v in listed.model_versions] == [7, 6, 1]
    with pytest.raises(InvalidArgument):  # a token of another query
        await models.SearchModelVersions(
            models_service_pb2.SearchModelVersionsRequest(
                filter="version > 1", page_token=token or "eyJ2IjpbXSwicSI6IngifQ"
            )
        )


async def test_cli_commands(registry: Registry, tmp_path: Path) -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from gyre.cli.models import register

    model_id = await new_model(registry, "cli")
    v1 = await sdk_models.register_onnx(
        registry.client, model_id, onnx_bytes(), signature=signature(), metrics={"auc": 0.7}
    )
    app = typer.Typer()
    register(app)
    card = tmp_path / "card.md"
    card.write_text("# Intended use\nTesting.\n")
    env = {"GYRE_MODEL_REGISTRY_ADDRESS": registry.target, "GYRE_ACTOR": "cli-user"}

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(app, ["models", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    def run_all() -> dict[str, str]:
        return {
            "ls": invoke("ls"),
            "show": invoke("show", model_id, "--json"),
            "show_version": invoke("show", f"{model_id}/1"),
            "versions": invoke("versions", model_id, "--filter", "metrics.auc > 0.5"),
            "alias": invoke("alias", "set", model_id, "staging", "1", "--reason", "try"),
            "history": invoke("alias", "history", model_id),
            "lineage": invoke("lineage", f"{model_id}/1"),
            "card_default": invoke("card", model_id),
            "card": invoke("card", model_id, "--set", str(card)),
            "missing": CliRunner().invoke(app, ["models", "show", f"{model_id}/9"], env=env).output,
        }

    out = await asyncio.to_thread(run_all)
    assert f"models/{model_id}" in out["ls"]
    # The in-process server's access log shares stdout: decode the first JSON object.
    shown, _ = json.JSONDecoder().raw_decode(out["show"][out["show"].index("{\n") :])
    assert shown["name"] == f"models/{model_id}"
    assert "PENDING_VALIDATION" in out["show_version"]
    assert any(
        line.split()[:2] == ["1", "PENDING_VALIDATION"] for line in out["versions"].splitlines()
    )
    assert f"{v1.name}" in out["alias"]
    assert "cli-user" in out["history"]
    assert v1.name in out["lineage"]
    assert "## Limitations" in out["card_default"]
    assert "- auc: 0.7" in out["card_default"]
    assert "Intended use\nTesting." in out["card"]
    assert "NotFound" in out["missing"]
