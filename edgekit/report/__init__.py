"""The build report. `report.json` is the truth; Markdown and HTML are views of it.

Schema `edgekit.report/v1` — names other tools rely on (README, "The report", lists them all):
  schema, passed, reference{..., inputs, outputs, label_output}, artifacts[] with target, format,
  precision, path, bytes, gzip_bytes, params, accuracy, accuracy_drop, status/error (an artifact
  that could not be built), parity{status, relative_error, confident_top1_agreement, accuracy_loss,
  max_abs_error, top1_agreement, samples, tolerance, reason}, latency[]{where, runtime, threads,
  p50_ms, p90_ms, runs}, budgets[]{name, limit, actual, unit, passed}.
Accuracy is a fraction (0..1, None without labels); accuracy_drop is in percentage points
(reference minus artifact).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edgekit.errors import InputError

SCHEMA = "edgekit.report/v1"


def gate_passed(artifacts: list[dict[str, Any]]) -> bool:
    """Every budget holds, no artifact's parity or package check failed (not_verified does not fail)."""
    for artifact in artifacts:
        if artifact.get("status") == "failed":  # could not be built
            return False
        if any(not b.get("passed") for b in artifact.get("budgets", [])):
            return False
        if (artifact.get("parity") or {}).get("status") == "failed":
            return False
        if any(check.get("status") == "failed" for check in artifact.get("checks") or []):
            return False
    return True


def report_passed(report: dict[str, Any]) -> bool:
    """The build's gate: every target was built and every artifact passed (`gate_passed`)."""
    targets_built = all(s.get("status") != "failed" for s in (report.get("target_status") or {}).values())
    return targets_built and gate_passed(report.get("artifacts", []))


def exit_code(report: dict[str, Any]) -> int:
    """0 when the gate passed; else the highest exit code among what could not be built (a target, an
    artifact), or 1 when everything was built but a budget, parity or package check failed."""
    if report.get("passed"):
        return 0
    codes = [(a.get("error") or {}).get("exit_code", 1) for a in report.get("artifacts", []) if a.get("status") == "failed"]
    codes += [t.get("exit_code", 1) for t in (report.get("target_status") or {}).values() if t.get("status") == "failed"]
    return max(codes, default=1)


def write_json(report: dict[str, Any], path: Path) -> None:
    """Write a report, checked against the typed model first (a report that does not fit is a bug)."""
    from pydantic import ValidationError

    from edgekit.errors import EdgekitError
    from edgekit.report.model import Report

    try:
        Report.model_validate(report)
    except ValidationError as err:
        raise EdgekitError(f"internal error: the report does not fit its schema ({_first_error(err)})") from None
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_reports(report: dict[str, Any], folder: Path) -> None:
    """report.json (checked), report.md and report.html into `folder`: the three views of one report."""
    from edgekit.report.html import render as render_html
    from edgekit.report.markdown import render

    write_json(report, folder / "report.json")
    (folder / "report.md").write_text(render(report), encoding="utf-8")
    (folder / "report.html").write_text(render_html(report), encoding="utf-8")


def read_json(path: Path, *, what: str, hint: str) -> Any:
    """A JSON file the user pointed at, or a one-line InputError naming `what` and the fix."""
    if not path.is_file():
        raise InputError(f"{what} not found: {path}", hint=hint)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({err})", hint=hint) from None


def load_report(path: Path) -> dict[str, Any]:
    report = read_json(path, what="report", hint="run `edgekit build` first, or pass <out>/report.json")
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        found = report.get("schema") if isinstance(report, dict) else type(report).__name__
        raise InputError(f"{path}: schema is {found!r}, expected {SCHEMA!r}",
                         hint="pass the report.json that edgekit build wrote")
    if not isinstance(report.get("artifacts"), list):
        raise InputError(f"{path}: no artifacts list in the report")
    from pydantic import ValidationError

    from edgekit.report.model import Report

    try:
        Report.model_validate(report)
    except ValidationError as err:
        raise InputError(f"{path}: not a report edgekit wrote ({_first_error(err)})",
                         hint="pass the report.json that edgekit build wrote, unedited") from None
    return report


def _first_error(err: Any) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}"


def parity_text(parity: dict[str, Any]) -> str:
    """`passed (rel err 0.012, top-1 99.5 %)`: the numbers a parity judged, as far as they exist."""
    status = parity.get("status", "not_verified")
    parts = []
    if parity.get("relative_error") is not None:
        parts.append(f"rel err {parity['relative_error']:.2g}")
    elif parity.get("max_abs_error") is not None:
        parts.append(f"max err {parity['max_abs_error']:.2g}")
    if parity.get("top1_agreement") is not None:
        parts.append(f"top-1 {100 * parity['top1_agreement']:.1f} %")
    return f"{status} ({', '.join(parts)})" if parts else status


def count_text(value: Any) -> str:
    """1,234 — or "—" for a number that was not measured (an artifact that could not be built)."""
    return "—" if value is None else f"{value:,}"
