"""Latency harnesses. Each returns entries of the report's latency schema:
`{where, runtime, threads, p50_ms, p90_ms, runs, ...}` with `where` one of host/device/browser."""
