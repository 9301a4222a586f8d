"""Shared by the benchmark scripts: build the bundled example with a given recipe, int8 only."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "fashion_mnist" / "edgekit.toml"
CACHE = ROOT / "build" / "bench_cache"  # fine-tuning checkpoints, shared by all benchmarks


def build_example(recipe: list[dict[str, Any]], *, out: Path, train_samples: int | None = None, runs: int = 100,
                  warmup: int = 10, label: str = "benchmark") -> tuple[dict, float]:
    """(report, wall seconds) of `edgekit build` on the example teacher with `recipe`, int8 Android only."""
    from edgekit.config import load_config, parse_config
    from edgekit.pipeline import build
    from edgekit.progress import Reporter

    raw = load_config(CONFIG).model_dump(mode="json")
    raw["recipe"] = recipe
    raw["dataset"]["train_samples"] = train_samples
    raw["targets"] = {"android": {"precisions": ["int8"], "runs": runs, "warmup": warmup}}
    config = parse_config(raw, source=label)
    config.build.out = out
    config.build.cache = CACHE
    start = time.perf_counter()
    return build(config, target="android", progress=Reporter()), time.perf_counter() - start
