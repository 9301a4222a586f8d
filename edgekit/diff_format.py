"""Render an `edgekit.check/v1` document (edgekit.diff) for people and for CI.

  text      a table that fits 100 columns, then the failed budgets
  markdown  a pull-request comment: status line, one table, failed budgets, link to the full report;
            starts with a hidden marker so a workflow can find and update its own comment, and is cut
            to stay under GitHub's 65,536-character comment limit
  json      the document itself
  github    workflow commands (`::error` / `::notice`) for each failed budget, then the text table
"""
from __future__ import annotations

import json
from typing import Any, Optional

MARKER = "<!-- edgekit-check -->"
COMMENT_LIMIT = 60_000  # GitHub refuses comments over 65,536 characters; keep a margin
FORMATS = ("text", "markdown", "json", "github")


def _kb(value: Optional[float]) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:,.1f} KB" if abs(value) >= 1000 else f"{value:,.0f} B"


def _signed_kb(value: Optional[float]) -> str:
    if value is None:
        return ""
    return ("+" if value > 0 else "−" if value < 0 else "±") + _kb(abs(value))


def _relative(change: Optional[dict[str, Any]]) -> str:
    if not change or change.get("relative") is None:
        return ""
    pct = 100 * change["relative"]
    return f"{'+' if pct > 0 else '−' if pct < 0 else '±'}{abs(pct):.1f} %"


def size_cell(change: Optional[dict[str, Any]], *, with_delta: bool) -> str:
    if not change:
        return "–"
    if change["current"] is None:
        return "–"  # not built now (a removed artifact shows its old size in its own row)
    text = _kb(change["current"])
    if with_delta and change.get("change") is not None:
        relative = _relative(change)
        text += (f" ({_signed_kb(change['change'])}" + (f", {relative}" if relative else "") + ")") if change["change"] \
            else " (±0)"
    return text


def accuracy_cell(change: Optional[dict[str, Any]], *, with_delta: bool) -> str:
    if not change or (change["current"] is None and change["base"] is None):
        return "–"
    value = change["current"] if change["current"] is not None else change["base"]
    text = f"{value:.2f} %"
    if with_delta and change.get("change") is not None:
        text += f" ({change['change']:+.2f} pp)"
    return text


def latency_cell(row: dict[str, Any], *, with_delta: bool) -> str:
    if not row["latency"]:
        return "–"
    first = row["latency"][0]
    p50 = first["p50_ms"]
    text = f"{p50['current']:.3g} ms {first['where']}"
    if with_delta and p50.get("change") is not None:
        text += f" ({_relative(p50) or '±0'})"
    return text


def _status(row: dict[str, Any]) -> str:
    if row["status"] == "removed":
        return f"removed (was {_kb((row['gzip_bytes'] or {}).get('base'))} gzip)"
    if row["failed"]:
        return "FAILED"
    if row["status"] == "added":
        return "new" + ("" if row["passed"] else ", over budget")
    return "pass" if row["passed"] else "over budget"


def _budget_line(entry: dict[str, Any]) -> str:
    actual = entry.get("actual")
    unit = entry.get("unit") or ""
    suffix = " B" if unit == "bytes" else f" {unit}" if unit and unit not in ("sha256", "fraction") else ""
    if actual is None:
        shown = "not measured"
    elif isinstance(actual, (int, float)) and not isinstance(actual, bool):
        shown = f"{actual:,}{suffix}"
    else:
        shown = str(actual)[:120]
    relation = "< minimum" if entry.get("name", "").startswith("min_") else "> limit"
    limit = entry.get("limit")
    text = f"{entry['artifact']}: {entry['name']} {shown}" + (f" {relation} {limit}" if limit is not None else "")
    if entry.get("where"):
        text += f" ({entry['where']})"
    if entry.get("note"):
        text += f" — {entry['note']}"
    return text


