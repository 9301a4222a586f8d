"""Which web runtime to ship: three answers, one per objective, and the one the config chose.

- `p50`: the fastest steady-state browser p50.
- `first_inference`: the fastest first result on a stated network: the first inference measured on
  localhost, plus the brotli bytes of the runtime files the page fetched and of the model at the
  network's speed, plus ROUND_TRIPS round trips (connection, page, runtime scripts, model).
- `bytes`: the fewest brotli bytes to download (runtime + model).
Only measured runtime/backend pairs whose outputs were right compete (`budgets.usable`).
"""
from __future__ import annotations

from typing import Any, Optional

from edgekit.budgets import usable

OBJECTIVES = ("p50", "first_inference", "bytes")
ROUND_TRIPS = 4
DEFAULT_NETWORK = {"name": "4G", "mbit_s": 9.0, "rtt_ms": 150.0}


def download_bytes(artifact: dict[str, Any], entry: dict[str, Any]) -> Optional[int]:
    """Brotli bytes of the runtime files the page fetched plus the model's (None when not measured)."""
    runtime, model = entry.get("runtime_brotli_bytes"), artifact.get("brotli_bytes")
    return None if runtime is None or model is None else int(runtime) + int(model)


def first_on_network(artifact: dict[str, Any], entry: dict[str, Any], network: dict[str, Any]) -> Optional[float]:
    total = download_bytes(artifact, entry)
    if total is None or entry.get("first_inference_ms") is None:
        return None
    transfer_ms = total * 8 / (float(network["mbit_s"]) * 1e3)
    return round(float(entry["first_inference_ms"]) + transfer_ms + ROUND_TRIPS * float(network["rtt_ms"]), 1)


def recommend_web(artifacts: list[dict[str, Any]], *, objective: str = "p50",
                  network: Optional[dict[str, Any]] = None) -> Optional[dict[str, Any]]:
    """The recommended web runtime for `objective`, with every objective's answer under `answers`."""
    network = {**DEFAULT_NETWORK, **(network or {})}
    measured = [(a, e) for a in artifacts if a.get("target") == "web" for e in a.get("latency") or []
                if e.get("where") == "browser" and usable(e)]
    if not measured:
        return None
    scores = {
        "p50": lambda a, e: e["p50_ms"],
        "first_inference": lambda a, e: first_on_network(a, e, network),
        "bytes": lambda a, e: download_bytes(a, e),
    }
    answers: dict[str, Any] = {}
    for name, score in scores.items():
        scored = [(score(a, e), a, e) for a, e in measured if score(a, e) is not None]
        if not scored:
            answers[name] = None
            continue
        value, artifact, entry = min(scored, key=lambda item: item[0])
        answers[name] = {"runtime": entry.get("runtime"), "backend": entry.get("backend"), "path": artifact["path"],
                         "threads": entry.get("threads"), "value": value, "p50_ms": entry["p50_ms"],
                         "first_inference_ms": entry.get("first_inference_ms"),
                         "first_inference_on_network_ms": first_on_network(artifact, entry, network),
                         "download_brotli_bytes": download_bytes(artifact, entry),
                         "runtime_brotli_bytes": entry.get("runtime_brotli_bytes")}
    chosen, note = objective, None
    if answers.get(objective) is None:
        chosen, note = "p50", f"objective {objective!r} needs the runtime's download bytes, not measured: chose by p50"
    best = answers[chosen]
    artifact, entry = next((a, e) for a, e in measured if a["path"] == best["path"]
                           and e.get("runtime") == best["runtime"] and e.get("backend") == best["backend"]
                           and e.get("threads") == best["threads"])
    unavailable = sorted({f"{e['runtime']} {e['backend']}" for a in artifacts if a.get("target") == "web"
                          for e in a.get("latency") or [] if e.get("where") == "browser" and e.get("p50_ms") is None})
    what = {"p50": "fastest browser p50", "bytes": "fewest brotli bytes to download (runtime + model)",
            "first_inference": f"fastest first inference on {network['name']} ({network['mbit_s']:g} Mbit/s, "
                               f"{network['rtt_ms']:g} ms RTT)"}[chosen]
    return {"runtime": best["runtime"], "backend": best["backend"], "path": best["path"], "threads": best["threads"],
            "p50_ms": best["p50_ms"], "first_inference_ms": best.get("first_inference_ms"),
            "bytes_transferred": entry.get("bytes_transferred"), "browser": entry.get("browser"),
            "objective": chosen, "network": network, "answers": answers,
            "compared": len(measured), "unavailable": unavailable,
            "reason": f"{what} of {len(measured)} measured runtime/backend pairs" + (f"; {note}" if note else "")}
