"""Browser wasm vs native LiteRT per thread count (1, 2, 4), same model, same run.

    .venv/bin/python benchmarks/web_threads.py [--rounds 3] [--runs 200] [--threads 1,2,4]

The example teacher and an untrained MobileNet-style student (alpha 1.0, depth 4: latency only) are
built once for the web (`edgekit build --target web`, TF.js uint8 graph model + dynamic-range
`.tflite`). Then, per round and per thread count, native LiteRT (XNNPACK) on `web/model.tflite`
and headless Chromium on TF.js wasm and LiteRT.js wasm with `threads` set (the page is
cross-origin isolated, SIMD on); medians of the rounds' p50, so every ratio comes from the same
minutes of machine load. Prints the BENCHMARKS.md table; JSON in build/bench_web_threads/threads.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT  # noqa: E402

OUT = ROOT / "build" / "bench_web_threads"
TEACHER = ROOT / "examples" / "fashion_mnist" / "teacher.keras"
PAIRS = ["tfjs-wasm", "litertjs-wasm"]


def build(model: Path, out: Path, runs: int) -> tuple[Any, dict[str, Any]]:
    from edgekit.config import parse_config
    from edgekit.pipeline import build as run_build
    from edgekit.progress import Reporter

    config = parse_config({"model": {"path": str(model)},
                           "dataset": {"kind": "fashion_mnist", "eval_samples": 1000, "calibration_samples": 128},
                           "targets": {"web": {"runs": runs, "warmup": 30, "browser_backends": PAIRS,
                                               "profile_browser": False}},
                           "build": {"out": str(out), "sanity_checks": model == TEACHER}}, source="benchmark")
    return config, run_build(config, target="web", progress=Reporter(quiet=True))


def student() -> Path:
    from edgekit.compress.students import StudentSpec, build_student

    path = OUT / "student_untrained.keras"
    path.parent.mkdir(parents=True, exist_ok=True)
    build_student(StudentSpec(alpha=1.0, depth=4), input_shape=(28, 28, 1), classes=10).save(path)
    return path


def measure(out: Path, report: dict[str, Any], config: Any, threads: list[int], rounds: int) -> dict[str, Any]:
    import numpy as np

    from edgekit.profile.host import profile_tflite
    from edgekit.progress import Reporter
    from edgekit.targets.web.harness import profile_folder

    web = [a for a in report["artifacts"] if a["target"] == "web"]
    tflite = (out / "web" / "model.tflite").read_bytes()
    sample = np.zeros((1, 28, 28, 1), dtype=np.float32)
    found: dict[str, dict[str, list[float]]] = {str(t): {} for t in threads}
    for _ in range(rounds):
        for t in threads:
            cell = found[str(t)]
            cell.setdefault("native", []).append(
                profile_tflite(tflite, [sample], threads=t, warmup=50, runs=1000)["p50_ms"])
            settings = config.targets.web.model_copy(update={"threads": t})
            for result in profile_folder(out, web, settings, progress=Reporter(quiet=True)):
                for e in result["latency"]:
                    if e.get("p50_ms") is not None:
                        cell.setdefault(f"{e['runtime']} {e['backend']}", []).append(e["p50_ms"])
                        cell.setdefault(f"{e['runtime']} {e['backend']} threads", []).append(e.get("threads", 1))
    return {t: {k: statistics.median(v) for k, v in cell.items()} for t, cell in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", default="1,2,4")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    results = {}
    for label, model in (("teacher", TEACHER), ("student", student())):
        out = OUT / label
        config, report = build(model, out, args.runs)
        results[label] = measure(out, report, config, threads, args.rounds)
    (OUT / "threads.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"cpus: {os.cpu_count()}; {args.rounds} rounds, medians of p50 (ms)")
    print("| model | threads | native LiteRT | TF.js wasm | ratio | LiteRT.js wasm | ratio | best ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, cells in results.items():
        for t, cell in cells.items():
            native = cell["native"]
            ratios = {k: cell[k] / native for k in ("tfjs wasm", "litertjs wasm") if k in cell}
            row = [f"{cell.get(k, float('nan')):.3f} | {ratios.get(k, float('nan')):.2f}×"
                   + (f" (ran {cell[k + ' threads']:g})" if cell.get(k + " threads", int(t)) != int(t) else "")
                   for k in ("tfjs wasm", "litertjs wasm")]
            print(f"| {label} | {t} | {native:.3f} | {row[0]} | {row[1]} | **{min(ratios.values()):.2f}×** |")


if __name__ == "__main__":
    main()
