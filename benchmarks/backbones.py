"""Benchmark: the model matrix — keras.applications backbones, as Keras 3 and tf_keras files, through
`edgekit build --target all`, and a prune + cluster + QAT recipe on Keras 3 MobileNetV2 and EfficientNetB0.

    .venv/bin/python benchmarks/backbones.py [--only MobileNetV2,ResNet50] [--flavors keras3,tf_keras]
                                             [--size 64] [--no-matrix] [--no-recipe] [--out build/bench_backbones]

Each backbone is built with weights=None at size x size x 3, trained 2 epochs (MobileNetV2: 4) on 900 real
Fashion-MNIST images (3 classes; tests/backbones.py), saved, and built from the command line with
Android fp32/fp16/dynamic/int8, iOS fp16/palettized/int8 and web (TF.js uint8 in Node wasm,
LiteRT.js dynamic; Chromium tfjs-wasm and litertjs-wasm). The recipe rows train 8 epochs on 1,500
images first. Rows go to <out>/matrix.json as they finish; the Markdown tables for BENCHMARKS.md
are printed at the end.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.backbones import BACKBONES, RECIPE, run_case  # noqa: E402

ANDROID = ("fp32", "fp16", "dynamic", "int8")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=",".join(BACKBONES))
    parser.add_argument("--flavors", default="keras3,tf_keras")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--no-matrix", action="store_true")
    parser.add_argument("--no-recipe", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench_backbones")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "matrix.json"
    rows = json.loads(results.read_text()) if results.is_file() else []
    done = {(r["model"], r["keras"], bool(r.get("recipe"))) for r in rows}
    cases = [] if args.no_matrix else [(name, flavor, "") for name in args.only.split(",")
                                       for flavor in args.flavors.split(",")]
    cases += [] if args.no_recipe else [("MobileNetV2", "keras3", RECIPE), ("EfficientNetB0", "keras3", RECIPE)]
    for name, flavor, recipe in cases:
        if (name, flavor, bool(recipe)) in done:
            continue
        folder = args.out / f"{name}_{flavor}{'_recipe' if recipe else ''}"
        print(f"{name} ({flavor}{', recipe' if recipe else ''}) ...", flush=True)
        row = run_case(name, flavor, folder, size=args.size, recipe=recipe,
                       **({"epochs": 8, "train_images": 1500} if recipe else {}))
        print(f"  exit {row['exit']} in {row['build_seconds']:.0f} s {row['stderr'][:200]}", flush=True)
        rows.append(row)
        results.write_text(json.dumps(rows, indent=1))
    print(markdown(rows))
    return 0


def _artifact(row: dict, path: str) -> dict:
    return next((a for a in row.get("artifacts", []) if a["path"] == path), {})


def _parity(artifact: dict) -> str:
    if not artifact:
        return "—"
    mark = {"passed": "✓", "failed": "✗", "not_verified": "n/v"}[artifact["parity"]]
    drop = artifact.get("accuracy_drop")
    return mark + ("" if drop is None else f" {-drop:+.1f}")


def markdown(rows: list[dict]) -> str:
    lines = ["| model | Keras | params | result | " + " | ".join(f"android {p}" for p in ANDROID)
             + " | iOS packages | web tfjs | web tflite | int8 .tflite B | palettized .mlpackage B | tfjs gzip B | build s |",
             "|---|---|---:|---|" + "---|" * 4 + "---|---|---|---:|---:|---:|---:|"]
    for row in rows:
        if row.get("recipe"):
            continue
        failed = row.get("failed_targets") or {}
        result = "built" if row["exit"] == 0 else f"exit {row['exit']}: " + (
            "; ".join(f"{t} failed ({why[:100]})" for t, why in failed.items()) or row["stderr"].splitlines()[-1][:120])
        ios = [a for a in row.get("artifacts", []) if a["target"] == "ios"]
        ios_text = (f"{len(ios)} built, checks " + ("passed" if not any(a["checks_failed"] for a in ios) else "FAILED")
                    if ios else "—")
        sizes = [_artifact(row, "android/model_int8.tflite").get("bytes"),
                 _artifact(row, "ios/model_palettized.mlpackage").get("bytes"),
                 _artifact(row, "web/tfjs/model.json").get("gzip_bytes")]
        lines.append(f"| {row['model']} | {row['keras']} | {row['params']:,} | {result} | "
                     + " | ".join(_parity(_artifact(row, f"android/model_{p}.tflite")) for p in ANDROID)
                     + f" | {ios_text} | {_parity(_artifact(row, 'web/tfjs/model.json'))} | "
                     f"{_parity(_artifact(row, 'web/model.tflite'))} | "
                     + " | ".join("—" if s is None else f"{s:,}" for s in sizes) + f" | {row['build_seconds']:.0f} |")
    recipe_rows = [row for row in rows if row.get("recipe")]
    if recipe_rows:
        lines += ["", "| model (Keras 3) + prune/cluster/QAT | compressed Keras acc | coverage | artifact parity (Δacc pp "
                  "vs the original) | build s |", "|---|---:|---|---|---:|"]
        for row in recipe_rows:
            coverage = "; ".join(
                f"{step}: {c.get('applied', 0)} applied, {c.get('skipped', 0)} left"
                + (f" ({', '.join(f'{r} [{chr(44).join(t)}]' for r, t in c['reasons'].items())})" if c["reasons"] else "")
                for step, c in row["recipe"]["coverage"].items())
            parities = ", ".join(f"{a['path']} {_parity(a)}" for a in row.get("artifacts", []))
            lines.append(f"| {row['model']} | {100 * row['recipe']['keras_accuracy']:.1f} % | {coverage} | "
                         f"{parities or row['stderr'][:200]} | {row['build_seconds']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