def headline(doc: dict[str, Any]) -> str:
    failed = len(doc["failed_budgets"])
    rows = [r for r in doc["artifacts"] if r["status"] != "removed"]
    against = " vs the baseline" if doc["baseline"] else ""
    removed = sum(1 for r in doc["artifacts"] if r["status"] == "removed")
    count = f"{len(rows)} artifact{'s' if len(rows) != 1 else ''}{against}" + (f", {removed} removed" if removed else "")
    if doc["passed"]:
        return f"edgekit: all budgets pass ({count})"
    parts = [f"{failed} budget{'s' if failed != 1 else ''} exceeded"] if failed else []
    if doc["targets_failed"]:
        parts.append(f"target{'s' if len(doc['targets_failed']) > 1 else ''} failed: {', '.join(doc['targets_failed'])}")
    return f"edgekit: {'; '.join(parts) or 'the gate failed'} ({count})"


def _table(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    delta = doc["baseline"] is not None
    header = ["artifact", "size", "download (gzip)", "accuracy", "p50", "status"]
    rows = [[r["path"] or "?", size_cell(r["bytes"], with_delta=delta), size_cell(r["gzip_bytes"], with_delta=delta),
             accuracy_cell(r["accuracy"], with_delta=delta), latency_cell(r, with_delta=delta), _status(r)]
            for r in doc["artifacts"]]
    return header, rows


def render_text(doc: dict[str, Any], *, width: int = 100) -> str:
    header, rows = _table(doc)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    dropped = []
    for name in ("p50", "accuracy"):  # drop these first, then shorten long artifact paths
        if sum(widths) + 2 * (len(widths) - 1) <= width:
            break
        drop = header.index(name)
        dropped.append(name)
        for line in [header, *rows, widths]:
            del line[drop]
    excess = sum(widths) + 2 * (len(widths) - 1) - width
    if excess > 0:
        keep = max(12, widths[0] - excess)
        for row in rows:
            if len(row[0]) > keep:
                row[0] = "…" + row[0][-(keep - 1):]
        widths[0] = max(len(str(c)) for c in [header[0]] + [r[0] for r in rows])
    lines = [headline(doc)]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    if dropped:
        lines.append(f"(columns left out to fit {width} columns: {', '.join(dropped)}; report.md has them all)")
    lines += ["failed: " + _budget_line(b) for b in doc["failed_budgets"]]
    return "\n".join(lines)


def render_markdown(doc: dict[str, Any]) -> str:
    header, rows = _table(doc)
    icon = "✅" if doc["passed"] else "❌"
    lines = [MARKER, f"### {icon} {headline(doc)}", ""]
    if doc["baseline"]:
        lines.append(f"Compared with the baseline built {doc['baseline'].get('created') or '?'} "
                     "(changes in brackets).")
        lines.append("")
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table_rows = ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    failed = ["- " + _budget_line(b).replace("|", "\\|") for b in doc["failed_budgets"]]
    tail = [""] + (["**Failed budgets**", ""] + failed if failed else [])
    if doc.get("report_url"):
        tail += ["", f"[Full report]({doc['report_url']})"]
    used = sum(len(line) + 1 for line in lines + tail)
    for index, line in enumerate(table_rows):
        if used + len(line) + 200 > COMMENT_LIMIT:
            lines.append(f"| … {len(table_rows) - index} more artifacts: see the full report |" + " |" * (len(header) - 1))
            break
        lines.append(line)
        used += len(line) + 1
    text = "\n".join(lines + tail)
    return text if len(text) <= COMMENT_LIMIT else text[:COMMENT_LIMIT - 40] + "\n\n… (cut to GitHub's limit)"


def render_github(doc: dict[str, Any]) -> str:
    lines = []
    for entry in doc["failed_budgets"]:
        message = _command_text(_budget_line(entry))
        lines.append(f"::error title=edgekit budget::{message}")
    for target in doc["targets_failed"]:
        lines.append(f"::error title=edgekit target::target {_command_text(target)} failed to build")
    if doc["passed"]:
        lines.append(f"::notice title=edgekit::{_command_text(headline(doc))}")
    # the table between stop-commands markers: nothing in it (paths come from the report) can act as a
    # workflow command; the token is random so the table cannot end the block itself
    import secrets

    token = secrets.token_hex(16)
    return "\n".join(lines + [f"::stop-commands::{token}", render_text(doc), f"::{token}::"])


def _command_text(text: str) -> str:
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def render(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2)
    if fmt == "markdown":
        return render_markdown(doc)
    if fmt == "github":
        return render_github(doc)
    return render_text(doc)
