"""Benchmark: the example teacher as fp32 / fp16 / dynamic / int8 / int16x8 TFLite, in one run.

    make bench        (or: .venv/bin/python benchmarks/tflite_precisions.py [--runs 1000])

Sizes, accuracy on all 10,000 Fashion-MNIST test images, host LiteRT latency (1 thread), and the
ratios to fp32 measured in the same run. Also times `edgekit check` and `import edgekit` against a
bare `python -c pass`, as ratios in one run. Prints Markdown for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "fashion_mnist" / "edgekit.toml"


def build_table(runs: int, out: Path) -> tuple[dict, float]:
    from edgekit.config import load_config
    from edgekit.pipeline import build
    from edgekit.progress import Reporter

    config = load_config(CONFIG)
    config.build.out = out
    android = config.targets.android
    android.precisions = ["fp32", "fp16", "dynamic", "int8", "int16x8"]
    android.ship = None
    android.runs = runs
    android.warmup = 50
    start = time.perf_counter()
    report = build(config, target="android", progress=Reporter())
    return report, time.perf_counter() - start


def wall(cmd: list[str], repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=False, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench_tflite")
    args = parser.parse_args()

    report, seconds = build_table(args.runs, args.out)
    ref = report["reference"]
    by_precision = {a["precision"]: a for a in report["artifacts"]}
    base = by_precision["fp32"]
    lines = [
        f"Teacher: `{Path(ref['path']).name}`, {ref['params']:,} parameters, Keras accuracy "
        f"{100 * ref['accuracy']:.2f} % on {ref['eval_samples']:,} test images. Host: {platform.machine()}, "
        f"LiteRT {report['environment'].get('ai-edge-litert')}, 1 thread, {args.runs} timed runs after 50 warm-up. "
        f"Build wall time {seconds:.0f} s.",
        "",
        "| precision | bytes | gzip bytes | bytes/param | accuracy | Δacc | host p50 | host p90 | size vs fp32 | p50 vs fp32 | parity |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for precision, a in by_precision.items():
        lat = a["latency"][0]
        lines.append(
            f"| {precision} | {a['bytes']:,} | {a['gzip_bytes']:,} | {a['bytes_per_param']:.2f} | "
            f"{100 * a['accuracy']:.2f} % | {0.0 - a['accuracy_drop']:+.2f} pp | {lat['p50_ms']:.3f} ms | "
            f"{lat['p90_ms']:.3f} ms | {a['bytes'] / base['bytes']:.3f} | "
            f"{lat['p50_ms'] / base['latency'][0]['p50_ms']:.2f} | {a['parity']['status']} "
            f"(top-1 {100 * a['parity']['top1_agreement']:.1f} %) |"
        )
    python = sys.executable
    bare = wall([python, "-c", "pass"])
    light = wall([python, "-c", "import edgekit.cli"])
    check = wall([python, "-m", "edgekit", "check", str(args.out / "report.json")])
    lines += [
        "",
        "| command | median wall time | ratio to `python -c pass` |",
        "|---|---:|---:|",
        f"| `python -c pass` | {1000 * bare:.0f} ms | 1.00 |",
        f"| `python -c 'import edgekit.cli'` | {1000 * light:.0f} ms | {light / bare:.2f} |",
        f"| `edgekit check build/bench_tflite/report.json` | {1000 * check:.0f} ms | {check / bare:.2f} |",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
