"""Compare a build's report with a baseline's: per artifact, what changed, and the budgets of change.

Pure Python on the reports' dictionaries (no TensorFlow), like `edgekit check`. Artifacts are matched
by (target, format, precision); latency only between entries measured in the same place with the same
runtime, backend and threads — never a host number against a device one. The result is the
`edgekit.check/v1` document (`docs/check.schema.json`), which `diff_format.py` renders as text,
Markdown (a PR comment), JSON or GitHub workflow annotations.
"""
from __future__ import annotations

from typing import Any, Optional

from edgekit.budgets import LATENCY_PREFERENCE
from edgekit.config import Budgets
from edgekit.config_sections import change_limit
from edgekit.errors import InputError

SCHEMA = "edgekit.check/v1"
SIZES = ("bytes", "gzip_bytes", "brotli_bytes")
CHANGE_BUDGETS = ("max_size_increase", "max_download_increase", "max_accuracy_decrease", "max_latency_increase")


def key(artifact: dict[str, Any]) -> tuple[str, str, str]:
    return (str(artifact.get("target")), str(artifact.get("format")), str(artifact.get("precision")))


def _change(base: Optional[float], current: Optional[float]) -> Optional[dict[str, Any]]:
    if base is None and current is None:
        return None
    change = None if base is None or current is None else current - base
    relative = None if change is None or not base else change / base
    return {"base": base, "current": current, "change": change, "relative": relative}


def _percent(artifact: dict[str, Any]) -> Optional[float]:
    accuracy = artifact.get("accuracy")
    return None if accuracy is None else round(100 * accuracy, 4)


LATENCY_KEY = ("where", "runtime", "backend", "delegate", "compute_units", "threads", "device", "model", "browser")


def _latency_key(entry: dict[str, Any]) -> tuple:
    """Everything that makes two measurements comparable: place, runtime, backend/delegate, threads, device."""
    return tuple(str(entry.get(name)) for name in LATENCY_KEY)


def _latency(base: dict[str, Any], current: dict[str, Any]) -> list[dict[str, Any]]:
    """Pairs of p50s measured the same way in both builds, the preferred place (device, browser, host) first."""
    measured = [e for e in base.get("latency") or [] if e.get("p50_ms") is not None]
    keys = [_latency_key(e) for e in measured]
    before = {k: e for k, e in zip(keys, measured) if keys.count(k) == 1}  # an ambiguous pair is not compared
    rows = []
    for entry in current.get("latency") or []:
        old = before.get(_latency_key(entry))
        if entry.get("p50_ms") is None or old is None:
            continue
        rows.append({"where": entry.get("where"), "runtime": entry.get("runtime"),
                     "backend": entry.get("backend") or entry.get("delegate") or entry.get("compute_units"),
                     "threads": entry.get("threads"), "p50_ms": _change(old["p50_ms"], entry["p50_ms"])})
    order = {name: i for i, name in enumerate(LATENCY_PREFERENCE)}
    return sorted(rows, key=lambda r: (order.get(r["where"], 9), r["p50_ms"]["current"]))


def _row(artifact: Optional[dict[str, Any]], base: Optional[dict[str, Any]]) -> dict[str, Any]:
    shown = artifact if artifact is not None else base
    assert shown is not None
    target, fmt, precision = key(shown)
    row: dict[str, Any] = {"target": target, "format": fmt, "precision": precision, "path": shown.get("path"),
                           "status": "added" if base is None else "removed" if artifact is None else "matched",
                           "shipped": shown.get("shipped", True), "failed": shown.get("status") == "failed"}
    if base is not None and base.get("status") == "failed" and artifact is not None:
        row["status"], base = "added", None  # nothing to compare with: the baseline could not build it
        row["note"] = "the baseline failed to build this artifact"
    now, then = artifact or {}, base or {}
    for name in SIZES:
        row[name] = _change(then.get(name), now.get(name))
    row["accuracy"] = _change(_percent(then) if base else None, _percent(now) if artifact else None)
    row["latency"] = _latency(then, now) if artifact is not None and base is not None else []
    row["budgets"] = [dict(b) for b in now.get("budgets") or []]
    return row


def _change_entry(name: str, limit_text: Any, value: Optional[dict[str, Any]], *, kind: str, unit: str,
                  where: Optional[str] = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "limit": limit_text, "unit": unit, "baseline": True}
    if where:
        entry["where"] = where
    if value is None or value.get("change") is None:
        entry.update(actual=None, passed=False, note="not measured in both builds")
        return entry
    if kind == "decrease":  # accuracy: percentage points lost
        lost = -value["change"]
        entry.update(actual=round(lost, 4), passed=lost <= float(limit_text) + 1e-9)
        return entry
    mode, number, _ = change_limit(limit_text, kind)
    if mode == "percent":
        relative = value["relative"]
        if relative is None:
            entry.update(actual=None, passed=False, note="the baseline is 0: no relative change")
            return entry
        entry.update(actual=round(100 * relative, 3), unit="%", passed=100 * relative <= number + 1e-9)
    else:
        entry.update(actual=round(value["change"], 4), passed=value["change"] <= number + 1e-9)
    return entry


