"""Benchmark: training-time compression of the example teacher against plain post-training int8.

    .venv/bin/python benchmarks/compression.py [--train-samples N] [--only NAME ...]

Every variant goes through `edgekit build` (recipe -> int8 TFLite -> LiteRT accuracy on all
10,000 test images -> structure measured in the .tflite). Ratios are to the post-training int8
baseline of the same teacher, measured in the same run. Prints Markdown for BENCHMARKS.md.
Fine-tuning checkpoints go to build/bench_cache, so an interrupted run resumes, and the combined
recipe reuses the prune-75 % step.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from common import ROOT, build_example

PRUNE = {"step": "prune", "schedule": "polynomial", "epochs": 3, "learning_rate": 2e-4, "frequency": 100}
CLUSTER = {"step": "cluster", "init": "kmeans++", "epochs": 2, "learning_rate": 5e-5}
QAT = {"step": "qat", "epochs": 2, "learning_rate": 5e-5}

VARIANTS: dict[str, list[dict[str, Any]]] = {
    "int8 PTQ (baseline)": [],
    "QAT": [QAT],
    "prune 50 % + int8": [{**PRUNE, "final_sparsity": 0.5}],
    "prune 75 % + int8": [{**PRUNE, "final_sparsity": 0.75}],
    "prune 90 % + int8": [{**PRUNE, "final_sparsity": 0.9}],
    "cluster 16 + int8": [{**CLUSTER, "clusters": 16}],
    "cluster 32 + int8": [{**CLUSTER, "clusters": 32}],
    "prune 75 % + cluster 16 + QAT": [{**PRUNE, "final_sparsity": 0.75}, {**CLUSTER, "clusters": 16}, QAT],
}


def run_variant(name: str, recipe: list[dict[str, Any]], *, train_samples: int | None, out: Path,
                exclude: list[str]) -> tuple[dict, float]:
    steps = [{**step, "exclude": exclude} if step["step"] in ("prune", "cluster") and exclude else step
             for step in recipe]
    return build_example(steps, out=out, train_samples=train_samples, label=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-samples", type=int, default=None, help="fine-tune on a subset (default: all 60,000)")
    parser.add_argument("--only", nargs="*", help="run only these variants (names as in the table)")
    parser.add_argument("--exclude", default="", help="layer names left dense/unclustered, e.g. conv2d,probs")
    args = parser.parse_args()
    rows, total = [], time.perf_counter()
    for index, (name, recipe) in enumerate(VARIANTS.items()):
        if args.only and name not in args.only and index:
            continue
        report, seconds = run_variant(name, recipe, train_samples=args.train_samples,
                                      out=ROOT / "build" / "bench_compression" / f"v{index}",
                                      exclude=[n for n in args.exclude.split(",") if n])
        rows.append((name, report, seconds))
    base = rows[0][1]["artifacts"][0]
    ref = rows[0][1]["reference"]
    lines = [
        f"Teacher `{Path(ref['path']).name}`: {ref['params']:,} parameters, float accuracy {100 * ref['accuracy']:.2f} % "
        f"on {ref['eval_samples']:,} test images. All artifacts are full-integer int8 TFLite; accuracy measured in "
        f"LiteRT. Sparsity and unique values are read from the .tflite weight tensors (largest tensor: the dense "
        f"kernel, {max(w['elements'] for w in base['structure']['weights']):,} weights). Fine-tuning on "
        f"{args.train_samples or 60000:,} training images; layers excluded from prune/cluster: "
        f"{args.exclude or 'none'}. Total wall time "
        f"{(time.perf_counter() - total) / 60:.0f} min.",
        "",
        "| variant | accuracy | Δ vs float | bytes | gzip bytes | bytes/param | sparsity | unique/channel (max) | gzip vs baseline | wall time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, report, seconds in rows:
        a = report["artifacts"][0]
        biggest = max(a["structure"]["weights"], key=lambda w: w["elements"])
        lines.append(
            f"| {name} | {100 * a['accuracy']:.2f} % | {0.0 - a['accuracy_drop']:+.2f} pp | {a['bytes']:,} | "
            f"{a['gzip_bytes']:,} | {a['bytes_per_param']:.3f} | {100 * a['structure']['sparsity']:.1f} % | "
            f"{biggest['max_unique_per_channel']} | {a['gzip_bytes'] / base['gzip_bytes']:.3f} | {seconds / 60:.1f} min |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
