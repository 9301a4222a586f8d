"""Fold latency measured outside `edgekit build` into an existing report.

Harnesses (`edgekit profile`) and files produced elsewhere (the Core ML script run on a Mac, a
benchmark run on a phone) give results as `{"path": artifact path, "latency": [entries]}`. Each
entry replaces an earlier entry of the same kind (same where/runtime/backend/device/compute
units) on that artifact and is otherwise appended; then the recorded budgets are re-applied and
report.json, report.md and report.html are rewritten.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.report_check import check_report
from edgekit.errors import InputError
from edgekit.report import read_json, write_json, write_reports

LATENCY_SCHEMA = "edgekit.latency/v1"
WHERE = ("host", "device", "browser")
IDENTITY = ("where", "runtime", "backend", "device", "compute_units", "threads", "delegate")


def merge_results(report_path: Path, results: list[dict[str, Any]], *, source: str) -> dict[str, Any]:
    """Merge `results` into the report at `report_path` (rewritten in place); return the report."""
    report = check_report(report_path)  # loads, validates the schema, re-applies recorded budgets
    by_path = {a["path"]: a for a in report["artifacts"]}
    for result in results:
        artifact = by_path.get(result.get("path"))
        if artifact is None:
            known = ", ".join(sorted(by_path)) or "none"
            raise InputError(f"{source}: no artifact {result.get('path')!r} in {report_path}",
                             hint=f"the report has: {known}")
        for entry in result.get("latency", []):
            _check_entry(entry, source)
            kept = [e for e in artifact.get("latency", []) if _identity(e) != _identity(entry)]
            artifact["latency"] = kept + [entry]
        for key in ("load", "extra"):
            if key in result:
                artifact.setdefault("profile", {})[key] = result[key]
    write_json(report, report_path)
    report = check_report(report_path)  # budgets read the new numbers
    write_reports(report, report_path.parent)
    return report


def read_results_file(path: Path) -> list[dict[str, Any]]:
    """A JSON file `{"schema": "edgekit.latency/v1", "results": [...]}` written by a harness elsewhere."""
    data = read_json(path, what="latency file", hint="pass the JSON the profiling script wrote")
    if not isinstance(data, dict) or data.get("schema") != LATENCY_SCHEMA or not isinstance(data.get("results"), list):
        raise InputError(f"{path}: not an {LATENCY_SCHEMA} file",
                         hint="pass the JSON written by the script edgekit profile generated")
    return data["results"]


def _check_entry(entry: Any, source: str) -> None:
    if not isinstance(entry, dict) or entry.get("where") not in WHERE:
        raise InputError(f"{source}: a latency entry needs where = one of {', '.join(WHERE)}: {str(entry)[:80]}")
    for key in ("p50_ms", "p90_ms"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, (int, float)) or value < 0):
            raise InputError(f"{source}: latency {key} must be a non-negative number of milliseconds, got {value!r}")


def _identity(entry: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(entry.get(key) for key in IDENTITY)
