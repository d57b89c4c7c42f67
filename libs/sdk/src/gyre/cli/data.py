"""``gyre data``: push, list, show, diff and pull dataset versions.

::

    gyre data push electricity.csv --dataset elec2 --target class --split 0.7,0.15,0.15
    gyre data ls                      # datasets
    gyre data ls elec2                # versions of a dataset
    gyre data show datasets/elec2/versions/latest --json
    gyre data diff datasets/elec2/versions/1 datasets/elec2/versions/2
    gyre data pull datasets/elec2/versions/2 ./elec2
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

__all__ = ["register"]

T = TypeVar("T")

data_app = typer.Typer(
    name="data",
    help="Dataset versions: push, ls, show, diff, pull.",
    no_args_is_help=True,
)


@contextmanager
def _client() -> Iterator[Any]:
    from gyre.sdk import GyreClient

    with GyreClient(timeout=None) as client:
        yield client


def _run(work: Callable[[], T]) -> T:
    from gyre.sdk.errors import GyreError

    try:
        return work()
    except GyreError as err:
        typer.echo(f"error: {type(err).__name__}: {err}", err=True)
        raise typer.Exit(1) from err


def _version_name(text: str) -> str:
    """Accept ``datasets/x/versions/3``, ``x/3`` or ``x`` (latest)."""
    if text.startswith("datasets/"):
        return text
    if "/" in text:
        dataset, version = text.split("/", 1)
        return f"datasets/{dataset}/versions/{version}"
    return f"datasets/{text}/versions/latest"


def _parse_split(text: str) -> tuple[float, float, float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise typer.BadParameter(
            f"expected three numbers like 0.7,0.15,0.15, got {text!r}"
        ) from exc
    if len(values) != 3:
        raise typer.BadParameter(f"expected three fractions (train,validation,test), got {text!r}")
    return values[0], values[1], values[2]


def _to_json(message: Any) -> str:
    from google.protobuf.json_format import MessageToDict

    return json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2)


@data_app.command("push")
def push_command(
    path: Annotated[Path, typer.Argument(help="A CSV / Parquet file or a directory.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset id, e.g. elec2.")],
    target: Annotated[str | None, typer.Option(help="Label column.")] = None,
    split: Annotated[
        str, typer.Option(help="train,validation,test fractions summing to 1.")
    ] = "0.7,0.15,0.15",
    split_key: Annotated[
        str | None, typer.Option(help="Column whose value decides a row's split.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Split hash seed.")] = 0,
    message: Annotated[str, typer.Option("--message", "-m", help="Commit message.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the version as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Wait until a large version is profiled (READY); --no-wait returns once "
            "it is committed (PROFILING).",
        ),
    ] = True,
) -> None:
    """Push PATH as a new version of a dataset (only new chunks are uploaded)."""
    from gyre.sdk import data
    from gyre.sdk.errors import InvalidArgument

    fractions = _parse_split(split)
    if not path.exists():
        typer.echo(f"error: {path} does not exist", err=True)
        raise typer.Exit(2)
    stats = data.PushStats()
    with _client() as client:
        try:
            version = _run(
                lambda: data.push(
                    client,
                    path,
                    dataset=dataset,
                    target=target,
                    split=fractions,
                    split_key=split_key,
                    seed=seed,
                    description=message,
                    progress=not quiet and not as_json,
                    stats=stats,
                    wait=wait,
                )
            )
        except InvalidArgument as err:  # raised locally, before any RPC
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from err
    if as_json:
        typer.echo(_to_json(version))
        return
    from gyre.data.v1 import dataset_pb2

    state = dataset_pb2.DatasetVersionState.Name(version.state).removeprefix(
        "DATASET_VERSION_STATE_"
    )
    typer.echo(
        f"{version.name}  {state}  {version.digest[:19]}  {version.row_count} rows  "
        f"uploaded {stats.uploaded_bytes} of {stats.total_bytes} bytes"
    )


@data_app.command("ls")
def ls_command(
    dataset: Annotated[
        str | None, typer.Argument(help="List this dataset's versions (default: datasets).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List datasets, or the versions of one dataset (newest first)."""
    from gyre.sdk import data

    with _client() as client:
        if dataset is None:
            datasets = _run(lambda: data.list_datasets(client))
            if as_json:
                typer.echo(json.dumps([json.loads(_to_json(d)) for d in datasets], indent=2))
                return
            for d in datasets:
                typer.echo(
                    f"{d.name}  {d.version_count} version(s)  latest {d.latest_version or '-'}"
                )
            return
        versions = _run(lambda: data.list_versions(client, dataset))
    if as_json:
        typer.echo(json.dumps([json.loads(_to_json(v)) for v in versions], indent=2))
        return
    for v in versions:
        splits = "/".join(str(s.row_count) for s in v.split_stats)
        typer.echo(
            f"{v.name}  {v.digest[:19]}  {v.row_count} rows  splits {splits or '-'}  "
            f"{v.create_time.ToJsonString()}  {v.description}"
        )


