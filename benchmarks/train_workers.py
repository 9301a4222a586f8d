"""Recipe training time in one process and with 2 MultiWorkerMirroredStrategy workers on localhost, in one run.

    .venv/bin/python benchmarks/train_workers.py [--train-samples 12000] [--epochs 2] [--out build/bench_train_workers]

The example teacher pruned (then clustered) for a few epochs on real Fashion-MNIST: first with one
`edgekit build`, then with two `edgekit build` processes sharing a TF_CONFIG of two localhost ports.
Each run has its own checkpoint cache (nothing is reused). The time compared is the distributed
steps' training seconds from the chief's report (`recipe.steps[].seconds`); the whole wall time is
printed too. Prints a Markdown table for BENCHMARKS.md; the JSON lands in <out>/train_workers.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from edgekit.distribute import local_tf_configs

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fashion_mnist"


def config_text(train_samples: int, epochs: int, batch_size: int) -> str:
    return f"""
[[recipe]]
step = "prune"
final_sparsity = 0.5
epochs = {epochs}
batch_size = {batch_size}
learning_rate = 1e-4

[[recipe]]
step = "cluster"
clusters = 16
epochs = {epochs}
batch_size = {batch_size}
learning_rate = 1e-5

[model]
path = "{EXAMPLE / 'teacher.keras'}"

[dataset]
kind = "fashion_mnist"
eval_samples = 2000
calibration_samples = 128
train_samples = {train_samples}
scale = 0.00392156862745098

[targets.android]
precisions = ["int8"]
runs = 20
warmup = 5

[build]
out = "out"
"""


def run(folder: Path, workers: int, text: str) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "edgekit.toml").write_text(text)
    command = [sys.executable, "-m", "edgekit", "build", "--config", "edgekit.toml", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    configs = local_tf_configs(workers) if workers > 1 else [None]
    started = time.perf_counter()
    procs = []
    for index, value in enumerate(configs):
        extra = {"TF_CONFIG": value} if value else {}
        procs.append(subprocess.Popen(command, cwd=folder, env={**env, **extra}, stdout=subprocess.DEVNULL,
                                      stderr=open(folder / f"worker{index}.log", "w")))
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"{workers} worker(s): exit codes {codes}; see {folder}/worker*.log")
    report = json.loads((folder / "out" / "report.json").read_text())
    steps = report["recipe"]["steps"]
    return {"workers": workers, "wall_s": round(wall, 1), "train_s": round(sum(s["seconds"] for s in steps), 1),
            "steps": {s["step"]: s["seconds"] for s in steps},
            "keras_accuracy": report["recipe"]["keras_accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-samples", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench_train_workers")
    args = parser.parse_args()
    text = config_text(args.train_samples, args.epochs, args.batch_size)
    rows = [run(args.out / f"workers{n}", n, text) for n in (1, 2)]
    (args.out / "train_workers.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"cpus: {os.cpu_count()}, {args.train_samples} images, {args.epochs} epochs per step, "
          f"global batch {args.batch_size}")
    print("| workers | recipe training s | whole build wall s | prune s | cluster s | compressed Keras accuracy |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['workers']} | {r['train_s']} | {r['wall_s']} | {r['steps'].get('prune')} | "
              f"{r['steps'].get('cluster')} | {100 * r['keras_accuracy']:.2f} % |")
    print(f"training speed-up with 2 workers: {rows[0]['train_s'] / rows[1]['train_s']:.2f}x")


if __name__ == "__main__":
    main()
