"""Dense vs sparse `.tflite` storage of pruned (and clustered) example teachers, in one run.

    .venv/bin/python benchmarks/sparse_tflite.py [--train-samples 30000] [--epochs 3] [--out build/bench_sparse]

Builds the example teacher three times with `edgekit build --target android` (fp32 + int8, each
tried dense and sparse by the target), fine-tuned like BENCHMARKS' issue #3 section (prune: 3 epochs
on 30,000 images, lr 2e-4; cluster: 2 epochs, lr 5e-5): pruned to 75 % weight by weight, pruned to 75 % with Dense
kernels in blocks of 16 inputs (`block = [16, 1]`), and that block-pruned model clustered to 16
values. For every artifact: raw bytes dense and sparse, which shipped and why, gzip bytes, LiteRT
load time of both files, host p50 and accuracy of what shipped (from each build's report.json).
Prints a Markdown table for BENCHMARKS.md; the JSON lands in <out>/sparse_tflite.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fashion_mnist"
RECIPES = {
    "pruned 75 %": "",
    "pruned 75 %, 16x1 blocks": "block = [16, 1]\n",
    "pruned 75 %, 16x1 blocks, 16 clusters": "block = [16, 1]\n",
}


def config_text(name: str, train_samples: int, epochs: int) -> str:
    cluster = f"""
[[recipe]]
step = "cluster"
clusters = 16
epochs = 2
learning_rate = 5e-5
""" if "clusters" in name else ""
    return f"""
[[recipe]]
step = "prune"
final_sparsity = 0.75
{RECIPES[name]}epochs = {epochs}
learning_rate = 2e-4
{cluster}
[model]
path = "{EXAMPLE / 'teacher.keras'}"

[dataset]
kind = "fashion_mnist"
eval_samples = 10000
calibration_samples = 256
train_samples = {train_samples}
scale = 0.00392156862745098

[targets.android]
precisions = ["fp32", "int8"]
runs = 200
warmup = 20

[build]
out = "out"
"""


def build(folder: Path, text: str) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "edgekit.toml").write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    done = subprocess.run([sys.executable, "-m", "edgekit", "build", "--config", "edgekit.toml", "--quiet"],
                          cwd=folder, env=env, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{folder}: exit {done.returncode}: {done.stderr[-1500:]}")
    return json.loads((folder / "out" / "report.json").read_text())


def rows(name: str, report: dict) -> list[dict]:
    found = []
    for a in report["artifacts"]:
        storage = a.get("sparse_storage") or {}
        host = [e for e in a.get("latency", []) if e.get("where") == "host"]
        found.append({"model": name, "precision": a["precision"], "dense_bytes": storage.get("dense_bytes", a["bytes"]),
                      "sparse_bytes": storage.get("sparse_bytes"), "ratio": storage.get("ratio"),
                      "shipped": storage.get("kept", "dense"), "reason": storage.get("reason", "weights not sparse"),
                      "bytes": a["bytes"], "gzip_bytes": a["gzip_bytes"], "dense_load_ms": storage.get("dense_load_ms"),
                      "sparse_load_ms": storage.get("sparse_load_ms"),
                      "p50_ms": host[0]["p50_ms"] if host else None, "accuracy": a.get("accuracy")})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-samples", type=int, default=30000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench_sparse")
    args = parser.parse_args()
    table = []
    for index, name in enumerate(RECIPES):
        report = build(args.out / f"model{index}", config_text(name, args.train_samples, args.epochs))
        table += rows(name, report)
    (args.out / "sparse_tflite.json").write_text(json.dumps(table, indent=2) + "\n")
    print("| model | precision | dense raw B | sparse raw B | sparse/dense | shipped | gzip B (shipped) | "
          "load ms dense → sparse | host p50 ms (shipped) | accuracy (shipped) |")
    print("|---|---|---:|---:|---:|---|---:|---|---:|---:|")
    for r in table:
        load = (f"{r['dense_load_ms']} → {r['sparse_load_ms'] if r['sparse_load_ms'] is not None else 'did not run'}"
                if r["dense_load_ms"] is not None else "—")
        print(f"| {r['model']} | {r['precision']} | {r['dense_bytes']:,} | "
              f"{'—' if r['sparse_bytes'] is None else format(r['sparse_bytes'], ',')} | "
              f"{'—' if r['ratio'] is None else format(r['ratio'], '.2f')} | {r['shipped']} | {r['gzip_bytes']:,} | "
              f"{load} | {'—' if r['p50_ms'] is None else format(r['p50_ms'], '.3f')} | "
              f"{'—' if r['accuracy'] is None else format(100 * r['accuracy'], '.2f') + ' %'} |")
    for r in table:
        print(f"- {r['model']} {r['precision']}: {r['reason']}")


if __name__ == "__main__":
    main()
