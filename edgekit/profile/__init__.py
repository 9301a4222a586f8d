"""Latency pieces shared by targets: host LiteRT timing (`host.py`) and merging results measured
elsewhere (`merge.py`). Each target's own harness is `targets/<name>/harness.py`. Entries follow the
report's latency schema: `{where, runtime, threads, p50_ms, p90_ms, runs, ...}`, `where` one of
host/device/browser."""
