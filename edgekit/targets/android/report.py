"""report.md: Android delegate compatibility (per artifact: delegated share, fallbacks, op table)."""
from __future__ import annotations

from typing import Any

DELEGATES = ("xnnpack", "gpu", "nnapi")
LABELS = {"xnnpack": "XNNPACK", "gpu": "GPU", "nnapi": "NNAPI"}
# Builtin options worth showing in the op table (the rest stay in report.json).
SHOWN_PARAMS = ("stride_h", "stride_w", "padding", "fused_activation_function", "dilation_h_factor",
                "depth_multiplier", "beta", "keep_num_dims", "weights_format")


def _params(params: dict[str, Any]) -> str:
    shown = [f"{k}={v}" for k, v in params.items() if k in SHOWN_PARAMS
             and (k, v) not in (("fused_activation_function", "NONE"), ("weights_format", "DEFAULT"),
                                ("dilation_h_factor", 1), ("depth_multiplier", 1))]
    return ", ".join(shown) or "—"


def _fallback(summary: dict[str, Any]) -> str:
    fallback = summary.get("fallback") or []
    if not fallback:
        return "—"
    seen: dict[str, str] = {}
    for f in fallback:
        seen.setdefault(f["op"], f["reason"])
    return "; ".join(f"{op} ({reason})" for op, reason in seen.items())


def _op_rows(ops: list[dict[str, Any]]) -> list[str]:
    """Ops grouped by type, input tensors' dtypes, shown parameters and support; with a count."""
    groups: dict[tuple, int] = {}
    for op in ops:
        dtypes = ", ".join(t.split("[")[0] + (" const" if t.endswith("const") else "") for t in op["inputs"])
        support = tuple(op["supported"].get(d) for d in DELEGATES)
        key = (op["op"], dtypes, _params(op.get("params") or {}), support)
        groups[key] = groups.get(key, 0) + 1
    rows = []
    for (name, dtypes, params, support), count in groups.items():
        marks = " | ".join("yes" if ok else "**no**" for ok in support)
        rows.append(f"| {name} | {count} | {dtypes} | {params} | {marks} |")
    return rows


PLACE = "details"  # after the latency table


def section(report: dict[str, Any]) -> list[str]:
    return _sparse(report) + _low_bit(report) + _delegates(report)


def _sparse(report: dict[str, Any]) -> list[str]:
    from edgekit.targets.android.sparse import summary

    stored = [a for a in report.get("artifacts", []) if a.get("target") == "android" and a.get("sparse_storage")]
    if not stored:
        return []
    return ["", "## Sparse storage (Android)", "",
            "Raw bytes are what a phone stores and maps; the converter's sparse encoding was tried on "
            "artifacts whose weights are mostly zeros.", ""] + [
        f"- `{a['path']}`: {summary(a['sparse_storage'])}" for a in stored]


def _low_bit(report: dict[str, Any]) -> list[str]:
    from edgekit.targets.android.lowbit import summary

    stored = [a for a in report.get("artifacts", []) if a.get("target") == "android" and a.get("low_bit_storage")]
    if not stored:
        return []
    lines = ["", "## 4-bit storage of clustered weights (Android)", "",
             "Filters clustered to at most 16 values per channel were re-stored 4-bit where LiteRT runs them "
             "(`low_bit`); the table lists each artifact's largest weight tensors.", ""]
    for a in stored:
        record = a["low_bit_storage"]
        lines += [f"- `{a['path']}`: {summary(record)}", "", "| tensor | op | shape | values/channel | bits | "
                  "max rounding | why |", "|---|---|---|---:|---:|---:|---|"]
        for t in record.get("tensors", []):
            rounding = "—" if t.get("max_rounding") is None else f"{100 * t['max_rounding']:.1f} %"
            lines.append(f"| `{t['tensor'][-48:]}` | {t['op']} | {'×'.join(map(str, t['shape']))} | "
                         f"{t['distinct_per_channel']} | {t['bits']} | {rounding} | {t['reason']} |")
        lines.append("")
    return lines


def _delegates(report: dict[str, Any]) -> list[str]:
    checked = [a for a in report.get("artifacts", []) if a.get("delegates")]
    if not checked:
        return []
    first = checked[0]["delegates"]
    lines = ["", "## Delegate compatibility (Android)", "",
             f"XNNPACK: {first['xnnpack']['method']}. GPU and NNAPI: the documented op-support rules "
             f"(`edgekit/targets/android/delegates.toml`), NNAPI checked for Android API {first.get('min_sdk', '?')}. "
             "Partitions: delegated runs of the graph; each boundary copies tensors between delegate and CPU.", "",
             "| artifact | delegate | delegated nodes | fraction | partitions | would fall back |",
             "|---|---|---:|---:|---:|---|"]
    for a in checked:
        for name in DELEGATES:
            s = a["delegates"].get(name)
            if not s:
                continue
            fraction = "—" if s.get("fraction") is None else f"{100 * s['fraction']:.0f} %"
            lines.append(f"| `{a['path']}` | {LABELS[name]} | {s['supported_nodes']} / {s['total_nodes']} | {fraction} | "
                         f"{s.get('partitions', '—')} | {_fallback(s)} |")
    note = first.get("nnapi", {}).get("note")
    if note:
        lines += ["", f"NNAPI: {note}."]
    for a in checked:
        lines += ["", f"Ops of `{a['path']}`:", "",
                  "| op | count | input dtypes | parameters | XNNPACK | GPU | NNAPI |", "|---|---:|---|---|---|---|---|"]
        lines += _op_rows(a["delegates"].get("ops", []))
    return lines
