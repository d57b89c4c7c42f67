"""`gyre` sub-commands of the validation gate.

- ``gyre validate VERSION [--dataset-version DV] [--wait] [--json]``
- ``gyre validations ls [--model M] [--verdict V] [--limit N] [--json]``
- ``gyre validations show NAME [--json] [--report [--format md|html|json]]``
- ``gyre policies show TARGET [--json]`` (TARGET: a model or ``default``)
- ``gyre policies set TARGET [--file policy.json] [--threshold accuracy>=0.7] ...``

``gyre validate --wait`` exits 0 when the verdict is PASSED, 1 when FAILED or ERROR.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from google.protobuf import json_format
from google.protobuf.message import Message

from gyre.sdk.client import GyreClient
from gyre.sdk.errors import GyreError
from gyre.sdk.validation import (
    build_policy,
    failed_checks,
    get_policy,
    get_report,
    get_validation,
    list_validations,
    set_policy,
    validate,
    verdict_name,
    wait_for_validation,
)
from gyre.validation.v1 import validation_pb2, validation_policy_pb2

__all__ = ["register"]

T = TypeVar("T")
_RULE = re.compile(r"^\s*([a-z_0-9]+)\s*(>=|<=|=)\s*([-+0-9.eE]+)\s*$")


@contextmanager
def _client() -> Iterator[GyreClient]:
    try:
        with GyreClient() as client:
            yield client
    except GyreError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


def _as_json(message: Message) -> str:
    return json_format.MessageToJson(message, indent=2, preserving_proto_field_name=True)


def _state(state: int) -> str:
    return validation_pb2.ValidationState.Name(state).removeprefix("VALIDATION_STATE_")


def _check_verdict(verdict: int) -> str:
    return validation_pb2.CheckVerdict.Name(verdict).removeprefix("CHECK_VERDICT_")


def _print_validation(v: validation_pb2.Validation) -> None:
    verdict = (
        verdict_name(v.verdict)
        if v.state == validation_pb2.VALIDATION_STATE_COMPLETED
        else _state(v.state)
    )
    typer.echo(f"{v.name}  {v.model_version}  {verdict}")
    if v.champion_version:
        typer.echo(f"  champion: {v.champion_version}")
    if v.dataset_version:
        typer.echo(f"  data:     {v.dataset_version} ({v.test_row_count} rows)")
    if v.error_message:
        typer.echo(f"  error:    {v.error_message}")
    for check in v.checks:
        observed = f"{check.observed_value:.4g}" if check.HasField("observed_value") else "-"
        threshold = f"{check.threshold:.4g}" if check.HasField("threshold") else "-"
        typer.echo(
            f"  [{_check_verdict(check.verdict):7}] {check.name}: observed {observed}, "
            f"threshold {threshold} - {check.message}"
        )


def _parse_rules(values: list[str], what: str) -> dict[str, float]:
    rules: dict[str, float] = {}
    for value in values:
        match = _RULE.match(value)
        if match is None:
            raise typer.BadParameter(f"{what}: expected METRIC>=VALUE (or =VALUE), got {value!r}")
        rules[match.group(1)] = float(match.group(3))
    return rules


def validate_command(
    version: Annotated[str, typer.Argument(help="models/{model}/versions/{version}")],
    dataset_version: Annotated[
        str, typer.Option(help="Evaluate on this dataset version instead of the policy's.")
    ] = "",
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the verdict.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits.")] = 900.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the validation as JSON.")] = False,
) -> None:
    """Validate a model version (the gate evaluates it on held-out data)."""
    with _client() as client:
        result = validate(client, version, dataset_version=dataset_version)
        if wait:
            result = wait_for_validation(client, result.name, timeout_s=timeout)
    if as_json:
        typer.echo(_as_json(result))
    else:
        _print_validation(result)
    if wait and result.verdict != validation_pb2.VALIDATION_VERDICT_PASSED:
        raise typer.Exit(1)


def ls_command(
    model: Annotated[str, typer.Option(help="Only this model's validations.")] = "",
    version: Annotated[str, typer.Option(help="Only this model version's validations.")] = "",
    verdict: Annotated[str, typer.Option(help="PASSED, FAILED or ERROR.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List validations, newest first."""
    terms = []
    if model:
        terms.append(
            f'registered_model = "{model if model.startswith("models/") else "models/" + model}"'
        )
    if version:
        terms.append(f'model_version = "{version}"')
    if verdict:
        terms.append(f"verdict = {verdict.upper()}")
    with _client() as client:
        page = list_validations(client, filter=" AND ".join(terms), page_size=limit)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    json_format.MessageToDict(v, preserving_proto_field_name=True)
                    for v in page.validations
                ],
                indent=2,
            )
        )
        return
    for v in page.validations:
        state = (
            verdict_name(v.verdict)
            if v.state == validation_pb2.VALIDATION_STATE_COMPLETED
            else _state(v.state)
        )
        failed = ", ".join(c.name for c in failed_checks(v))
        typer.echo(f"{v.name}  {v.model_version}  {state}" + (f"  ({failed})" if failed else ""))


