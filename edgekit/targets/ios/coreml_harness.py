#!/usr/bin/env python3
"""Core ML latency harness (written by edgekit; runs on a Mac with `pip install coremltools numpy`).

    python3 profile_coreml.py [--runs 100] [--warmup 10] [--out ios_latency.json]

For each Core ML package of the build and each compute-unit setting it measures load time
(`MLModel(...)`, which compiles the model for the chosen units), the first prediction, and
p50/p90 over `--runs` predictions after `--warmup`. The JSON it writes (schema
edgekit.latency/v1) is folded into the report with:

    edgekit profile --target ios --merge ios_latency.json

This file deliberately imports nothing from edgekit, so it can be copied to any Mac.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

SCHEMA = "edgekit.latency/v1"
# Filled in by `edgekit profile --target ios`: the packages, their input, the default settings.
ARTIFACTS: list = []
SETTINGS: dict = {"runs": 100, "warmup": 10, "compute_units": ["CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE", "ALL"]}


def percentile(values: list, q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def sample_input(spec: dict, np, image_module):
    """A fixed, deterministic input of the right kind and shape (latency does not depend on values)."""
    shape = spec["shape"]
    if spec["kind"] == "image":
        height, width, channels = shape[1], shape[2], shape[3]
        pixels = (np.arange(height * width * channels) % 256).astype("uint8").reshape(height, width, channels)
        mode = "L" if channels == 1 else "RGB"
        return image_module.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)
    return (np.arange(int(np.prod(shape))) % 7 / 7.0).astype("float32").reshape(shape)


def machine() -> str:
    name = platform.machine()
    try:
        model = subprocess.run(["sysctl", "-n", "hw.model"], capture_output=True, text=True, timeout=5).stdout.strip()
        chip = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                              timeout=5).stdout.strip()
        return f"{model} ({chip or name}), macOS {platform.mac_ver()[0]}"
    except (OSError, subprocess.SubprocessError):
        return f"{name} {platform.system()}"


def measure(load, package: Path, unit: str, feed: dict, *, runs: int, warmup: int) -> dict:
    """Time one package under one compute-unit setting on `feed` ({input name: value}).
    `load(path, unit)` returns an object with predict()."""
    start = time.perf_counter()
    model = load(package, unit)
    load_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    model.predict(feed)
    first_ms = (time.perf_counter() - start) * 1000
    for _ in range(warmup):
        model.predict(feed)
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        model.predict(feed)
        timings.append((time.perf_counter() - start) * 1000)
    return {
        "where": "device", "runtime": "coreml", "compute_units": unit.lower(),
        "p50_ms": round(percentile(timings, 50), 4), "p90_ms": round(percentile(timings, 90), 4),
        "min_ms": round(min(timings), 4), "mean_ms": round(statistics.fmean(timings), 4),
        "load_ms": round(load_ms, 3), "first_inference_ms": round(first_ms, 3),
        "warmup": warmup, "runs": runs,
    }


def measure_all(root: Path, artifacts: list, *, runs: int, warmup: int, units: list, load=None, inputs_for=None,
                log=print) -> list:
    """Results for every package and unit setting, in the edgekit.latency/v1 `results` shape."""
    if load is None or inputs_for is None:
        import coremltools as ct
        import numpy as np
        from PIL import Image

        def load(path, unit):  # noqa: F811 - the real loader, used on a Mac
            return ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, unit))

        def inputs_for(spec):  # noqa: F811
            return sample_input(spec, np, Image)

        available = {name for name in dir(ct.ComputeUnit) if not name.startswith("_")}
        units = [unit for unit in units if unit in available]
    where = machine()
    results = []
    for artifact in artifacts:
        entries = []
        for unit in units:
            log(f"  {artifact['path']}: {unit} ...")
            specs = artifact.get("inputs") or [artifact["input"]]
            feed = {spec["name"]: inputs_for(spec) for spec in specs}
            entry = measure(load, root / artifact["path"], unit, feed, runs=runs, warmup=warmup)
            entry["device"] = where
            entry["note"] = "Core ML on a Mac; an iPhone's numbers differ (thermal limits, Neural Engine generation)"
            entries.append(entry)
            log(f"    p50 {entry['p50_ms']:.3f} ms, p90 {entry['p90_ms']:.3f} ms, load {entry['load_ms']:.0f} ms")
        results.append({"path": artifact["path"], "latency": entries})
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Measure the Core ML packages of an edgekit build on this Mac.")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the build folder holding ios/ (default: this script's parent's parent)")
    parser.add_argument("--runs", type=int, default=SETTINGS["runs"])
    parser.add_argument("--warmup", type=int, default=SETTINGS["warmup"])
    parser.add_argument("--out", type=Path, default=Path("ios_latency.json"))
    args = parser.parse_args(argv)
    if platform.system() != "Darwin":
        print("profile_coreml.py: Core ML runs models on macOS only; copy the build folder to a Mac and run it there",
              file=sys.stderr)
        return 4
    if not ARTIFACTS:
        print("profile_coreml.py: no packages listed; regenerate with `edgekit profile --target ios`", file=sys.stderr)
        return 2
    results = measure_all(args.root, ARTIFACTS, runs=args.runs, warmup=args.warmup, units=SETTINGS["compute_units"])
    args.out.write_text(json.dumps({"schema": SCHEMA, "target": "ios", "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}; fold it into the report with: edgekit profile --target ios --merge {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
