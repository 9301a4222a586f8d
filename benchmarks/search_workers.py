"""Student search wall time with 1 and 2 local worker processes, in one run (ratio), and trials per hour.

    .venv/bin/python benchmarks/search_workers.py [--proxy-samples 6000] [--out build/bench_search_workers]

The example teacher, five separable students (alphas 0.25 to 1.0, depth 4), a smaller proxy set and one
final epoch, so the trial phase dominates. Each run
has its own study and checkpoint cache (nothing is reused between the two). Prints a Markdown row per
worker count for BENCHMARKS.md; the JSON lands in <out>/search_workers.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fashion_mnist"


def config_text(out: Path, proxy_samples: int) -> str:
    return f"""
[model]
path = "{EXAMPLE / 'teacher.keras'}"

[dataset]
kind = "fashion_mnist"
eval_split = "test"
eval_samples = 2000
calibration_samples = 128
train_samples = {proxy_samples + 2000}
scale = 0.00392156862745098

[targets.android]
precisions = ["int8"]
runs = 20
warmup = 5

[targets.android.budgets]
max_download = "64 KB"

[search]
alphas = [0.25, 0.35, 0.5, 0.75, 1.0]
depths = [4]
proxy_epochs = 1
proxy_samples = {proxy_samples}
validation_samples = 2000
eta = 2
finalists = 1
final_epochs = 1

[build]
out = "{out / 'out'}"
cache = "{out / 'cache'}"
"""


def run(workers: int, folder: Path, proxy_samples: int) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "search.toml"
    config.write_text(config_text(folder, proxy_samples))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "edgekit", "search", "--config", str(config), "--workers",
                           str(workers), "--quiet"], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"search with {workers} workers failed: {done.stderr[-500:]}")
    result = json.loads((folder / "out" / "search.json").read_text())
    return {"workers": workers, "wall_seconds": round(seconds, 1), "trial_seconds": result["cost"]["trial_seconds"],
            "trials": result["study"]["trials"], "trials_per_hour": result["study"]["trials_per_hour"],
            "trials_by_worker": result["study"]["trials_by_worker"], "proxy_epochs": result["cost"]["proxy_epochs"],
            "winner": result["winner"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy-samples", type=int, default=6000)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench_search_workers")
    args = parser.parse_args()
    rows = [run(workers, args.out / f"workers{workers}", args.proxy_samples) for workers in (1, 2)]
    ratio = rows[0]["trial_seconds"] / rows[1]["trial_seconds"]
    (args.out / "search_workers.json").write_text(json.dumps({"rows": rows, "speedup": ratio}, indent=2))
    print("| workers | trial phase s | whole search s | trials | trials/hour | proxy epochs | trials per worker | winner |")
    print("|---:|---:|---:|---:|---:|---:|---|---|")
    for row in rows:
        per = ", ".join(str(n) for n in row["trials_by_worker"].values())
        print(f"| {row['workers']} | {row['trial_seconds']} | {row['wall_seconds']} | {row['trials']} | "
              f"{row['trials_per_hour']} | {row['proxy_epochs']} | {per} | {row['winner']} |")
    print(f"\ntrial-phase speed-up with 2 workers: {ratio:.2f}x")


if __name__ == "__main__":
    main()
