"""The report's plots as inline SVG (no scripts): size vs accuracy, and latency per runtime.

Size vs accuracy: every artifact a labelled point (labels moved apart so none hides another), the
Pareto frontier of download size against accuracy, each target's download and accuracy budgets as
lines, and — given a baseline report — the baseline's points in grey with an arrow to where each
artifact moved.
"""
from __future__ import annotations

import html
import math
from typing import Any, Optional

from edgekit.targets import registry

TARGET_COLOURS = {target.name: target.colour for target in registry.TARGETS}
WHERE_COLOURS = {"device": "#6a1b9a", "browser": "#e65100", "host": "#757575"}
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 560, 320, 64, 16, 28, 44
LABEL_H = 13  # a 10 px label box is about 12.5 px tall in Chromium
CHAR_W = 6.4  # px per label character at font-size 10 (measured in Chromium: 5.6 let labels overlap)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _key(artifact: dict[str, Any]) -> tuple:
    return (artifact.get("target"), artifact.get("format"), artifact.get("precision"))


def _label(artifact: dict[str, Any]) -> str:
    fmt = {"tfjs": "tfjs", "mlpackage": "coreml"}.get(str(artifact.get("format")), "")
    return " ".join(str(p) for p in (artifact.get("target"), fmt, artifact.get("precision")) if p)


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other beats on both smaller size and higher accuracy, by increasing size."""
    front: list[tuple[float, float]] = []
    for size, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or acc > front[-1][1]:
            front.append((size, acc))
    return front


def place_labels(points: list[tuple[float, float, str]], *, right: float,
                 bottom: float = HEIGHT - 20) -> list[tuple[float, float, str]]:
    """Label positions (x, y baseline, text) next to their points, moved down until no label box overlaps
    another label or a point."""
    placed = [(px - 6, py - 6, px + 6, py + 6) for px, py, _ in points]  # labels keep off the points too
    result = []
    for px, py, text in sorted(points, key=lambda p: (p[1], p[0])):
        width = CHAR_W * len(text)
        x = px + 8 if px + 8 + width <= right else px - 8 - width
        candidates = [py + 4 + LABEL_H * step for step in range(40)]  # below the point first ...
        candidates = [c for c in candidates if c <= bottom] + [py + 4 - LABEL_H * step for step in range(1, 40)]
        for y in candidates:  # ... then above it, never under the axis labels
            box = (x, y - LABEL_H + 2, x + width, y + 2)
            if y - LABEL_H > 0 and not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                                           for b in placed):
                break
        placed.append((x, y - LABEL_H + 2, x + width, y + 2))
        result.append((x, y, text))
    return result


def _limits(report: dict[str, Any], name: str) -> dict[str, float]:
    """{target: the budget's limit} as recorded on the target's artifacts."""
    found: dict[str, float] = {}
    for artifact in report.get("artifacts", []):
        for budget in artifact.get("budgets") or []:
            if budget.get("name") == name and isinstance(budget.get("limit"), (int, float)):
                found[str(artifact.get("target"))] = float(budget["limit"])
    return found


def size_accuracy_plot(report: dict[str, Any], baseline: Optional[dict[str, Any]] = None) -> str:
    """Scatter: gzip bytes (log axis) against accuracy; artifacts without accuracy sit on a strip below."""
    artifacts = [a for a in report.get("artifacts", []) if a.get("gzip_bytes")]
    if not artifacts:
        return ""
    before = {_key(a): a for a in (baseline or {}).get("artifacts", []) if a.get("gzip_bytes")}
    downloads, floors = _limits(report, "max_download"), _limits(report, "min_accuracy")
    sizes = [a["gzip_bytes"] for a in artifacts] + [a["gzip_bytes"] for a in before.values()] + list(downloads.values())
    low, high = math.log10(min(sizes) * 0.8), math.log10(max(sizes) * 1.25)
    reference = report.get("reference", {}).get("accuracy")
    accuracies = ([100 * a["accuracy"] for a in artifacts if a.get("accuracy") is not None]
                  + [100 * a["accuracy"] for a in before.values() if a.get("accuracy") is not None]
                  + ([100 * reference] if reference else []) + list(floors.values()))
    y_low = math.floor(min(accuracies) - 0.5) if accuracies else 0
    y_high = math.ceil(max(accuracies) + 0.5) if accuracies else 100
    plot_h = HEIGHT - TOP - BOTTOM - 28  # the strip for "not measured" sits below the plot area
    strip = TOP + plot_h + 18

    def x(size: float) -> float:
        return LEFT + (math.log10(size) - low) / (high - low) * (WIDTH - LEFT - RIGHT)

    def y(acc: Optional[float]) -> float:
        if acc is None:
            return strip
        return TOP + (y_high - 100 * acc) / (y_high - y_low) * plot_h if y_high > y_low else TOP + plot_h / 2

    parts = [f"<svg viewBox='0 0 {WIDTH} {HEIGHT}' role='img' aria-label='gzip bytes (log) vs accuracy' "
             "class='scatter'><text x='4' y='16' class='title'>download (gzip, log) vs accuracy</text>",
             f"<line x1='{LEFT}' y1='{TOP}' x2='{LEFT}' y2='{TOP + plot_h}' class='axis'/>"
             f"<line x1='{LEFT}' y1='{TOP + plot_h}' x2='{WIDTH - RIGHT}' y2='{TOP + plot_h}' class='axis'/>"]
    for tick in _log_ticks(low, high):
        parts.append(f"<text x='{x(tick):.1f}' y='{HEIGHT - 8}' class='tick' text-anchor='middle'>{_bytes(tick)}</text>")
    for acc in _linear_ticks(y_low, y_high):
        parts.append(f"<text x='{LEFT - 6}' y='{y(acc / 100) + 4:.1f}' class='tick' text-anchor='end'>{acc:g} %</text>")
    if reference:
        parts.append(f"<line x1='{LEFT}' x2='{WIDTH - RIGHT}' y1='{y(reference):.1f}' y2='{y(reference):.1f}' class='ref'/>"
                     f"<text x='{WIDTH - RIGHT}' y='{y(reference) - 4:.1f}' class='tick' text-anchor='end'>"
                     f"Keras reference {100 * reference:.2f} %</text>")
    by_limit: dict[float, list[str]] = {}
    for target, limit in downloads.items():
        by_limit.setdefault(limit, []).append(target)
    for row, (limit, targets) in enumerate(sorted(by_limit.items())):  # budget lines in the targets' colour
        colour = TARGET_COLOURS.get(targets[0], "#000") if len(targets) == 1 else "#555"
        names = ", ".join(targets)
        parts.append(f"<line x1='{x(limit):.1f}' x2='{x(limit):.1f}' y1='{TOP}' y2='{TOP + plot_h}' stroke='{colour}' "
                     f"class='budget'><title>{_e(names)} max_download {_bytes(limit)}</title></line>"
                     f"<text x='{x(limit) - 3:.1f}' y='{TOP + 10 + LABEL_H * row}' class='tick budget-label' "
                     f"text-anchor='end' fill='{colour}'>{_e(names)} download ≤ {_bytes(limit)}</text>")
    for target, limit in floors.items():
        colour = TARGET_COLOURS.get(target, "#000")
        parts.append(f"<line x1='{LEFT}' x2='{WIDTH - RIGHT}' y1='{y(limit / 100):.1f}' y2='{y(limit / 100):.1f}' "
                     f"stroke='{colour}' class='budget'><title>{_e(target)} min_accuracy {limit:g} %</title></line>")
    front = pareto([(a["gzip_bytes"], a["accuracy"]) for a in artifacts if a.get("accuracy") is not None])
    if len(front) > 1:
        path = " ".join(f"{x(s):.1f},{y(acc):.1f}" for s, acc in front)
        parts.append(f"<polyline points='{path}' class='pareto'><title>Pareto frontier: no artifact is both smaller "
                     "and more accurate than these</title></polyline>")
    parts.append(f"<text x='{LEFT - 6}' y='{strip + 4}' class='tick' text-anchor='end'>not run</text>")
    labels = []
    for a in artifacts:
        cx, cy = x(a["gzip_bytes"]), y(a.get("accuracy"))
        old = before.get(_key(a))
        if old is not None:
            ox, oy = x(old["gzip_bytes"]), y(old.get("accuracy"))
            parts.append(f"<circle cx='{ox:.1f}' cy='{oy:.1f}' r='4' class='baseline'><title>baseline {_e(old['path'])}: "
                         f"{old['gzip_bytes']:,} B gzip</title></circle>")
            if abs(ox - cx) + abs(oy - cy) > 3:
                parts.append(f"<line x1='{ox:.1f}' y1='{oy:.1f}' x2='{cx:.1f}' y2='{cy:.1f}' class='moved' "
                             "marker-end='url(#arrow)'/>")
        colour = TARGET_COLOURS.get(a.get("target"), "#000")
        hollow = a.get("accuracy") is None
        title = (f"{a['path']}: {a['gzip_bytes']:,} B gzip, "
                 + (f"{100 * a['accuracy']:.2f} %" if not hollow else "accuracy not measured here"))
        parts.append(f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='5' class='point' fill='{'white' if hollow else colour}' "
                     f"stroke='{colour}' stroke-width='2'><title>{_e(title)}</title></circle>")
        labels.append((cx, cy, _label(a)))
    for (px, py, _), (lx, ly, text) in zip(sorted(labels, key=lambda p: (p[1], p[0])),
                                            place_labels(labels, right=WIDTH - RIGHT)):
        if ly - (py + 4) > 2:  # moved down to stay clear of another label: a leader line back to its point
            end = lx if lx > px else lx + CHAR_W * len(text)
            parts.append(f"<line x1='{px:.1f}' y1='{py:.1f}' x2='{end:.1f}' y2='{ly - 4:.1f}' class='leader'/>")
        parts.append(f"<text x='{lx:.1f}' y='{ly:.1f}' class='tick point-label'>{_e(text)}</text>")
    parts.append("<defs><marker id='arrow' viewBox='0 0 6 6' refX='5' refY='3' markerWidth='6' markerHeight='6' "
                 "orient='auto'><path d='M0,0 L6,3 L0,6 z' fill='#888'/></marker></defs>")
    parts.append(_legend(TARGET_COLOURS, [a.get("target") for a in artifacts]))
    parts.append("</svg>")
    extra = " Grey: the baseline's artifacts, with arrows to where each moved." if before else ""
    return ("<figure>" + "".join(parts) + "<figcaption>Each point is an artifact; the dashed line joins the Pareto "
            "frontier (smaller and more accurate than the rest); coloured lines are the targets' download and "
            "accuracy budgets. Hollow: accuracy not measured (Core ML needs macOS)." + extra + "</figcaption></figure>")


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
