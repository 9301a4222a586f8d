"""report.html: one self-contained page (inline CSS and SVG, no scripts, nothing fetched).

Two plots come first — download size against accuracy for every artifact, and p50 latency per
runtime with host, device and browser numbers kept apart — then the Markdown report's sections,
converted (tables, headings, lists, `code`, **bold**). Every string from the report is escaped.
"""
from __future__ import annotations

import html
import re
from typing import Any, Optional

from edgekit.budgets import pick_latency
from edgekit.report import gate_passed
from edgekit.report.markdown import render as render_markdown
from edgekit.report.plots import latency_plot, size_accuracy_plot
from edgekit.targets import registry


def render(report: dict[str, Any], baseline: Optional[dict[str, Any]] = None) -> str:
    """The page; with a baseline report, its artifacts appear beside the current ones in the scatter."""
    passed = report.get("passed")
    ref = report.get("reference", {})
    title = f"edgekit report — {'PASSED' if passed else 'FAILED'}"
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p class='{'pass' if passed else 'fail'}'><strong>{'PASSED' if passed else 'FAILED'}</strong> · "
        f"model <code>{_e(ref.get('path', '?'))}</code> · edgekit {_e(report.get('edgekit_version', '?'))} · "
        f"{_e(report.get('created', ''))}</p>",
        ship_summary(report),
        "<div class='plots'>", size_accuracy_plot(report, baseline), latency_plot(report), "</div>",
        collapsible(markdown_to_html(_without_title(render_markdown(report)))),
    ]
    return ("<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def ship_summary(report: dict[str, Any]) -> str:
    """"What to ship" per platform: the smallest download among the shipped artifacts that passed."""
    items = []
    for target in report.get("targets") or sorted({str(a.get("target")) for a in report.get("artifacts", [])}):
        status = (report.get("target_status") or {}).get(target) or {}
        if status.get("status") == "failed":
            items.append(f"<li><strong>{_e(target)}</strong>: not built — {_e(status.get('reason') or '?')}</li>")
            continue
        mine = [a for a in report.get("artifacts", []) if a.get("target") == target and a.get("shipped", True)
                and a.get("status") != "failed"]
        good = [a for a in mine if gate_passed([a])]
        if not good:
            items.append(f"<li><strong>{_e(target)}</strong>: nothing to ship — every artifact missed a budget or "
                         "its parity check</li>")
            continue
        best = min(good, key=lambda a: (a.get("gzip_bytes") or a.get("bytes") or 0))
        facts = [f"{(best.get('gzip_bytes') or 0) / 1000:,.0f} KB download"]
        if best.get("accuracy") is not None:
            facts.append(f"{100 * best['accuracy']:.1f} % accuracy")
        elif (best.get("parity") or {}).get("status") == "not_verified":
            facts.append("accuracy not verified here")
        latency = pick_latency(best.get("latency") or [])
        if latency and latency.get("p50_ms") is not None:
            facts.append(f"p50 {latency['p50_ms']:.2g} ms ({latency.get('where')})")
        note = registry.get(target).ship_note(report) if target in registry.BY_NAME else ""
        runtime = f" on {_e(note)}" if note else ""
        items.append(f"<li><strong>{_e(target)}</strong>: <code>{_e(best['path'])}</code>{runtime} — "
                     f"{_e(', '.join(facts))}</li>")
    return "<section class='ship'><h2>What to ship</h2><ul>" + "".join(items) + "</ul></section>" if items else ""


OPEN_SECTIONS = ("Budgets",)  # the first table and these stay open; the other sections start collapsed


def collapsible(page: str) -> str:
    """Each <h2> section of the converted Markdown as a <details> block (summary = its heading)."""
    pieces = re.split(r"(<h2>.*?</h2>)", page)
    out = [pieces[0]]
    for heading, body in zip(pieces[1::2], pieces[2::2]):
        title = re.sub(r"<[^>]+>", "", heading)
        opened = " open" if title in OPEN_SECTIONS else ""
        out.append(f"<details{opened}><summary>{heading}</summary>{body}</details>")
    return "".join(out)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _without_title(markdown: str) -> str:
    lines = markdown.splitlines()
    return "\n".join(lines[3:] if lines and lines[0].startswith("# ") else lines)


# --------------------------------------------------------------------------- markdown subset

def markdown_to_html(text: str) -> str:
    """The Markdown edgekit writes: #-headings, pipe tables, '- ' lists, paragraphs, `code`, **bold**."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 6)
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
            i += 1
        elif line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            out.append(_table(block))
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
        else:
            block = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("#", "|", "- ")):
                block.append(lines[i])
                i += 1
            out.append(f"<p>{_inline(' '.join(block))}</p>")
    return "\n".join(out)


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _table(rows: list[str]) -> str:
    header, body = _cells(rows[0]), [_cells(r) for r in rows[2:]] if len(rows) > 1 else []
    aligns = ["right" if c.endswith(":") else "left" for c in _cells(rows[1])] if len(rows) > 1 else []
    head = "".join(f"<th>{_inline(c)}</th>" for c in header)
    lines = []
    for row in body:
        cells = []
        for n, cell in enumerate(row):
            classes = (["num"] if n < len(aligns) and aligns[n] == "right" else []) + \
                (["fail"] if "FAIL" in cell or "**failed**" in cell else [])
            attribute = f" class='{' '.join(classes)}'" if classes else ""
            cells.append(f"<td{attribute}>{_inline(cell)}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _inline(text: str) -> str:
    escaped = _e(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#1b1b1b}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}h3{margin-top:1.4em}
table{border-collapse:collapse;margin:8px 0;font-size:13px;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f5f5f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.fail{background:#fdecea}
code{background:#f3f3f3;padding:0 3px;border-radius:3px}
.pass strong{color:#2e7d32}.fail strong{color:#c62828}
.plots{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;flex:1 1 520px;max-width:560px}
figcaption{font-size:12px;color:#555}svg{width:100%;height:auto;background:#fafafa;border:1px solid #eee}
svg .title{font-size:13px;font-weight:600}svg .tick{font-size:10px;fill:#444}
svg .axis{stroke:#999}svg .ref{stroke:#999;stroke-dasharray:4 3}
svg .budget{stroke-dasharray:6 3;stroke-width:1.5;opacity:.8}svg .pareto{fill:none;stroke:#333;stroke-dasharray:2 3}
svg .baseline{fill:#fff;stroke:#9e9e9e;stroke-width:1.5}svg .moved{stroke:#9e9e9e}svg .point-label{fill:#222}svg .leader{stroke:#bbb;stroke-width:.7}
details>summary{cursor:pointer;list-style:revert}details>summary h2{display:inline-block;border:0;margin:1.2em 0 .4em}
.ship{background:#f4f8f4;border:1px solid #dfe9df;border-radius:6px;padding:4px 16px;margin:12px 0}
.ship h2{margin-top:.6em;border:0}
"""
