"""Parse the text that LiteRT's `benchmark_model` prints (stdout, or logcat lines with a prefix).

What the tool prints and what is read (times in microseconds unless said):
  Running benchmark for at least 1 iterations ...          warm-up phase
  count=12 first=... curr=... min=... max=... avg=... std=...
  Running benchmark for at least 100 iterations ...        the timed runs
  count=100 first=... min=... max=... avg=... std=... [p5=... median=... p95=...]   (percentiles: 2025+ builds)
  Inference timings in us: Init: 5685, First inference: 18535, Warmup (avg): 14462.3, Inference (avg): 14575.2
  Overall peak memory footprint (MB) via periodic monitoring: 11.6562
  Replacing 10 out of 10 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions ...
  Operator-wise Profiling Info for Regular Benchmark Runs:  then a "Run Order" table of
  [node type] [start] [first] [avg ms] [%] [cdf%] [mem KB] [times called] [Name]
Older builds print "Average inference timings in us: Warmup: ..., Init: ..., Inference: ..."; both are read.
The op table's cells are tab-separated (tsl StatsCalculator); since TF 2.9.1 XNNPACK reports its own
operators there, with spaces in the node type ("Convolution (NHWC, F32) IGEMM"), so rows are split
on tabs (on runs of spaces only when the tabs were lost, e.g. text copied from a terminal).
A stats line whose runs all took the same time reads "count=N curr=X(all same)", without min/max/avg.
"""
from __future__ import annotations

import re
from typing import Any, Optional

_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"(\w+)=({_NUMBER})")
_TIMINGS = re.compile(r"inference timings in us:\s*(.*)$", re.IGNORECASE)
_TIMING_PAIR = re.compile(rf"([A-Za-z][A-Za-z ()]*?):\s*({_NUMBER})")
_PEAK = re.compile(rf"Overall peak memory footprint \(MB\)[^:]*:\s*({_NUMBER})")
_DELTA = re.compile(rf"Memory footprint delta from the start of the tool \(MB\):\s*init=({_NUMBER})\s+overall=({_NUMBER})")
_REPLACING = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \((\w+)\) node, yielding (\d+) partitions")
_FAILED = re.compile(r"(Failed to apply [^\n]*delegate[^\n]*|Benchmarking failed[^\n]*|ERROR: [^\n]*)")
_PREFIX = re.compile(r"^(?:\d\d-\d\d [\d:.]+\s+\d+\s+\d+\s+\w\s+tflite\s*:\s?)?(?:INFO:\s?)?")  # logcat, log level
_RUNNING = "Running benchmark for at least"
_OP_SECTION = "Operator-wise Profiling Info for Regular Benchmark Runs"
_COLUMNS = {"node type": "node_type", "start": "start_ms", "first": "first_ms", "avg ms": "avg_ms", "%": "percent",
            "cdf%": "cdf_percent", "mem kb": "mem_kb", "times called": "times_called"}


class BenchmarkOutputError(ValueError):
    """The text holds no timing results (the run failed or this is not benchmark_model output)."""


def _ms(us: Optional[float]) -> Optional[float]:
    return None if us is None else round(us / 1000.0, 4)


def _stats_line(line: str) -> Optional[dict[str, float]]:
    if "Timings (microseconds)" in line or "Memory (bytes)" in line:
        return None  # the op profiler's own summaries, not the benchmark's
    match = re.search(r"\bcount=(\d+)(.*)$", line)
    if not match:
        return None
    values = {"count": float(match.group(1))}
    values.update({k: float(v) for k, v in _PAIR.findall(match.group(2))})
    if values["count"] > 0 and "avg" not in values and "curr" in values:  # "(all same)" or a single run
        values.update(min=values["curr"], max=values["curr"], avg=values["curr"], std=0.0)
    return values


def _timed_stats(lines: list[str]) -> Optional[dict[str, float]]:
    """The statistics line of the timed runs: the first one after the last 'Running benchmark' line."""
    starts = [i for i, line in enumerate(lines) if _RUNNING in line]
    begin = starts[-1] + 1 if starts else 0
    found = [s for s in (_stats_line(line) for line in lines[begin:]) if s is not None]
    if found:
        return found[0]
    if starts:
        return None
    everything = [s for s in (_stats_line(line) for line in lines) if s is not None]
    return everything[-1] if everything else None