@data_app.command("show")
def show_command(
    version: Annotated[str, typer.Argument(help="datasets/x/versions/N, x/N or x (latest).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the version as JSON.")] = False,
) -> None:
    """Show a version: schema, row count, splits and per-column profiles."""
    from gyre.common.v1 import schema_pb2, split_pb2
    from gyre.sdk import data

    with _client() as client:
        v = _run(lambda: data.get_version(client, _version_name(version)))
    if as_json:
        typer.echo(_to_json(v))
        return
    typer.echo(f"{v.name}\n  digest  {v.digest}\n  rows    {v.row_count}")
    typer.echo(
        f"  target  {v.target_column or '-'}\n  parents {', '.join(v.parent_versions) or '-'}"
    )
    for s in v.split_stats:
        name = split_pb2.Split.Name(s.split).removeprefix("SPLIT_").lower()
        typer.echo(f"  split   {name:<10} {s.row_count} rows  {s.key_digest[:23]}")
    profiles = {p.column: p for p in v.column_profiles}
    for c in v.schema.columns:
        kind = schema_pb2.LogicalType.Name(c.logical_type).removeprefix("LOGICAL_TYPE_").lower()
        p = profiles.get(c.name)
        detail = ""
        if p is not None and p.HasField("numeric"):
            detail = f"min {p.numeric.min:g} max {p.numeric.max:g} mean {p.numeric.mean:g}"
        elif p is not None and p.HasField("categorical"):
            top = ", ".join(f"{t.value}={t.count}" for t in p.categorical.top_categories[:3])
            detail = f"{p.categorical.distinct_estimate} distinct; {top}"
        nulls = p.null_count if p is not None else 0
        typer.echo(f"  column  {c.name:<20} {kind:<11} nulls {nulls:<6} {detail}")


@data_app.command("diff")
def diff_command(
    base: Annotated[str, typer.Argument(help="Base version.")],
    target: Annotated[str, typer.Argument(help="Target version.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compare two versions: files, schema, rows and per-column PSI."""
    from gyre.data.v1 import data_service_pb2 as ds
    from gyre.sdk import data

    with _client() as client:
        result = _run(lambda: data.diff(client, _version_name(base), _version_name(target)))
    if as_json:
        typer.echo(_to_json(result))
        return
    for f in result.file_changes:
        kind = ds.FileChangeKind.Name(f.kind).removeprefix("FILE_CHANGE_KIND_").lower()
        typer.echo(f"file    {kind:<9} {f.path}")
    for c in result.column_changes:
        kind = ds.ColumnChangeKind.Name(c.kind).removeprefix("COLUMN_CHANGE_KIND_").lower()
        typer.echo(f"column  {kind:<9} {c.column}")
    typer.echo(
        f"rows    {result.base_row_count} -> {result.target_row_count} "
        f"({result.row_count_delta:+d}); new chunk bytes {result.new_chunk_bytes}"
    )
    for d in result.column_drifts:
        typer.echo(f"psi     {d.column:<20} {d.psi:.4f}")


@data_app.command("pull")
def pull_command(
    version: Annotated[str, typer.Argument(help="Version to download.")],
    dest: Annotated[Path, typer.Argument(help="Directory to write the files into.")],
) -> None:
    """Download a version's files, verifying every chunk's SHA-256."""
    from gyre.sdk import data

    with _client() as client:
        paths = _run(lambda: data.pull(client, _version_name(version), dest))
    for p in paths:
        typer.echo(str(p))


def register(app: typer.Typer) -> None:
    """Add ``gyre data ...`` to ``app``."""
    app.add_typer(data_app, name="data")
