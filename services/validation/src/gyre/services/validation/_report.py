"""Human-readable validation reports: Markdown (stored as an artifact), HTML, JSON.

Every check is listed with its observed value, comparator, threshold, verdict and
explanation; then the metrics of the candidate and the champion on the same rows,
slices, latency, and a confusion matrix (classifiers) or a residual summary
(regressors).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format

from gyre.common.v1 import split_pb2
from gyre.validation.v1 import validation_pb2 as v_pb2
from gyre.validation.v1 import validation_policy_pb2 as policy_pb2

__all__ = ["render_html", "render_json", "render_markdown"]


def _verdict(verdict: int) -> str:
    return v_pb2.ValidationVerdict.Name(verdict).removeprefix("VALIDATION_VERDICT_")


def _check_verdict(verdict: int) -> str:
    return v_pb2.CheckVerdict.Name(verdict).removeprefix("CHECK_VERDICT_")


def _kind(kind: int) -> str:
    return v_pb2.CheckKind.Name(kind).removeprefix("CHECK_KIND_").lower()


def _comparator(comparator: int) -> str:
    if comparator == policy_pb2.COMPARATOR_GE:
        return ">="
    if comparator == policy_pb2.COMPARATOR_LE:
        return "<="
    return ""


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4f}"


def _split(split: int) -> str:
    return split_pb2.Split.Name(split).removeprefix("SPLIT_").lower()


def _rows(
    validation: v_pb2.Validation, extras: Mapping[str, Any]
) -> list[tuple[str, list[list[str]]]]:
    """The report as titled tables of plain-text cells (shared by Markdown and HTML)."""
    sections: list[tuple[str, list[list[str]]]] = []
    summary = [
        ["field", "value"],
        ["verdict", _verdict(validation.verdict)],
        ["candidate", validation.model_version],
        ["champion", validation.champion_version or "(none)"],
        ["dataset version", validation.dataset_version or "(unknown)"],
        ["split", _split(validation.split)],
        ["rows evaluated", str(validation.test_row_count)],
        ["duration", f"{validation.duration.ToTimedelta().total_seconds():.2f} s"],
        ["policy", validation.policy.name or "-"],
        ["cause", validation.cause],
    ]
    if validation.error_message:
        summary.append(["error", validation.error_message])
    if extras.get("task"):
        summary.append(["task", str(extras["task"])])
    sections.append(("Summary", summary))
    checks = [["check", "kind", "observed", "comparator", "threshold", "verdict", "detail"]]
    for check in validation.checks:
        checks.append(
            [
                check.name,
                _kind(check.kind),
                _num(check.observed_value) if check.HasField("observed_value") else "-",
                _comparator(check.comparator) or "-",
                _num(check.threshold) if check.HasField("threshold") else "-",
                _check_verdict(check.verdict),
                check.message,
            ]
        )
    sections.append(("Checks", checks))
    cand = {m.name: m.value for m in validation.candidate_metrics}
    champ = {m.name: m.value for m in validation.champion_metrics}
    if cand or champ:
        table = [["metric", "candidate", "champion", "difference"]]
        for name in sorted(cand.keys() | champ.keys()):
            c, h = cand.get(name), champ.get(name)
            diff = _num(c - h) if c is not None and h is not None else "-"
            table.append([name, _num(c), _num(h), diff])
        sections.append(("Metrics (same rows)", table))
    slices = extras.get("slices") or []
    if slices:
        table = [["slice", "metric", "rows", "candidate", "champion"]]
        for entry in slices:
            table.append(
                [
                    str(entry.get("name")),
                    str(entry.get("metric")),
                    str(entry.get("rows")),
                    _num(entry.get("candidate")),
                    _num(entry.get("champion")),
                ]
            )
        sections.append(("Slices", table))
    for key, title in (
        ("confusion_matrix", "Confusion matrix (candidate; rows: true, columns: predicted)"),
        ("champion_confusion_matrix", "Confusion matrix (champion)"),
    ):
        matrix = extras.get(key)
        if matrix:
            labels: Sequence[str] = matrix["labels"]
            table = [["true \\ predicted", *labels]]
            for label, counts in zip(labels, matrix["counts"], strict=True):
                table.append([label, *(str(c) for c in counts)])
            sections.append((title, table))
    for key, title in (
        ("residuals", "Residuals (candidate; prediction - truth)"),
        ("champion_residuals", "Residuals (champion)"),
    ):
        residuals = extras.get(key)
        if residuals:
            table = [["statistic", "value"]]
            table += [[name, _num(value)] for name, value in residuals.items()]
            sections.append((title, table))
    latency = extras.get("latency") or {}
    if latency:
        table = [["measurement", "rows per call", "calls", "p50 ms", "p95 ms"]]
        for name, entry in latency.items():
            table.append(
                [
                    name.replace("_", " "),
                    str(entry.get("rows", 1)),
                    str(entry.get("runs")),
                    f"{entry.get('p50_ms', math.nan):.3f}",
                    f"{entry.get('p95_ms', math.nan):.3f}",
                ]
            )
        sections.append(("Latency (ONNX Runtime on the gate's machine)", table))
    return sections


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(validation: v_pb2.Validation, extras: Mapping[str, Any]) -> str:
    """The report as Markdown."""
    lines = [f"# Validation {validation.name}", ""]
    lines.append(
        f"**{_verdict(validation.verdict)}** — candidate `{validation.model_version}`"
        + (
            f" against champion `{validation.champion_version}`"
            if validation.champion_version
            else ""
        )
    )
    lines.append("")
    for title, table in _rows(validation, extras):
        lines += [f"## {title}", ""]
        header, *body = table
        lines.append("| " + " | ".join(_md_cell(c) for c in header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in body]
        lines.append("")
    return "\n".join(lines)


def render_html(validation: v_pb2.Validation, extras: Mapping[str, Any]) -> str:
    """The report as a standalone HTML page."""
    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html><head><meta charset="utf-8">',
        f"<title>Validation {esc(validation.name)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        ".PASSED{color:#1a7f37}.FAILED{color:#cf222e}.ERROR{color:#9a6700}"
        ".SKIPPED{color:#57606a}</style></head><body>",
        f"<h1>Validation {esc(validation.name)}</h1>",
        f'<p class="{_verdict(validation.verdict)}"><strong>{_verdict(validation.verdict)}'
        f"</strong> — candidate <code>{esc(validation.model_version)}</code></p>",
    ]
    for title, table in _rows(validation, extras):
        header, *body = table
        parts.append(f"<h2>{esc(title)}</h2><table>")
        parts.append("<tr>" + "".join(f"<th>{esc(c)}</th>" for c in header) + "</tr>")
        for row in body:
            cells = []
            for cell in row:
                klass = (
                    f' class="{cell}"' if cell in ("PASSED", "FAILED", "ERROR", "SKIPPED") else ""
                )
                cells.append(f"<td{klass}>{esc(cell)}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_json(validation: v_pb2.Validation) -> str:
    """The Validation message in proto3 JSON."""
    return json_format.MessageToJson(validation, indent=2)