def _timings(lines: list[str]) -> dict[str, float]:
    for line in reversed(lines):
        match = _TIMINGS.search(line)
        if match:
            return {key.strip().lower(): float(value) for key, value in _TIMING_PAIR.findall(match.group(1))}
    return {}


def _op_table(lines: list[str]) -> list[dict[str, Any]]:
    """Rows of the 'Run Order' table of the regular runs' op profile."""
    try:
        start = next(i for i, line in enumerate(lines) if _OP_SECTION in line)
    except StopIteration:
        return []
    header_at = next((i for i in range(start, len(lines)) if "[node type]" in lines[i].lower()), None)
    if header_at is None:
        return []
    columns = [c.strip().lower() for c in re.findall(r"\[([^\]]+)\]", lines[header_at])]
    rows = []
    for line in lines[header_at + 1:]:
        text = _PREFIX.sub("", line).strip()
        if not text or text.startswith("="):
            break
        value_columns = [c for c in columns if c != "name"]
        if "\t" in text:  # as printed: one cell per tab, node types and names may hold spaces
            parts = [c.strip() for c in text.split("\t")]
            cells, name = parts[:len(value_columns)], "\t".join(parts[len(value_columns):]).strip()
        else:  # tabs lost: the name is the bracketed tail, or whatever follows the value columns
            name_match = re.search(r"\[.*\](?::\d+)?\s*$", text)
            cells = (text[:name_match.start()] if name_match else text).split()
            name = name_match.group(0).strip() if name_match else " ".join(cells[len(value_columns):])
        bracketed = re.fullmatch(r"\[(.*)\](?::\d+)?", name)  # newer builds append ":<node index>"
        name = bracketed.group(1) if bracketed else name
        row: dict[str, Any] = {}
        for column, cell in zip(value_columns, cells):
            key = _COLUMNS.get(column, column.replace(" ", "_"))
            if key == "node_type":
                row[key] = cell
                continue
            try:
                row[key] = float(cell.rstrip("%"))
            except ValueError:
                row[key] = cell
        if "node_type" not in row:
            break
        row["name"] = name
        rows.append(row)
    return rows


def parse(text: str) -> dict[str, Any]:
    """Timings (ms), memory (MB), delegate partitioning and the per-op table found in `text`."""
    lines = text.splitlines()
    stats = _timed_stats(lines)
    timings = _timings(lines)
    if stats is None and not timings:
        failure = _FAILED.search(text)
        reason = failure.group(1).strip() if failure else "no 'Inference timings' or 'count=' line"
        raise BenchmarkOutputError(f"benchmark_model gave no timings: {reason}")
    stats = stats or {}
    inference_us = timings.get("inference (avg)", timings.get("inference"))
    if stats.get("avg", inference_us) is None:  # "count=0" and "Inference (avg): nan": no run finished
        raise BenchmarkOutputError("benchmark_model gave no timings: no timed run finished (count=0)")
    result: dict[str, Any] = {
        "mean_ms": _ms(stats.get("avg", inference_us)),
        "min_ms": _ms(stats.get("min")),
        "max_ms": _ms(stats.get("max")),
        "std_ms": _ms(stats.get("std")),
        "p50_ms": _ms(stats.get("median")),
        "p5_ms": _ms(stats.get("p5")),
        "p95_ms": _ms(stats.get("p95")),
        "runs": int(stats["count"]) if "count" in stats else None,
        "init_ms": _ms(timings.get("init")),
        "first_inference_ms": _ms(timings.get("first inference")),
        "warmup_avg_ms": _ms(timings.get("warmup (avg)", timings.get("warmup"))),
    }
    peak = _PEAK.search(text)
    result["peak_memory_mb"] = float(peak.group(1)) if peak else None
    delta = _DELTA.search(text)
    if delta:
        result["memory_delta_mb"] = {"init": float(delta.group(1)), "overall": float(delta.group(2))}
    result["delegation"] = [{"delegate": m.group(3), "replaced_nodes": int(m.group(1)), "total_nodes": int(m.group(2)),
                             "partitions": int(m.group(4))} for m in _REPLACING.finditer(text)]
    result["ops"] = _op_table(lines)
    return result
