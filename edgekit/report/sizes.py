"""report.md section "Where the bytes are": each shipped .tflite / TF.js artifact's largest tensors
(from `edgekit why`, recorded in the artifact's `size_breakdown`)."""
from __future__ import annotations

from typing import Any


def section(report: dict[str, Any]) -> list[str]:
    rows = [(a, e) for a in report.get("artifacts", []) for e in a.get("size_breakdown") or []]
    if not rows:
        return []
    lines = ["", "## Where the bytes are", "",
             "The largest weight tensors of each shipped artifact, by their bytes after gzip (each tensor "
             "compressed alone: an estimate of its share of the download). `edgekit why ARTIFACT` lists more.", "",
             "| artifact | tensor (the op that reads it) | bytes | gzip | share of download | dtype | zeros | "
             "unique per channel | hint |",
             "|---|---|---:|---:|---:|---|---:|---:|---|"]
    for artifact, e in rows:
        zeros = "—" if e.get("sparsity") is None else f"{100 * e['sparsity']:.0f} %"
        unique = "—" if e.get("max_unique_per_channel") is None else f"{e['max_unique_per_channel']:,}"
        name = str(e.get("used_by") or e.get("tensor")).replace("|", "\\|")
        lines.append(f"| `{artifact['path']}` | {name} | {e['bytes']:,} | {e['gzip_bytes']:,} | "
                     f"{100 * e['share_of_download']:.0f} % | {e['dtype']} | {zeros} | {unique} | {e.get('hint') or ''} |")
    return lines
