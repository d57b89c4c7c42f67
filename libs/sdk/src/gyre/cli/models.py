"""``gyre models``: registered models, versions, aliases, lineage and model cards.

::

    gyre models ls
    gyre models show fraud --json           # a model; fraud/3 or fraud/champion: a version
    gyre models versions fraud --filter 'status = VALIDATED' --order-by 'metrics.auc desc'
    gyre models lineage fraud/3 --direction up
    gyre models alias set fraud champion 3 --reason "better AUC"
    gyre models alias history fraud --alias champion
    gyre models card fraud                   # print; --set card.md to replace it
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

__all__ = ["register"]

T = TypeVar("T")

models_app = typer.Typer(
    name="models",
    help="Model registry: ls, show, versions, lineage, alias set|history, card.",
    no_args_is_help=True,
)
alias_app = typer.Typer(name="alias", help="Aliases: set, history.", no_args_is_help=True)
models_app.add_typer(alias_app)

_STATUS_PREFIX = "MODEL_VERSION_STATUS_"


@contextmanager
def _client() -> Iterator[Any]:
    from gyre.sdk import GyreClient

    with GyreClient() as client:
        yield client


def _run(work: Callable[[], T]) -> T:
    from gyre.sdk.errors import GyreError

    try:
        return work()
    except GyreError as err:
        typer.echo(f"error: {type(err).__name__}: {err}", err=True)
        raise typer.Exit(1) from err


def _to_dict(message: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    result: dict[str, Any] = MessageToDict(message, preserving_proto_field_name=True)
    return result


def _echo_json(message: Any) -> None:
    typer.echo(json.dumps(_to_dict(message), indent=2))


def _model_name(text: str) -> str:
    return text if text.startswith("models/") else f"models/{text}"


def _version_name(text: str) -> str:
    """``models/m/versions/3``, ``m/3`` or ``m/champion``."""
    if text.startswith("models/"):
        return text
    model, _, version = text.partition("/")
    return f"models/{model}/versions/{version}"


def _status(value: int) -> str:
    from gyre.models.v1 import model_version_pb2

    return model_version_pb2.ModelVersionStatus.Name(value).removeprefix(_STATUS_PREFIX)


def _when(ts: Any) -> str:
    return str(ts.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")) if ts.seconds else ""


@models_app.command("ls")
def ls_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List registered models."""
    from gyre.models.v1 import models_service_pb2

    def work() -> None:
        with _client() as gyre:
            token = ""
            models = []
            while True:
                page = gyre.models.ListRegisteredModels(
                    models_service_pb2.ListRegisteredModelsRequest(page_token=token, page_size=200)
                )
                models += list(page.registered_models)
                token = page.next_page_token
                if not token:
                    break
        if as_json:
            typer.echo(json.dumps([_to_dict(m) for m in models], indent=2))
            return
        for model in models:
            aliases = ", ".join(
                f"{a}→{v.rsplit('/', 1)[-1]}" for a, v in sorted(model.aliases.items())
            )
            typer.echo(
                f"{model.name:<32} versions={model.version_count:<5} "
                f"latest={model.latest_version.rsplit('/', 1)[-1] or '-':<5} {aliases}"
            )

    _run(work)


