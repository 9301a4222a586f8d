"""Which web runtime to ship: the recommendation the report and the demo app read."""
from __future__ import annotations

from typing import Any, Optional

from edgekit.budgets import usable


def recommend_web(artifacts: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The web runtime with the fastest browser p50 across the web artifacts, and what it costs."""
    measured = [(a, e) for a in artifacts if a.get("target") == "web" for e in a.get("latency") or []
                if e.get("where") == "browser" and usable(e)]
    if not measured:
        return None
    artifact, best = min(measured, key=lambda pair: pair[1]["p50_ms"])
    unavailable = sorted({f"{e['runtime']} {e['backend']}" for a in artifacts if a.get("target") == "web"
                          for e in a.get("latency") or [] if e.get("where") == "browser" and e.get("p50_ms") is None})
    return {"runtime": best.get("runtime"), "backend": best.get("backend"), "path": artifact["path"],
            "p50_ms": best["p50_ms"], "first_inference_ms": best.get("first_inference_ms"),
            "bytes_transferred": best.get("bytes_transferred"), "browser": best.get("browser"),
            "compared": len(measured), "unavailable": unavailable,
            "reason": f"fastest browser p50 of {len(measured)} measured runtime/backend pairs"}
