"""Benchmark: peak memory of refusing a `.keras` archive whose member inflates to 1 GiB (issue #14).

    .venv/bin/python benchmarks/archive_bomb.py [--gib 1]

Writes a real tf_keras `.keras` model plus a member of zeros that inflates to --gib GiB (about 1 MB
deflated), then, in a fresh Python process, loads edgekit's model loader, records the peak RSS
(baseline), calls `load_model` on the archive (refused: exit-3 error) and records the peak RSS again.
Prints both and the difference as a Markdown table row.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, resource, sys, time
from pathlib import Path
from edgekit.errors import UnsafeModelError
from edgekit.models import load_model, safety  # the loader and its scanners, imported before the baseline
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    load_model(Path(sys.argv[1]))
    verdict = "loaded"
except UnsafeModelError as err:
    verdict = err.one_line()
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"baseline_kib": baseline, "peak_kib": peak, "seconds": seconds, "verdict": verdict}))
"""


def make_bomb(folder: Path, gib: float) -> Path:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    from edgekit.tfenv import keras

    k = keras()
    model = k.Sequential([k.layers.InputLayer(input_shape=(8,)), k.layers.Dense(3, activation="softmax")])
    plain, bomb = folder / "plain.keras", folder / "bomb.keras"
    model.save(plain)
    block = b"\0" * (1 << 20)
    with zipfile.ZipFile(plain) as old, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as new:
        for name in old.namelist():
            new.writestr(name, old.read(name))
        with new.open("assets/zeros.bin", "w", force_zip64=True) as member:
            for _ in range(int(gib * 1024)):
                member.write(block)
    return bomb


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-bomb-") as folder:
        bomb = make_bomb(Path(folder), args.gib)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run([sys.executable, "-c", PROBE, str(bomb)], capture_output=True, text=True, env=env,
                                check=True)
        row = json.loads(result.stdout.strip().splitlines()[-1])
        size = bomb.stat().st_size
    delta = (row["peak_kib"] - row["baseline_kib"]) / 1024
    print(f"| {args.gib:g} GiB inflated, {size / 1e6:.2f} MB on disk | {row['baseline_kib'] / 1024:.1f} MiB | "
          f"{row['peak_kib'] / 1024:.1f} MiB | {delta:+.1f} MiB | {row['seconds'] * 1000:.0f} ms | {row['verdict'][:90]} |")
    return 0 if delta < 100 and row["verdict"] != "loaded" else 1


if __name__ == "__main__":
    raise SystemExit(main())
