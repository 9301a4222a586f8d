"""Terminal summary of a report: the artifact table, then any failed budget, limit vs actual.

Fits 100 columns: accuracy and its change share a cell, only the most telling latency is shown (device,
else browser, else host), long paths and notes wrap; report.md has the full table."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgekit.budgets import best_by_place, describe, failures, latency_text
from edgekit.report import count_text


def print_summary(report: dict[str, Any], *, out: Path, console: Console | None = None) -> None:
    if console is None:
        console = Console(highlight=False)
        console = Console(highlight=False, width=min(console.width, WIDTH) if console.is_terminal else WIDTH)
    table = Table(title=f"edgekit report ({out})", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    longest = min(34, max([len(str(a.get("path"))) for a in report["artifacts"]] + [8]))
    for column in ("artifact", "bytes", "gzip", "accuracy Δ pp", "p50", "budgets"):
        left = column in ("artifact", "budgets")
        table.add_column(column, justify="left" if left else "right", overflow="fold",
                         width=longest if column == "artifact" else None,
                         min_width={"budgets": 13, "p50": 8}.get(column),
                         max_width={"p50": 16, "budgets": 16}.get(column),
                         no_wrap=column not in ("artifact", "budgets", "p50"))
    for a in report["artifacts"]:
        latency = best_by_place(a.get("latency") or [])[:1]  # the device's, else the browser's, else the host's
        gated = a.get("budgets") or []
        failed = [b["name"] for b in gated if not b.get("passed")]
        accuracy = "—" if a.get("accuracy") is None else f"{100 * a['accuracy']:.2f} %"
        if a.get("accuracy_drop") is not None:
            accuracy += f" {0.0 - a['accuracy_drop']:+.2f}"
        table.add_row(
            a["path"], count_text(a.get("bytes")), count_text(a.get("gzip_bytes")), accuracy,
            " · ".join(latency_text(e) for e in latency) or "—",
            (f"[red]FAIL {len(failed)} of {len(gated)}[/]") if failed else (f"pass ({len(gated)})" if gated else "not gated"),
        )
    console.print(table)
    parity: dict[str, int] = {}
    for a in report["artifacts"]:
        if a.get("status") != "failed":
            status = (a.get("parity") or {}).get("status", "not_verified")
            parity[status] = parity.get(status, 0) + 1
    console.print("parity: " + ", ".join(f"{n} {status}" for status, n in sorted(parity.items()))
                  + (" (not_verified: could not run here, e.g. Core ML off macOS)" if "not_verified" in parity else "")
                  + f"; every column in {out / 'report.md'}")
    failed = failures(report)
    if failed:
        budget_table = Table(title="budgets exceeded", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
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


WIDTH = 100  # the summary fits 100 columns (report.md has every column)


def report_reason(report: dict[str, Any], path: str) -> str:
    for a in report["artifacts"]:
        if a["path"] == path:
            return (a.get("parity") or {}).get("reason") or "outside tolerance"
    return "outside tolerance"
