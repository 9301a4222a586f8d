"""report.md: one table across artifacts, then the budget table and notes."""
from __future__ import annotations

from typing import Any

from edgekit.budgets import best_by_place, describe, latency_text
from edgekit.report import latency as latency_section
from edgekit.report import sizes as sizes_section
from edgekit.report import count_text, parity_text
from edgekit.targets import registry


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


def _pp(value: Any) -> str:
    return "—" if value is None else f"{value:+.2f} pp"


def _latency(artifact: dict[str, Any]) -> str:
    """The best p50 of each place, device first: host and device numbers never share a cell unlabelled."""
    best = best_by_place(artifact.get("latency") or [])
    return " · ".join(latency_text(e) for e in best) or "—"


def _budgets(artifact: dict[str, Any]) -> str:
    budgets = artifact.get("budgets") or []
    if not budgets:
        return "not gated"
    failed = [b["name"] for b in budgets if not b.get("passed")]
    return "FAILED: " + ", ".join(failed) if failed else f"pass ({len(budgets)})"


def _targets(report: dict[str, Any]) -> list[str]:
    """Targets that failed, or were kept from an earlier build, with why (silent when all were just built)."""
    status = report.get("target_status") or {}
    unusual = {name: s for name, s in status.items() if s.get("status") != "built" or s.get("kept_from")}
    failed = [a for a in report.get("artifacts", []) if a.get("status") == "failed"]
    if not unusual and not failed:
        return []
    lines = ["", "## Targets", "", "| target | status | why |", "|---|---|---|"]
    for name, s in unusual.items():
        if s.get("status") == "failed":
            lines.append(f"| {name} | **failed** (exit {s.get('exit_code')}) | {s.get('reason', '')} |")
        else:
            lines.append(f"| {name} | kept | built {s.get('kept_from')} from the same model and settings |")
    for a in failed:
        lines.append(f"| `{a['path']}` | **not built** (exit {(a.get('error') or {}).get('exit_code')}) | "
                     f"{(a.get('error') or {}).get('reason', '')} |")
    return lines


def _parity(artifact: dict[str, Any]) -> str:
    return parity_text(artifact.get("parity") or {})


def _recipe(report: dict[str, Any]) -> list[str]:
    recipe = report.get("recipe")
    if not recipe:
        return []
    lines = ["", "## Recipe", "",
             f"Compressed Keras model: {_pct(recipe.get('keras_accuracy'))} "
             f"({_pp(0.0 - recipe['keras_accuracy_drop'])} vs the original)"
             + (f"; quantization-aware training scheme {recipe['quantization']}" if recipe.get("quantization") else ""),
             "", "| step | epochs | time | last train accuracy | layers applied | left as they are |", "|---|---:|---:|---:|---:|---|"]
    plan = recipe.get("distribute")
    if plan:
        alone = [s["step"] for s in recipe.get("steps", []) if s.get("distributed") is False]
        lines[5:5] = [f"Trained with {plan['strategy'].split(', this one')[0]}"
                      + (f"; {', '.join(alone)} on the chief alone (see Notes)" if alone else "") + ".", ""]
    for step in recipe.get("steps", []):
        history = step.get("history") or [{}]
        coverage = recipe.get("coverage", {}).get(step["step"], [])
        skipped = ", ".join(f"{e['layer']} ({e['reason']})" for e in coverage if e["status"] == "skipped") or "—"
        applied = sum(1 for e in coverage if e["status"] == "applied") if coverage else "—"
        accuracy = history[-1].get("accuracy")
        lines.append(f"| {step['step']}{' (cached)' if step.get('resumed') else ''} | {len(step.get('history', []))} | "
                     f"{step.get('seconds', 0):.0f} s | {_pct(accuracy)} | {applied} | {skipped} |")
    lines += ["", "Structure measured in each artifact's largest weight tensor:", "",
              "| artifact | tensor (layer) | dtype | sparsity | unique values per channel (max) |", "|---|---|---|---:|---:|"]
    for a in report.get("artifacts", []):
        weights = (a.get("structure") or {}).get("weights") or []
        if weights:
            w = max(weights, key=lambda item: item["elements"])
            lines.append(f"| `{a['path']}` | {w.get('layer') or '?'} {w['shape']} | {w['dtype']} | "
                         f"{100 * w['sparsity']:.1f} % | {w['max_unique_per_channel']} |")
    return lines


def _target_sections(report: dict[str, Any], place: str) -> list[str]:
    """Each target's own report.md section for `place`, in registry order, for targets the report has."""
    present = {a.get("target") for a in report.get("artifacts", [])}
    return [line for target in registry.TARGETS if target.name in present
            for line in target.report_section(report, place)]


def render(report: dict[str, Any]) -> str:
    ref = report.get("reference", {})
    lines = [
        "# edgekit build report",
        "",
        f"**Result: {'PASSED' if report.get('passed') else 'FAILED'}** · model `{ref.get('path', '?')}` · "
        f"reference accuracy {_pct(ref.get('accuracy'))} on {ref.get('eval_samples', '?')} samples · "
        f"edgekit {report.get('edgekit_version', '?')}",
        "",
        "| artifact | precision | bytes | gzip | accuracy | Δacc | p50 | parity | budgets |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for a in report.get("artifacts", []):
        lines.append(
            f"| `{a['path']}` | {a['precision']} | {count_text(a.get('bytes'))} | {count_text(a.get('gzip_bytes'))} | "
            f"{_pct(a.get('accuracy'))} | "
            f"{_pp(0.0 - a['accuracy_drop'] if a.get('accuracy_drop') is not None else None)} | {_latency(a)} | "
            f"{_parity(a)} | {_budgets(a)} |"
        )
    lines += _targets(report)
    lines += _recipe(report)
    lines += _target_sections(report, "runtimes")
    gated = [(a, b) for a in report.get("artifacts", []) for b in a.get("budgets", [])]
    if gated:
        lines += ["", "## Budgets", "", "| artifact | budget | limit | actual | result |", "|---|---|---:|---:|---|"]
        for a, b in gated:
            limit, actual = describe(b)
            where = f" ({b['where']})" if b.get("where") else ""
            lines.append(f"| `{a['path']}` | {b['name']} | {limit} | {actual}{where} | {'pass' if b['passed'] else '**FAIL**'} |")
    lines += latency_section.section(report)
    lines += _target_sections(report, "details")
    lines += sizes_section.section(report)
    notes = list(report.get("notes", []))
    if any(e.get("where") == "host" for a in report.get("artifacts", []) for e in a.get("latency", [])):
        notes.append("Latency marked `host` was measured with LiteRT on the build machine's CPU. "
                     "It is not a phone number: profile on a device for that.")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
