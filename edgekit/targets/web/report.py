"""report.md section for the web target: every browser runtime/backend, and the recommendation."""
from __future__ import annotations

from typing import Any

from edgekit.report import parity_text


def _ms(value: Any) -> str:
    return "—" if value is None else f"{value:,.3f}"


PLACE = "runtimes"  # before the budget table


def report_fields(artifacts: list[dict[str, Any]], settings: dict[str, Any] | None = None) -> dict[str, Any]:
    from edgekit.targets.web.recommend import recommend_web

    settings = settings or {}
    return {"web_recommendation": recommend_web(artifacts, objective=settings.get("objective", "p50"),
                                                network=settings.get("network"))}


def ship_note(report: dict[str, Any]) -> str:
    """The runtime the "What to ship" line names for the web platform."""
    return ((report.get("web_recommendation") or {}).get("runtime")) or ""


def section(report: dict[str, Any]) -> list[str]:
    rows = [(a, e) for a in report.get("artifacts", []) if a.get("target") == "web"
            for e in a.get("latency") or [] if e.get("where") == "browser"]
    if not rows:
        return []
    lines = ["", "## Web runtimes in the browser", "",
             "| artifact | runtime / backend | p50 ms | p90 ms | first inference ms | bytes transferred | "
             "outputs vs Keras (exported samples) | status |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    for artifact, e in rows:
        name = f"{e.get('runtime')} / {e.get('backend')}"
        if e.get("p50_ms") is None:
            lines.append(f"| `{artifact['path']}` | {name} | — | — | — | — | — | unavailable: {e.get('reason', '?')} |")
            continue
        check = e.get("check") or {}
        checked = (f"{parity_text(check)} on {check.get('samples', 0)}" if check else "—")
        transferred = e.get("bytes_transferred")
        model_bytes = e.get("model_bytes_transferred")
        bytes_text = "—" if transferred is None else (
            f"{transferred:,} (model {model_bytes:,})" if model_bytes is not None else f"{transferred:,}")
        lines.append(f"| `{artifact['path']}` | {name} | {_ms(e['p50_ms'])} | {_ms(e.get('p90_ms'))} | "
                     f"{_ms(e.get('first_inference_ms'))} | {bytes_text} | {checked} | "
                     f"measured ({e.get('browser', 'browser')}) |")
    best = report.get("web_recommendation")
    if best:
        lines += ["", f"**Recommended web runtime: {best['runtime']} {best['backend']}** (`{best['path']}`): "
                      f"p50 {best['p50_ms']:.3f} ms, first inference {_ms(best.get('first_inference_ms'))} ms — "
                      f"{best['reason']}."]
    answers = (best or {}).get("answers") or {}
    if answers:
        network = best.get("network") or {}
        lines += ["", f"The runtime choice by objective (`objective = \"{best.get('objective', 'p50')}\"` decides the "
                      f"recommendation; download = brotli bytes of the runtime files the page fetched + the model; "
                      f"first inference on {network.get('name')} = measured on localhost + download at "
                      f"{network.get('mbit_s', 0):g} Mbit/s + 4 × {network.get('rtt_ms', 0):g} ms RTT):", "",
                  "| objective | runtime / backend | artifact | p50 ms | first inference on network ms | download B |",
                  "|---|---|---|---:|---:|---:|"]
        for name, label in (("p50", "fastest p50"), ("first_inference", "fastest first inference"),
                            ("bytes", "fewest bytes")):
            a = answers.get(name)
            if a is None:
                lines.append(f"| {label} | not measured (no runtime download bytes) | — | — | — | — |")
                continue
            download = a.get("download_brotli_bytes")
            lines.append(f"| {label} | {a['runtime']} / {a['backend']} | `{a['path']}` | {_ms(a['p50_ms'])} | "
                         f"{_ms(a.get('first_inference_on_network_ms'))} | "
                         f"{'—' if download is None else format(download, ',')} |")
    sized = {(e.get("runtime"), e.get("backend"), e.get("threads")): e for _, e in rows if e.get("runtime_raw_bytes")}
    if sized:
        lines += ["", "Runtime download (the runtime files each page fetched):", ""]
        for (runtime, backend, threads), e in sized.items():
            pre = e.get("runtime_precompressed_brotli_bytes")
            label = f"{runtime} / {backend}" + (f", {threads} thread{'s' if threads > 1 else ''}" if threads else "")
            lines.append(f"- {label}: {e['runtime_raw_bytes']:,} B raw, gzip {e['runtime_gzip_bytes']:,} B, "
                         f"brotli {e['runtime_brotli_bytes']:,} B"
                         + (f" (precompressed brotli -11: {pre:,} B)" if pre is not None else "")
                         + f" — {e.get('runtime_bytes_source', 'computed')}")
    lines += ["", "First inference counts from opening the page: runtime scripts and wasm, model download, "
                  "compilation and one run, served from localhost without compression, so bytes transferred "
                  "are uncompressed. What a compressing server sends for the model files:", ""]
    for a in report.get("artifacts", []):
        if a.get("target") == "web" and a.get("brotli_bytes") is not None:
            files = len(a.get("files") or [a])
            lines.append(f"- `{a['path']}` ({files} file{'s' if files > 1 else ''}): {a['bytes']:,} B, "
                         f"gzip {a['gzip_bytes']:,} B, brotli {a['brotli_bytes']:,} B")
    return lines
