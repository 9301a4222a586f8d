"""8-bit vs 4-bit `.tflite` storage of the clustered example teacher, in one run.

    .venv/bin/python benchmarks/low_bit_tflite.py [--train-samples 30000] [--out build/bench_low_bit]

Builds the example teacher for Android (int8 and dynamic-range) with no recipe, clustered to 16 values
(cluster: 2 epochs on 30,000 images, lr 5e-5) and pruned to 75 % then clustered to 16, each with
`low_bit = []` (every filter 8-bit), `["FULLY_CONNECTED"]` (the default) and all three ops LiteRT takes
INT4 filters for. Fine-tuning is cached (build/bench_cache), so each recipe trains once. Per artifact:
raw and gzip bytes, LiteRT load time, host p50 (1 thread, XNNPACK where it applies), XNNPACK's share of
the ops and accuracy on the 10,000 test images. Prints the BENCHMARKS.md table; JSON in <out>/low_bit.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, CONFIG, ROOT  # noqa: E402

CLUSTER = {"step": "cluster", "clusters": 16, "epochs": 2, "learning_rate": 5e-5}
PRUNE = {"step": "prune", "final_sparsity": 0.75, "epochs": 3, "learning_rate": 2e-4}
RECIPES = {"teacher": [], "16 clusters": [CLUSTER], "pruned 75 % + 16 clusters": [PRUNE, CLUSTER]}
LOW_BIT = {"8-bit": [], "4-bit FC": ["FULLY_CONNECTED"], "4-bit FC+conv": ["FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"]}


def build(recipe: list[dict[str, Any]], low_bit: list[str], *, out: Path, train_samples: int) -> dict:
    from edgekit.config import load_config, parse_config
    from edgekit.pipeline import build as run_build
    from edgekit.progress import Reporter

    raw = load_config(CONFIG).model_dump(mode="json")
    raw["recipe"] = recipe
    raw["dataset"].update(train_samples=train_samples, eval_samples=10000)
    raw["targets"] = {"android": {"precisions": ["int8", "dynamic"], "runs": 300, "warmup": 30, "low_bit": low_bit,
                                  "sparse": False}}
    config = parse_config(raw, source="benchmark")
    config.build.out, config.build.cache = out, CACHE
    return run_build(config, target="android", progress=Reporter(quiet=True))


def main() -> None:
    from edgekit.targets.android.delegates import xnnpack_share
    from edgekit.targets.android.lowbit import summary

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-samples", type=int, default=30000)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench_low_bit")
    args = parser.parse_args()
    table = []
    for m, (model, recipe) in enumerate(RECIPES.items()):
        for s, (storage, ops) in enumerate(LOW_BIT.items()):
            if not recipe and ops:
                continue  # nothing clustered: the 4-bit pass has nothing to do
            out = args.out / f"m{m}-s{s}"
            report = build(recipe, ops, out=out, train_samples=args.train_samples)
            for a in report["artifacts"]:
                record = a.get("low_bit_storage") or {}
                host = [e for e in a.get("latency", []) if e.get("where") == "host"]
                data = (out / a["path"]).read_bytes()
                table.append({"model": model, "storage": storage, "precision": a["precision"], "bytes": a["bytes"],
                              "gzip_bytes": a["gzip_bytes"], "kept": record.get("kept", "8-bit"),
                              "load_ms": record.get("load_ms_4bit" if record.get("kept") == "4-bit" else "load_ms_8bit"),
                              "p50_ms": host[0]["p50_ms"] if host else None, "accuracy": a.get("accuracy"),
                              "xnnpack": xnnpack_share(data), "note": summary(record) if record else
                              ("low_bit = [] (every filter 8-bit)" if not ops else "no clustered filter")})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "low_bit.json").write_text(json.dumps(table, indent=2) + "\n")
    base = {r["precision"]: r["bytes"] for r in table if r["model"] == "teacher"}
    print("| model | low_bit | precision | raw B | × dense teacher | gzip B | shipped | load ms | host p50 ms | "
          "XNNPACK ops | accuracy |")
    print("|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for r in table:
        load = "—" if r["load_ms"] is None else f"{r['load_ms']:.2f}"
        print(f"| {r['model']} | {r['storage']} | {r['precision']} | {r['bytes']:,} | {r['bytes'] / base[r['precision']]:.2f} | "
              f"{r['gzip_bytes']:,} | {r['kept']} | {load} | {r['p50_ms']:.3f} | {100 * r['xnnpack']:.0f} % | "
              f"{100 * r['accuracy']:.2f} % |")
    for r in table:
        print(f"- {r['model']}, {r['storage']}, {r['precision']}: {r['note']}")


if __name__ == "__main__":
    main()
