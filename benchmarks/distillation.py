"""Benchmark: one MobileNet-style student trained from labels alone vs distilled from the teacher.

    .venv/bin/python benchmarks/distillation.py [--alpha 1.0] [--depth 4] [--epochs 15] [--then prune,cluster]

Both runs use the same student, schedule, data and seed; the only difference is the soft-target
weight (0 = labels only, i.e. trained from scratch; 0.9 = distilled, T = 4). Each goes through
`edgekit build` to an int8 TFLite artifact whose accuracy is measured in LiteRT on all 10,000 test
images. `--then` appends compression steps (e.g. prune,cluster,qat) after distillation.
Prints Markdown for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common import ROOT, build_example
FOLLOW_UPS = {
    "prune": {"step": "prune", "final_sparsity": 0.5, "epochs": 2, "learning_rate": 5e-4},
    "cluster": {"step": "cluster", "clusters": 16, "epochs": 1, "learning_rate": 5e-5},
    "qat": {"step": "qat", "epochs": 1, "learning_rate": 5e-5},
}


def run(args: argparse.Namespace, soft_weight: float, out: Path) -> tuple[dict, float]:
    distill = {"step": "distill", "alpha": args.alpha, "depth": args.depth, "block": args.block,
               "epochs": args.epochs, "soft_weight": soft_weight, "temperature": 4.0}
    return build_example([distill] + [FOLLOW_UPS[name] for name in args.then], out=out, runs=200, warmup=20,
                         label="distillation benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--block", default="separable", choices=["separable", "inverted"])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--then", type=lambda s: [p for p in s.split(",") if p], default=[])
    args = parser.parse_args()
    rows = []
    for label, weight in (("from scratch (labels only)", 0.0), ("distilled (T = 4, soft weight 0.9)", 0.9)):
        out = ROOT / "build" / "bench_distill" / ("scratch" if weight == 0 else "distilled")
        rows.append((label, *run(args, weight, out)))
    teacher = rows[0][1]["reference"]
    lines = [
        f"Student: {args.block}, alpha {args.alpha:g}, depth {args.depth}, {args.epochs} epochs (cosine LR), then "
        f"{' -> '.join(args.then) or 'nothing'}; int8 TFLite. Teacher `{Path(teacher['path']).name}` "
        f"({teacher['params']:,} parameters, {100 * teacher['accuracy']:.2f} %).",
        "",
        "| student | params | int8 bytes | gzip bytes | accuracy (LiteRT, 10k test) | Δ vs teacher | host p50 | wall time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, report, seconds in rows:
        a = report["artifacts"][0]
        lines.append(f"| {label} | {a['params']:,} | {a['bytes']:,} | {a['gzip_bytes']:,} | {100 * a['accuracy']:.2f} % | "
                     f"{0.0 - a['accuracy_drop']:+.2f} pp | {a['latency'][0]['p50_ms']:.3f} ms | {seconds / 60:.1f} min |")
    gain = rows[1][1]["artifacts"][0]["accuracy"] - rows[0][1]["artifacts"][0]["accuracy"]
    lines += ["", f"Distillation gain: **{100 * gain:+.2f} pp** for the same student and schedule."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
