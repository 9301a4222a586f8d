"""report.md section for Core ML packages: how each layer's weights are stored, and the checks."""
from __future__ import annotations

from typing import Any


PLACE = "details"  # after the latency table


def section(report: dict[str, Any]) -> list[str]:
    packages = [a for a in report.get("artifacts", []) if a.get("target") == "ios" and a.get("coreml")]
    if not packages:
        return []
    lines = ["", "## Core ML packages (iOS)", "",
             "Checked on this machine by reading each package back: interface, and every weight decompressed "
             "and compared with the Keras model. Prediction needs macOS, so parity and accuracy stay "
             "`not_verified` elsewhere; `edgekit profile --target ios` measures latency on a Mac.", ""]
    for a in packages:
        info = a["coreml"]
        failed = [c["name"] for c in a.get("checks", []) if c["status"] == "failed"]
        passed = sum(1 for c in a.get("checks", []) if c["status"] == "passed")
        lines += [f"### `{a['path']}`", "",
                  f"{info['minimum_deployment_target']}, {info['compute_precision']} compute, input "
                  f"`{info['input']['name']}` ({info['input']['kind']} {info['input']['shape']}), outputs "
                  f"{', '.join(f'`{o}`' for o in info['outputs'])}; {a['bytes']:,} B, {a['gzip_bytes']:,} B zipped. "
                  f"Checks: {passed} passed" + (f", **failed: {', '.join(failed)}**" if failed else "") + ".", "",
                  "| layer | stored as | bits | per channel | source | sparsity | values per channel (max) | "
                  "lossless vs converted | max error vs Keras |", "|---|---|---:|---|---|---:|---:|---|---:|"]
        for name, layer in info.get("layers", {}).items():
            error = layer.get("max_abs_error_vs_keras")
            folded = " (BN folded)" if layer.get("batchnorm_folded") else ""
            lines.append(f"| {name} | {layer['stored']} | {layer.get('nbits') or '—'} | "
                         f"{'yes' if layer.get('per_channel') else 'no'} | {layer.get('source') or '—'} | "
                         f"{100 * layer['sparsity']:.1f} % | {layer['unique_per_channel_max']} | "
                         f"{'yes' if layer['lossless'] else 'no'} | "
                         f"{'—' if error is None else f'{error:.2g}'}{folded} |")
        for note in a.get("notes", []):
            lines.append(f"\nNote: {note}")
        lines.append("")
    return lines
