"""Terminal summary of a report: the artifact table, then any failed budget, limit vs actual."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgekit.budgets import best_by_place, describe, failures, latency_text
from edgekit.report import count_text


def print_summary(report: dict[str, Any], *, out: Path, console: Console | None = None) -> None:
    if console is None:
        console = Console(highlight=False)
        if not console.is_terminal:
            console = Console(highlight=False, width=160)
    table = Table(title=f"edgekit report ({out})", title_justify="left")
    for column in ("artifact", "bytes", "gzip", "accuracy", "Δacc", "p50", "parity", "budgets"):
        left = column in ("artifact", "parity", "budgets")
        table.add_column(column, justify="left" if left else "right", no_wrap=column != "budgets")
    for a in report["artifacts"]:
        latency = best_by_place(a.get("latency") or [])  # device and host apart, device first
        gated = a.get("budgets") or []
        failed = [b["name"] for b in gated if not b.get("passed")]
        table.add_row(
            a["path"], count_text(a.get("bytes")), count_text(a.get("gzip_bytes")),
            "—" if a.get("accuracy") is None else f"{100 * a['accuracy']:.2f} %",
            "—" if a.get("accuracy_drop") is None else f"{0.0 - a['accuracy_drop']:+.2f} pp",
            " · ".join(latency_text(e) for e in latency) or "—",
            (a.get("parity") or {}).get("status", "not_verified"),
            ("[red]FAIL " + ", ".join(failed) + "[/]") if failed else (f"pass ({len(gated)})" if gated else "not gated"),
        )
    console.print(table)
    failed = failures(report)
    if failed:
        budget_table = Table(title="budgets exceeded", title_justify="left")
        for column in ("artifact", "budget", "limit", "actual"):
            budget_table.add_column(column)
        for artifact, budget in failed:
            limit, actual = describe(budget)
            budget_table.add_row(artifact["path"], budget["name"], limit, actual + (f" ({budget['note']})" if budget.get("note") else ""))
        console.print(budget_table)
    parity_failed = [a["path"] for a in report["artifacts"]
                     if (a.get("parity") or {}).get("status") == "failed" and a.get("status") != "failed"]
    for path in parity_failed:
        console.print(f"[red]parity failed[/] for {path}: {escape(report_reason(report, path))}")
    for a in report["artifacts"]:
        for check in a.get("checks") or []:
            if check.get("status") == "failed":
                console.print(f"[red]check failed[/] for {a['path']}: {escape(check['name'])} ({escape(check.get('detail', ''))})")
    for name, status in (report.get("target_status") or {}).items():
        if status.get("status") == "failed":
            console.print(f"[red]target {name} failed[/] (exit {status.get('exit_code')}): {escape(str(status.get('reason')))}")
    for a in report["artifacts"]:
        if a.get("status") == "failed":
            console.print(f"[red]not built[/]: {a['path']}: {escape(str((a.get('error') or {}).get('reason')))}")
    for note in report.get("notes") or []:
        if note.startswith(("target ", "previous ")):  # targets skipped, kept or dropped: say so beside the table
            console.print(f"note: {escape(note)}")
    verdict = "[green]PASSED[/]" if report.get("passed") else "[red]FAILED[/]"
    console.print(f"{verdict} · report: {out / 'report.json'}")


def report_reason(report: dict[str, Any], path: str) -> str:
    for a in report["artifacts"]:
        if a["path"] == path:
            return (a.get("parity") or {}).get("reason") or "outside tolerance"
    return "outside tolerance"
