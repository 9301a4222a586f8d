"""report.html: one self-contained page (inline CSS and SVG, no scripts, nothing fetched).

Two plots come first — download size against accuracy for every artifact, and p50 latency per
runtime with host, device and browser numbers kept apart — then the Markdown report's sections,
converted (tables, headings, lists, `code`, **bold**). Every string from the report is escaped.
"""
from __future__ import annotations

import html
import math
import re
from typing import Any

from edgekit.report.markdown import render as render_markdown
from edgekit.targets import registry

TARGET_COLOURS = {target.name: target.colour for target in registry.TARGETS}
WHERE_COLOURS = {"device": "#6a1b9a", "browser": "#e65100", "host": "#757575"}


def render(report: dict[str, Any]) -> str:
    passed = report.get("passed")
    ref = report.get("reference", {})
    title = f"edgekit report — {'PASSED' if passed else 'FAILED'}"
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p class='{'pass' if passed else 'fail'}'><strong>{'PASSED' if passed else 'FAILED'}</strong> · "
        f"model <code>{_e(ref.get('path', '?'))}</code> · edgekit {_e(report.get('edgekit_version', '?'))} · "
        f"{_e(report.get('created', ''))}</p>",
        "<div class='plots'>", size_accuracy_plot(report), latency_plot(report), "</div>",
        markdown_to_html(_without_title(render_markdown(report))),
    ]
    return ("<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _without_title(markdown: str) -> str:
    lines = markdown.splitlines()
    return "\n".join(lines[3:] if lines and lines[0].startswith("# ") else lines)


# --------------------------------------------------------------------------- plots

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 560, 300, 64, 16, 28, 44


def size_accuracy_plot(report: dict[str, Any]) -> str:
    """Scatter: gzip bytes (log axis) against accuracy; artifacts without accuracy sit on a strip below."""
    artifacts = [a for a in report.get("artifacts", []) if a.get("gzip_bytes")]
    if not artifacts:
        return ""
    sizes = [a["gzip_bytes"] for a in artifacts]
    low, high = math.log10(min(sizes) * 0.8), math.log10(max(sizes) * 1.25)
    measured = [a for a in artifacts if a.get("accuracy") is not None]
    reference = report.get("reference", {}).get("accuracy")
    accuracies = [100 * a["accuracy"] for a in measured] + ([100 * reference] if reference else [])
    y_low = math.floor(min(accuracies) - 0.5) if accuracies else 0
    y_high = math.ceil(max(accuracies) + 0.5) if accuracies else 100
    plot_h = HEIGHT - TOP - BOTTOM - 28  # the strip for "not measured" sits below the plot area

    def x(size: float) -> float:
        return LEFT + (math.log10(size) - low) / (high - low) * (WIDTH - LEFT - RIGHT)

    def y(acc: float) -> float:
        return TOP + (y_high - acc) / (y_high - y_low) * plot_h if y_high > y_low else TOP + plot_h / 2

    parts = [_svg_open("gzip bytes (log) vs accuracy"), _axes(plot_h)]
    for tick in _log_ticks(low, high):
        parts.append(f"<text x='{x(tick):.1f}' y='{HEIGHT - 8}' class='tick' text-anchor='middle'>{_bytes(tick)}</text>")
    for acc in _linear_ticks(y_low, y_high):
        parts.append(f"<text x='{LEFT - 6}' y='{y(acc) + 4:.1f}' class='tick' text-anchor='end'>{acc:g} %</text>")
    if reference:
        parts.append(f"<line x1='{LEFT}' x2='{WIDTH - RIGHT}' y1='{y(100 * reference):.1f}' y2='{y(100 * reference):.1f}' "
                     "class='ref'/>")
        parts.append(f"<text x='{WIDTH - RIGHT}' y='{y(100 * reference) - 4:.1f}' class='tick' text-anchor='end'>"
                     f"Keras reference {100 * reference:.2f} %</text>")
    strip = TOP + plot_h + 18
    parts.append(f"<text x='{LEFT - 6}' y='{strip + 4}' class='tick' text-anchor='end'>not run</text>")
    for a in artifacts:
        colour = TARGET_COLOURS.get(a.get("target"), "#000")
        cy = y(100 * a["accuracy"]) if a.get("accuracy") is not None else strip
        label = (f"{a['path']}: {a['gzip_bytes']:,} B gzip, "
                 + (f"{100 * a['accuracy']:.2f} %" if a.get("accuracy") is not None else "accuracy not measured here"))
        hollow = a.get("accuracy") is None
        parts.append(f"<circle cx='{x(a['gzip_bytes']):.1f}' cy='{cy:.1f}' r='5' "
                     f"fill='{'white' if hollow else colour}' stroke='{colour}' stroke-width='2'>"
                     f"<title>{_e(label)}</title></circle>")
    parts.append(_legend(TARGET_COLOURS, [a.get("target") for a in artifacts]))
    parts.append("</svg>")
    return "<figure>" + "".join(parts) + "<figcaption>Each point is an artifact (hover for its name). Hollow: "\
        "accuracy not measured (Core ML needs macOS; a model without class labels has none).</figcaption></figure>"


def latency_plot(report: dict[str, Any]) -> str:
    """Horizontal bars: p50 per artifact and runtime, coloured by where it was measured, p90 as a whisker."""
    rows = []
    for a in report.get("artifacts", []):
        for e in a.get("latency") or []:
            if e.get("p50_ms") is not None:
                engine = " / ".join(str(e[k]) for k in ("runtime", "backend", "delegate", "compute_units") if e.get(k))
                rows.append((f"{a['path']} · {engine}", e))
    if not rows:
        return ""
    row_h = 18
    height = TOP + row_h * len(rows) + BOTTOM
    longest = max(max(e["p50_ms"], e.get("p90_ms") or 0) for _, e in rows)
    shortest = min(e["p50_ms"] for _, e in rows)
    log = shortest > 0 and longest / shortest > 20  # one slow runtime would flatten every other bar
    floor = shortest / 2 if log else 0.0
    label_w = 250
    span = WIDTH - label_w - RIGHT - 40

    def x(ms: float) -> float:
        if log:
            return label_w + math.log10(max(ms, floor) / floor) / math.log10(longest / floor) * span
        return label_w + ms / longest * span

    scale = " (log scale)" if log else ""
    parts = [f"<svg viewBox='0 0 {WIDTH} {height}' role='img' aria-label='p50 latency per runtime'>"
             f"<text x='4' y='16' class='title'>p50 latency in ms{scale}; whisker: p90</text>"]
    for i, (name, e) in enumerate(rows):
        top = TOP + i * row_h
        colour = WHERE_COLOURS.get(e.get("where"), "#000")
        short = name if len(name) <= 44 else "…" + name[-43:]
        parts.append(f"<text x='{label_w - 6}' y='{top + 12}' class='tick' text-anchor='end'>{_e(short)}</text>")
        parts.append(f"<rect x='{label_w}' y='{top + 3}' width='{max(x(e['p50_ms']) - label_w, 1):.1f}' height='11' "
                     f"fill='{colour}'><title>{_e(name)}: p50 {e['p50_ms']:.3f} ms ({_e(e.get('where'))})</title></rect>")
        if e.get("p90_ms"):
            parts.append(f"<line x1='{x(e['p50_ms']):.1f}' x2='{x(e['p90_ms']):.1f}' y1='{top + 8.5}' y2='{top + 8.5}' "
                         f"stroke='{colour}'/>")
        parts.append(f"<text x='{max(x(e['p50_ms']), x(e.get('p90_ms') or 0)) + 4:.1f}' y='{top + 12}' "
                     f"class='tick'>{e['p50_ms']:.3g}</text>")
    parts.append(_legend(WHERE_COLOURS, [e.get("where") for _, e in rows], y=height - 12))
    parts.append("</svg>")
    return ("<figure>" + "".join(parts) + "<figcaption>host: LiteRT on the build machine's CPU (not a phone); "
            "browser: headless Chromium on the build machine; device: a phone or Mac.</figcaption></figure>")


def _svg_open(title: str) -> str:
    return (f"<svg viewBox='0 0 {WIDTH} {HEIGHT}' role='img' aria-label='{_e(title)}'>"
            f"<text x='4' y='16' class='title'>{_e(title)}</text>")


def _axes(plot_h: float) -> str:
    return (f"<line x1='{LEFT}' y1='{TOP}' x2='{LEFT}' y2='{TOP + plot_h}' class='axis'/>"
            f"<line x1='{LEFT}' y1='{TOP + plot_h}' x2='{WIDTH - RIGHT}' y2='{TOP + plot_h}' class='axis'/>")


def _legend(colours: dict[str, str], present: list[Any], *, y: int = 16) -> str:
    parts, left = [], WIDTH - RIGHT - 90 * len([k for k in colours if k in present])
    for key, colour in colours.items():
        if key in present:
            parts.append(f"<circle cx='{left}' cy='{y - 4}' r='4' fill='{colour}'/>"
                         f"<text x='{left + 8}' y='{y}' class='tick'>{_e(key)}</text>")
            left += 90
    return "".join(parts)


def _log_ticks(low: float, high: float) -> list[float]:
    ticks = []
    for exponent in range(math.floor(low), math.ceil(high) + 1):
        for mantissa in (1, 1.5, 2, 3, 4, 5, 7):
            value = mantissa * 10 ** exponent
            if low <= math.log10(value) <= high:
                ticks.append(value)
    return ticks


def _linear_ticks(low: float, high: float) -> list[float]:
    step = max(1, math.ceil((high - low) / 5))
    return [low + i * step for i in range(int((high - low) // step) + 1)]


def _bytes(value: float) -> str:
    for unit, size in (("MB", 1e6), ("KB", 1e3)):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value:g} B"


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
"""