@models_app.command("show")
def show_command(
    name: Annotated[
        str, typer.Argument(help="Model (fraud) or version (fraud/3, fraud/champion).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a registered model or one of its versions."""
    from gyre.models.v1 import models_service_pb2

    is_version = "/versions/" in name or (not name.startswith("models/") and "/" in name)

    def work() -> None:
        with _client() as gyre:
            if is_version:
                message: Any = gyre.models.GetModelVersion(
                    models_service_pb2.GetModelVersionRequest(name=_version_name(name))
                ).model_version
            else:
                message = gyre.models.GetRegisteredModel(
                    models_service_pb2.GetRegisteredModelRequest(name=_model_name(name))
                ).registered_model
        if as_json:
            _echo_json(message)
        elif is_version:
            typer.echo(f"{message.name}  {_status(message.status)}  {message.status_message}")
            typer.echo(f"  artifact   {message.artifact.uri} sha256={message.artifact.sha256}")
            typer.echo(f"  run        {message.source_run or '-'}")
            typer.echo(f"  data       {message.dataset_version or '-'} {message.dataset_digest}")
            typer.echo(f"  aliases    {', '.join(message.aliases) or '-'}")
            metrics = ", ".join(f"{m.name}={m.value:.4g}" for m in message.metrics)
            typer.echo(f"  metrics    {metrics or '-'}")
            typer.echo(f"  created    {_when(message.create_time)} by {message.creator}")
        else:
            typer.echo(f"{message.name}  ({message.version_count} versions)")
            typer.echo(f"  owner      {message.owner or '-'}")
            typer.echo(f"  latest     {message.latest_version or '-'}")
            for alias, version in sorted(message.aliases.items()):
                typer.echo(f"  alias      {alias} → {version}")
            if message.description:
                typer.echo(f"  {message.description}")

    _run(work)


@models_app.command("versions")
def versions_command(
    model: Annotated[str, typer.Argument(help="Model, e.g. fraud.")],
    filter_: Annotated[
        str,
        typer.Option("--filter", help='AIP-160, e.g. status = VALIDATED AND labels.team = "risk".'),
    ] = "",
    order_by: Annotated[str, typer.Option("--order-by", help="e.g. 'metrics.auc desc'.")] = "",
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List a model's versions, newest first (or as ordered)."""
    from gyre.models.v1 import models_service_pb2

    def work() -> None:
        with _client() as gyre:
            token = ""
            versions: list[Any] = []
            while len(versions) < limit:
                page = gyre.models.ListModelVersions(
                    models_service_pb2.ListModelVersionsRequest(
                        parent=_model_name(model),
                        filter=filter_,
                        order_by=order_by,
                        page_size=min(limit - len(versions), 1000),
                        page_token=token,
                    )
                )
                versions += list(page.model_versions)
                token = page.next_page_token
                if not token:
                    break
        if as_json:
            typer.echo(json.dumps([_to_dict(v) for v in versions], indent=2))
            return
        for v in versions:
            metrics = " ".join(f"{m.name}={m.value:.4g}" for m in v.metrics)
            aliases = ",".join(v.aliases)
            typer.echo(
                f"{v.version:>5}  {_status(v.status):<18} {_when(v.create_time)}  "
                f"{v.source_run or 'manual':<24} {aliases:<20} {metrics}"
            )

    _run(work)


@models_app.command("lineage")
def lineage_command(
    name: Annotated[str, typer.Argument(help="fraud/3, runs/abc, datasets/d/versions/2, ...")],
    direction: Annotated[str, typer.Option(help="up, down or both.")] = "both",
    depth: Annotated[int, typer.Option(help="Hops from the start (1-10).")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the lineage graph around a resource as trees (upstream and downstream)."""
    from gyre.models.v1 import lineage_pb2, models_service_pb2

    directions = {
        "up": lineage_pb2.LINEAGE_DIRECTION_UPSTREAM,
        "down": lineage_pb2.LINEAGE_DIRECTION_DOWNSTREAM,
        "both": lineage_pb2.LINEAGE_DIRECTION_BOTH,
    }
    if direction not in directions:
        raise typer.BadParameter("direction is up, down or both")
    prefixes = (
        "models/",
        "runs/",
        "datasets/",
        "validations/",
        "deployments/",
        "triggers/",
        "events/",
    )
    start = name if name.startswith(prefixes) else _version_name(name)

    def work() -> None:
        with _client() as gyre:
            graph = gyre.models.GetLineage(
                models_service_pb2.GetLineageRequest(
                    name=start, direction=directions[direction], depth=depth
                )
            )
        if as_json:
            _echo_json(graph)
            return
        typer.echo(render_lineage(graph, start, direction))

    _run(work)


def render_lineage(graph: Any, start: str, direction: str = "both") -> str:
    """The lineage graph as indented trees rooted at ``start``: inputs (``⬑``) and
    outputs (``↳``)."""
    from gyre.models.v1 import lineage_pb2

    nodes = {n.name: n for n in graph.nodes}
    parents: dict[str, list[tuple[str, int]]] = defaultdict(list)
    children: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for edge in graph.edges:
        parents[edge.target].append((edge.source, edge.relation))
        children[edge.source].append((edge.target, edge.relation))

    def label(name: str, relation: int) -> str:
        node = nodes.get(name)
        attrs = (
            " ".join(f"{k}={v}" for k, v in sorted(node.attributes.items()) if v) if node else ""
        )
        rel = lineage_pb2.LineageRelation.Name(relation).removeprefix("LINEAGE_RELATION_").lower()
        return f"{name} [{rel}]" + (f"  {attrs}" if attrs else "")

    lines = [label(start, 0).replace(" [unspecified]", "")]

    def walk(
        name: str, table: dict[str, list[tuple[str, int]]], prefix: str, mark: str, seen: set[str]
    ) -> None:
        for other, relation in sorted(table.get(name, [])):
            lines.append(f"{prefix}{mark} {label(other, relation)}")
            if other not in seen:
                walk(other, table, prefix + "   ", mark, seen | {other})

    if direction in {"up", "both"}:
        walk(start, parents, "  ", "⬑", {start})
    if direction in {"down", "both"}:
        walk(start, children, "  ", "↳", {start})
    if graph.truncated:
        lines.append("  … (truncated; raise --depth)")
    return "\n".join(lines)


@alias_app.command("set")
def alias_set_command(
    model: Annotated[str, typer.Argument(help="Model, e.g. fraud.")],
    alias: Annotated[str, typer.Argument(help="Alias, e.g. champion.")],
    version: Annotated[str, typer.Argument(help="Version number (or full name).")],
    etag: Annotated[str, typer.Option(help="Expected current etag (compare-and-set).")] = "",
    reason: Annotated[str, typer.Option(help="Why (recorded in the history).")] = "",
    override: Annotated[
        bool, typer.Option("--override", help="Override protection (needs --reason).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create or move an alias."""
    from gyre.sdk.models import set_alias

    def work() -> None:
        with _client() as gyre:
            response = set_alias(
                gyre, model, alias, version, etag=etag, reason=reason, override_protection=override
            )
        if as_json:
            _echo_json(response)
            return
        change = response.change
        moved = (
            f"{change.from_version or '(new)'} → {change.to_version}"
            if change.alias
            else "unchanged"
        )
        typer.echo(
            f"{response.alias.name} → {response.alias.version} ({moved}) etag={response.alias.etag}"
        )

    _run(work)


@alias_app.command("history")
def alias_history_command(
    model: Annotated[str, typer.Argument(help="Model, e.g. fraud.")],
    alias: Annotated[str, typer.Option(help="Only this alias.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many changes.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every change of a model's aliases, newest first."""
    from gyre.models.v1 import models_service_pb2

    def work() -> None:
        with _client() as gyre:
            changes: list[Any] = []
            token = ""
            while len(changes) < limit:
                page = gyre.models.ListAliasHistory(
                    models_service_pb2.ListAliasHistoryRequest(
                        parent=_model_name(model),
                        filter=f'alias = "{alias}"' if alias else "",
                        page_size=min(limit - len(changes), 1000),
                        page_token=token,
                    )
                )
                changes += list(page.changes)
                token = page.next_page_token
                if not token:
                    break
        if as_json:
            typer.echo(json.dumps([_to_dict(c) for c in changes], indent=2))
            return
        for c in changes:
            override = " OVERRIDE" if c.override_protection else ""
            typer.echo(
                f"#{c.sequence:<4} {_when(c.change_time)}  {c.alias.rsplit('/', 1)[-1]:<12} "
                f"{c.from_version.rsplit('/', 1)[-1] or '-':>4} → "
                f"{c.to_version.rsplit('/', 1)[-1] or '-':<4} by {c.actor or '-'}{override}"
                f"  {c.reason}{'  cause=' + c.cause if c.cause else ''}"
            )

    _run(work)


@models_app.command("card")
def card_command(
    model: Annotated[str, typer.Argument(help="Model, e.g. fraud.")],
    set_: Annotated[
        Path | None, typer.Option("--set", help="Replace the card with this Markdown file.")
    ] = None,
) -> None:
    """Print a model's card (Markdown), or replace it with ``--set FILE``."""
    from google.protobuf.field_mask_pb2 import FieldMask

    from gyre.models.v1 import models_service_pb2, registered_model_pb2

    def work() -> None:
        with _client() as gyre:
            if set_ is not None:
                gyre.models.UpdateRegisteredModel(
                    models_service_pb2.UpdateRegisteredModelRequest(
                        registered_model=registered_model_pb2.RegisteredModel(
                            name=_model_name(model), model_card=set_.read_text()
                        ),
                        update_mask=FieldMask(paths=["model_card"]),
                    )
                )
            current = gyre.models.GetRegisteredModel(
                models_service_pb2.GetRegisteredModelRequest(name=_model_name(model))
            ).registered_model
            latest = None
            if not current.model_card and current.latest_version:
                latest = gyre.models.GetModelVersion(
                    models_service_pb2.GetModelVersionRequest(name=current.latest_version)
                ).model_version
        typer.echo(current.model_card or default_card(current, latest))

    _run(work)


def default_card(model: Any, latest: Any | None) -> str:
    """A model card skeleton (Markdown) for a model that has none yet, filled with what
    the registry knows; replace it with ``gyre models card MODEL --set card.md``."""
    lines = [
        f"# {model.display_name or model.name}",
        "",
        "_No model card yet: this skeleton is generated from the registry._",
        "",
        "## Intended use",
        "",
        model.description or "(describe who should use this model, and for what)",
        "",
        "## Limitations",
        "",
        "(known failure modes, data it was not trained on, fairness caveats)",
        "",
        "## Metrics",
        "",
    ]
    if latest is None:
        lines.append("(no versions registered)")
    else:
        lines.append(
            f"Latest version `{latest.name}` ({_status(latest.status)}), trained on "
            f"`{latest.dataset_version or 'unknown data'}` by `{latest.source_run or 'manual'}`:"
        )
        lines.append("")
        lines += [f"- {m.name}: {m.value:.4g}" for m in latest.metrics] or ["- (none reported)"]
    if model.aliases:
        lines += ["", "## Aliases", ""]
        lines += [f"- {alias}: `{version}`" for alias, version in sorted(model.aliases.items())]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add ``gyre models ...`` to ``app``."""
    app.add_typer(models_app)