def show_command(
    name: Annotated[str, typer.Argument(help="validations/{validation}")],
    report: Annotated[bool, typer.Option("--report", help="Print the rendered report.")] = False,
    fmt: Annotated[
        str, typer.Option("--format", help="Report format: markdown, html, json.")
    ] = "markdown",
    as_json: Annotated[bool, typer.Option("--json", help="Print the validation as JSON.")] = False,
) -> None:
    """Show a validation: every check with observed value, threshold and verdict."""
    if not name.startswith("validations/"):
        name = f"validations/{name}"
    with _client() as client:
        if report:
            typer.echo(get_report(client, name, format=fmt))
            return
        result = get_validation(client, name)
    if as_json:
        typer.echo(_as_json(result))
    else:
        _print_validation(result)


def policies_show_command(
    target: Annotated[str, typer.Argument(help="A model (fraud, models/fraud) or 'default'.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the validation policy in force for a model (or the default policy)."""
    with _client() as client:
        policy, is_default = get_policy(client, target)
    if as_json:
        data = json_format.MessageToDict(policy, preserving_proto_field_name=True)
        typer.echo(json.dumps({"policy": data, "is_default": is_default}, indent=2))
        return
    typer.echo(f"{policy.name}" + ("  (the default policy)" if is_default else ""))
    typer.echo(_as_json(policy))


def policies_set_command(
    target: Annotated[str, typer.Argument(help="A model (fraud, models/fraud) or 'default'.")],
    file: Annotated[
        Path | None,
        typer.Option(help="A whole policy as proto3 JSON (replaces every rule)."),
    ] = None,
    threshold: Annotated[
        list[str], typer.Option(help="Absolute threshold, e.g. 'accuracy>=0.7' (repeatable).")
    ] = [],  # noqa: B006 - typer reads the default
    max_drop: Annotated[
        list[str], typer.Option(help="Non-regression: largest absolute drop, 'accuracy=0.01'.")
    ] = [],  # noqa: B006
    max_relative_drop: Annotated[
        list[str], typer.Option(help="Non-regression: largest relative drop, 'rmse=0.05'.")
    ] = [],  # noqa: B006
    min_test_rows: Annotated[int | None, typer.Option(help="Minimum evaluation rows.")] = None,
    leakage: Annotated[
        bool | None, typer.Option("--leakage/--no-leakage", help="Leakage check.")
    ] = None,
    allow_breaking_signature: Annotated[
        bool | None,
        typer.Option("--allow-breaking-signature/--no-allow-breaking-signature"),
    ] = None,
    p95_single_row_ms: Annotated[float | None, typer.Option(help="Latency budget, ms.")] = None,
    p95_batch_ms: Annotated[float | None, typer.Option(help="Latency budget, ms.")] = None,
    holdout: Annotated[str | None, typer.Option(help="Hold-out dataset version.")] = None,
    etag: Annotated[str, typer.Option(help="Compare-and-set against this etag.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Set (or create) a model's validation policy, or the default policy."""
    with _client() as client:
        if file is not None:
            policy = json_format.Parse(file.read_text(), validation_policy_pb2.ValidationPolicy())
            result = set_policy(client, target, policy, etag=etag)
        else:
            rules: dict[str, Any] = {}
            if threshold:
                rules["thresholds"] = _parse_rules(threshold, "--threshold")
            if max_drop or max_relative_drop:
                rules["max_drop"] = _parse_rules(max_drop, "--max-drop")
                rules["max_relative_drop"] = _parse_rules(max_relative_drop, "--max-relative-drop")
            for key, value in (
                ("min_test_rows", min_test_rows),
                ("leakage_check", leakage),
                ("allow_breaking_signature_change", allow_breaking_signature),
                ("p95_single_row_ms", p95_single_row_ms),
                ("p95_batch_ms", p95_batch_ms),
                ("holdout_dataset_version", holdout),
            ):
                if value is not None:
                    rules[key] = value
            if not rules:
                raise typer.BadParameter("nothing to set: pass --file or at least one rule option")
            policy, mask = build_policy(**rules)
            result = set_policy(client, target, policy, update_mask=mask, etag=etag)
    typer.echo(_as_json(result) if as_json else f"updated {result.name} (etag {result.etag})")


def _group(name: str, help: str, commands: dict[str, Callable[..., None]]) -> typer.Typer:
    group = typer.Typer(name=name, help=help, no_args_is_help=True)
    for command, function in commands.items():
        group.command(command)(function)
    return group


def register(app: typer.Typer) -> None:
    """Add this domain's commands to ``app``."""
    app.command("validate")(validate_command)
    app.add_typer(
        _group(
            "validations",
            "Validations of model versions by the validation gate.",
            {"ls": ls_command, "show": show_command},
        )
    )
    app.add_typer(
        _group(
            "policies",
            "Validation policies (per model, and the default).",
            {"show": policies_show_command, "set": policies_set_command},
        )
    )
