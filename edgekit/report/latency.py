"""report.md: device and host latency entries, each place in its own table (browser numbers have
the web section)."""
from __future__ import annotations

from typing import Any

TITLES = {
    "device": "On a device",
    "host": "On the build host (LiteRT on this machine's CPU; not phone numbers)",
}
SLOWEST_OPS = 5


def _ms(value: Any) -> str:
    return "—" if value is None else f"{value:.3f}"


def _engine(entry: dict[str, Any]) -> str:
    parts = [entry.get("runtime") or "?"]
    for key in ("delegate", "backend", "compute_units"):
        if entry.get(key):
            parts.append(str(entry[key]))
    return " / ".join(parts)


def _row(artifact: dict[str, Any], e: dict[str, Any]) -> str:
    where = e.get("device") or e.get("machine") or e.get("browser") or "—"
    memory = "—" if e.get("peak_memory_mb") is None else f"{e['peak_memory_mb']:.1f} MB"
    spread = (f"{_ms(e['min_ms'])}–{_ms(e['max_ms'])}" if e.get("min_ms") is not None and e.get("max_ms") is not None
              else "—" if e.get("min_ms") is None else f"min {_ms(e['min_ms'])}")
    status = " (failed)" if e.get("status") == "failed" else ""
    return (f"| `{artifact['path']}` | {_engine(e)}{status} | {where} | {e.get('threads', '—')} | {_ms(e.get('p50_ms'))} | "
            f"{_ms(e.get('p90_ms'))} | {_ms(e.get('mean_ms'))} | {spread} | {e.get('runs', '—')} | {memory} |")


def _slowest_ops(report: dict[str, Any]) -> list[str]:
    lines = []
    for a in report.get("artifacts", []):
        for e in a.get("latency", []):
            ops = [o for o in e.get("ops") or [] if isinstance(o.get("avg_ms"), (int, float))]
            if e.get("where") != "device" or not ops:
                continue
            lines += ["", f"Slowest ops of `{a['path']}` on {e.get('device', 'the device')} ({_engine(e)}):", "",
                      "| node type | name | avg ms | % |", "|---|---|---:|---:|"]
            for o in sorted(ops, key=lambda o: -o["avg_ms"])[:SLOWEST_OPS]:
                lines.append(f"| {o.get('node_type', '?')} | {o.get('name', '')[:60]} | {o['avg_ms']:.3f} | "
                             f"{o.get('percent', '—')} |")
    return lines


def section(report: dict[str, Any]) -> list[str]:
    artifacts = report.get("artifacts", [])
    places = [w for w in TITLES if any(e.get("where") == w for a in artifacts for e in a.get("latency", []))]
    if not places:
        return []
    lines = ["", "## Latency", "", "Milliseconds per inference (batch 1). Each place has its own table: "
             "numbers from different places are not comparable."]
    for where in places:
        lines += ["", f"### {TITLES[where]}", "",
                  "| artifact | runtime | where | threads | p50 | p90 | mean | min–max | runs | peak memory |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for a in artifacts:
            lines += [_row(a, e) for e in a.get("latency", []) if e.get("where") == where]
        notes = sorted({e["note"] for a in artifacts for e in a.get("latency", [])
                        if e.get("where") == where and e.get("note") and where != "host"})
        lines += [""] + [f"- {n}" for n in notes] if notes else []
    return lines + _slowest_ops(report)