def change_budgets(row: dict[str, Any], budgets: Budgets) -> list[dict[str, Any]]:
    """The budgets of change for one matched artifact (only those configured)."""
    entries = []
    if budgets.max_size_increase is not None:
        entries.append(_change_entry("max_size_increase", budgets.max_size_increase, row["bytes"], kind="size",
                                     unit="bytes"))
    if budgets.max_download_increase is not None:
        entries.append(_change_entry("max_download_increase", budgets.max_download_increase, row["gzip_bytes"],
                                     kind="size", unit="bytes"))
    if budgets.max_accuracy_decrease is not None:
        entries.append(_change_entry("max_accuracy_decrease", budgets.max_accuracy_decrease, row["accuracy"],
                                     kind="decrease", unit="pp"))
    if budgets.max_latency_increase is not None:
        first = row["latency"][0] if row["latency"] else None
        entries.append(_change_entry("max_latency_increase", budgets.max_latency_increase,
                                     first and first["p50_ms"], kind="latency", unit="ms",
                                     where=first and f"{first['where']} {first['runtime'] or ''}".strip()))
    return entries


def _replacements(current: dict[tuple, Any], before: dict[tuple, Any]) -> dict[tuple, tuple]:
    """{new key: old key} where a target/format lost exactly one artifact and gained exactly one (a precision
    changed): compared with each other, so a renamed artifact cannot step around the budgets of change."""
    added = [k for k in current if k not in before]
    removed = [k for k in before if k not in current]
    pairs = {}
    for k in added:
        same = [old for old in removed if old[:2] == k[:2]]
        if len(same) == 1 and len([a for a in added if a[:2] == k[:2]]) == 1:
            pairs[k] = same[0]
    return pairs


def recorded_budgets(report: dict[str, Any], target: str) -> Budgets:
    """The budgets the build was configured with (report.config), for the budgets of change."""
    table = (((report.get("config") or {}).get("targets") or {}).get(target) or {}).get("budgets") or {}
    changes = {k: table.get(k) for k in CHANGE_BUDGETS if table.get(k) is not None}
    try:
        return Budgets.model_validate(changes)
    except ValueError as err:
        raise InputError(f"the report's [targets.{target}.budgets] has a malformed budget of change "
                         f"({str(err).splitlines()[0][:120]})", hint="fix edgekit.toml and rebuild, "
                         "or pass the budgets with --budgets") from None


def compare(report: dict[str, Any], baseline: Optional[dict[str, Any]], *, overrides: dict[str, Budgets],
            source: str, baseline_source: Optional[str] = None, report_url: Optional[str] = None) -> dict[str, Any]:
    """The `edgekit.check/v1` document: every artifact with its changes and budgets, and the verdict."""
    current = {key(a): a for a in report.get("artifacts", [])}
    before = {key(a): a for a in (baseline or {}).get("artifacts", [])} if baseline is not None else {}
    replaced = _replacements(current, before)
    keys = list(current) + [k for k in before if k not in current and k not in replaced.values()]
    rows = []
    for k in keys:
        row = _row(current.get(k), before.get(replaced.get(k, k)) if baseline is not None else None)
        if k in replaced:
            row["note"] = f"replaces the baseline's {replaced[k][2]} {replaced[k][1]} artifact (precision changed)"
        if baseline is None:
            row["status"] = "current"
        if row["status"] == "matched" and row["shipped"]:
            budgets = overrides.get(row["target"]) or recorded_budgets(report, row["target"])
            row["budgets"] += change_budgets(row, budgets)
        row["passed"] = not row["failed"] and all(b.get("passed") for b in row["budgets"])
        rows.append(row)
    for row, artifact in zip(rows, [current.get(k) for k in keys]):
        for check in (artifact or {}).get("checks") or []:  # package checks, --verify's sha256
            if check.get("status") == "failed":
                row["budgets"].append({"name": str(check.get("name", "check")), "limit": None, "actual": None,
                                       "passed": False, "note": check.get("note") or check.get("detail")})
                row["passed"] = False
    failed = [{"artifact": r["path"], **b} for r in rows if r["status"] != "removed" for b in r["budgets"]
              if not b.get("passed")]
    passed = bool(report.get("passed")) and not failed
    return {
        "schema": SCHEMA, "passed": passed,
        "report": {"path": source, "created": report.get("created"), "edgekit_version": report.get("edgekit_version")},
        "baseline": None if baseline is None else {"path": baseline_source, "created": baseline.get("created"),
                                                   "edgekit_version": baseline.get("edgekit_version")},
        "report_url": report_url,
        "targets_failed": sorted(t for t, s in (report.get("target_status") or {}).items() if s.get("status") == "failed"),
        "artifacts": rows,
        "failed_budgets": failed,
    }
