"""Budgets: limits on size, download, latency and accuracy drop, evaluated on report entries.

Pure Python on the report's dictionaries, so `edgekit check` can re-evaluate a report without
TensorFlow. A budget whose measurement is missing fails with the note "not measured": a gate
that cannot see its number must not pass.
"""
from __future__ import annotations

from typing import Any, Optional

from edgekit.config import Budgets
from edgekit.units import format_size

# Preference order when a budget reads latency: a real device beats a browser beats this host.
LATENCY_PREFERENCE = ("device", "browser", "host")


def evaluate(artifact: dict[str, Any], budgets: Budgets) -> list[dict[str, Any]]:
    """One entry per configured budget: {name, limit, actual, unit, passed[, where, note]}."""
    results: list[dict[str, Any]] = []
    if budgets.max_size is not None:
        results.append(_entry("max_size", budgets.max_size, artifact.get("bytes"), "bytes"))
    if budgets.max_download is not None:
        results.append(_entry("max_download", budgets.max_download, artifact.get("gzip_bytes"), "bytes"))
    if budgets.max_latency_p50 is not None:
        latency = pick_latency(artifact.get("latency") or [])
        entry = _entry("max_latency_p50", budgets.max_latency_p50, latency and latency.get("p50_ms"), "ms")
        if latency:
            entry["where"] = latency.get("where")
        results.append(entry)
    if budgets.max_accuracy_drop is not None:
        results.append(_entry("max_accuracy_drop", budgets.max_accuracy_drop, artifact.get("accuracy_drop"), "pp"))
    if budgets.min_accuracy is not None:
        accuracy = artifact.get("accuracy")
        results.append(_entry("min_accuracy", budgets.min_accuracy, None if accuracy is None else 100 * accuracy, "%",
                              at_least=True))
    results += _web(artifact, budgets)
    if budgets.min_delegated_fraction:
        results.append(delegated(artifact, budgets.min_delegated_fraction))
    return results


def delegated(artifact: dict[str, Any], limits: dict[str, float]) -> dict[str, Any]:
    """min_delegated_fraction: each named delegate must take at least this share of the graph's nodes."""
    found = artifact.get("delegates") or {}
    actual: dict[str, Optional[float]] = {}
    problems = []
    for name, limit in limits.items():
        summary = found.get(name) or {}
        actual[name] = summary.get("fraction")
        if actual[name] is None:
            problems.append(f"{name}: not measured")
        elif actual[name] < limit:
            ops = sorted({f"{f['op']}" for f in summary.get("fallback", [])})
            problems.append(f"{name} falls back on {', '.join(ops) or 'some nodes'}")
    entry: dict[str, Any] = {"name": "min_delegated_fraction", "limit": dict(limits), "actual": actual,
                             "unit": "fraction", "passed": not problems}
    if problems:
        entry["note"] = "; ".join(problems)
    return entry


def _web(artifact: dict[str, Any], budgets: Budgets) -> list[dict[str, Any]]:
    """Web budgets: brotli download, and the fastest browser runtime's p50 and time to first inference."""
    results = []
    if budgets.max_download_brotli is not None:
        results.append(_entry("max_download_brotli", budgets.max_download_brotli, artifact.get("brotli_bytes"), "bytes"))
    browser = pick_latency([e for e in artifact.get("latency") or [] if e.get("where") == "browser"])
    for name, limit, key in (("max_browser_p50", budgets.max_browser_p50, "p50_ms"),
                             ("max_first_inference", budgets.max_first_inference, "first_inference_ms")):
        if limit is not None:
            entry = _entry(name, limit, browser and browser.get(key), "ms")
            if browser:
                entry["where"] = f"browser {browser.get('runtime')} {browser.get('backend')}"
            results.append(entry)
    return results


def usable(entry: dict[str, Any]) -> bool:
    """A latency entry a budget or a recommendation may read: it has a p50, its run did not fail, and the
    outputs it produced were right (fast but wrong is no measurement)."""
    return (entry.get("p50_ms") is not None and entry.get("status") != "failed"
            and (entry.get("check") or {}).get("status") != "failed")


def pick_latency(entries: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The fastest usable entry from the most trusted place (device, then browser, then host)."""
    for where in LATENCY_PREFERENCE:
        measured = [e for e in entries if e.get("where") == where and usable(e)]
        if measured:
            return min(measured, key=lambda e: e["p50_ms"])
    return None


def best_by_place(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fastest entry of each place (device, browser, host in that order), so views keep them apart.

    An entry without p50 (e.g. a benchmark_model build that prints no median) counts by its mean."""
    best = []
    for where in LATENCY_PREFERENCE:
        timed = [e for e in entries if e.get("where") == where and (e.get("p50_ms") if e.get("p50_ms") is not None
                                                                     else e.get("mean_ms")) is not None]
        if timed:
            best.append(min(timed, key=lambda e: e["p50_ms"] if e.get("p50_ms") is not None else e["mean_ms"]))
    return best


def latency_text(entry: dict[str, Any]) -> str:
    """'1.234 ms device' (p50), or 'mean 1.234 ms device' when the tool gave no p50."""
    if entry.get("p50_ms") is not None:
        return f"{entry['p50_ms']:.3f} ms {entry['where']}"
    return f"mean {entry['mean_ms']:.3f} ms {entry['where']}"


def _entry(name: str, limit: float, actual: Optional[float], unit: str, *, at_least: bool = False) -> dict[str, Any]:
    """A budget result; `at_least` for floors (min_accuracy), otherwise a ceiling."""
    entry: dict[str, Any] = {"name": name, "limit": limit, "actual": actual, "unit": unit}
    if actual is None:
        entry["passed"] = False
        entry["note"] = "not measured"
    else:
        entry["passed"] = bool(actual >= limit) if at_least else bool(actual <= limit)
    return entry


def describe(entry: dict[str, Any]) -> tuple[str, str]:
    """(limit, actual) as human text for tables."""
    return _human(entry["limit"], entry["unit"]), _human(entry.get("actual"), entry["unit"])


def _human(value: Any, unit: str) -> str:
    if value is None:
        return "not measured"
    if unit == "fraction" and isinstance(value, dict):
        return ", ".join(f"{k} {'not measured' if v is None else f'{100 * v:.0f} %'}" for k, v in value.items())
    if unit == "bytes":
        return f"{format_size(value)} ({int(value):,} B)"
    if unit == "ms":
        return f"{value:.3f} ms"
    if unit == "pp":
        return f"{value:.2f} pp"
    if unit == "%":
        return f"{value:.2f} %"
    return f"{value} {unit}"


def failures(report: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(artifact, budget) pairs that failed, across the report."""
    return [(a, b) for a in report.get("artifacts", []) for b in a.get("budgets", []) if not b.get("passed")]
