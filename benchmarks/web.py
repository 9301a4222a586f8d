"""Benchmark: the web target in a real browser vs native LiteRT, and what it downloads.

    .venv/bin/python benchmarks/web.py [--rounds 3] [--runs 300] [--student distilled|untrained]

For the example teacher and a MobileNet-style student, `edgekit build --target web` (TF.js uint8
graph model + dynamic-range .tflite for LiteRT.js, Node parity, Chromium latency), then `--rounds`
alternating rounds of native LiteRT p50 on this host (the same web/model.tflite, 1 thread) and
headless-Chromium p50 per runtime/backend; medians over the rounds, so browser and native numbers
come from the same run and the same minutes of machine load. The distilled student is restored
from the fine-tuning cache of benchmarks/distillation.py (build/bench_cache) when it is there;
`--student untrained` uses an untrained student of the same shape (fine for a latency ratio).
Also: download bytes of edgekit's web artifacts vs a plain
`tensorflowjs_converter --quantize_uint8 '*'` of the teacher (.h5 export -> layers model).
Prints the BENCHMARKS.md section.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, CONFIG, ROOT  # noqa: E402

OUT = ROOT / "build" / "bench_web"
TEACHER = ROOT / "examples" / "fashion_mnist" / "teacher.keras"
DISTILLED_REPORT = ROOT / "build" / "bench_distill" / "distilled" / "report.json"
PAIRS = ("tfjs-wasm", "tfjs-webgl", "tfjs-cpu", "tfjs-webgpu", "litertjs-wasm", "litertjs-webgpu")


def config_for(model: Path, recipe: list[dict[str, Any]], out: Path, *, runs: int) -> Any:
    from edgekit.config import load_config, parse_config

    raw = load_config(CONFIG).model_dump(mode="json")
    raw["model"]["path"] = str(model)
    raw["recipe"] = recipe
    if recipe:  # the distillation benchmark's data settings, so its finished step is restored from the cache
        raw["dataset"] = json.loads(DISTILLED_REPORT.read_text())["config"]["dataset"]
    raw["targets"] = {"web": {"runs": runs, "warmup": 30, "browser_backends": list(PAIRS)}}
    config = parse_config(raw, source="benchmark")
    config.build.out = out
    config.build.cache = CACHE
    return config


def student(kind: str) -> tuple[Path, list[dict[str, Any]], str]:
    """(model path, recipe, description) for the student row."""
    if kind == "distilled" and DISTILLED_REPORT.is_file():
        recipe = json.loads(DISTILLED_REPORT.read_text())["config"]["recipe"]
        step = recipe[0]
        return TEACHER, recipe, (f"distilled student (separable, alpha {step['alpha']:g}, depth {step['depth']}, "
                                 f"{step['epochs']} epochs; restored from the benchmarks/distillation.py cache)")
    from edgekit.compress.students import StudentSpec, build_student

    spec = StudentSpec(alpha=1.0, depth=4)
    model = build_student(spec, input_shape=(28, 28, 1), classes=10)
    path = OUT / "student_untrained.keras"
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path, [], f"untrained student {spec.name()} (latency and size only: its accuracy is chance)"


def rounds(out: Path, report: dict[str, Any], config: Any, n: int, *, progress: Any) -> dict[str, Any]:
    """Alternate native LiteRT and Chromium measurements n times; medians of the p50s."""
    import numpy as np

    from edgekit.profile.host import profile_tflite
    from edgekit.targets.web.harness import profile_folder

    web = [a for a in report["artifacts"] if a["target"] == "web"]
    tflite = (out / "web" / "model.tflite").read_bytes()
    sample = np.zeros((1, 28, 28, 1), dtype=np.float32)
    native, browser, first = [], {}, {}
    for _ in range(n):
        native.append(profile_tflite(tflite, [sample], threads=1, warmup=50, runs=1000)["p50_ms"])
        for result in profile_folder(out, web, config.targets.web, progress=progress):
            for e in result["latency"]:
                key = f"{e['runtime']} {e['backend']}"
                if e.get("p50_ms") is None:
                    browser.setdefault(key, e.get("reason"))
                    continue
                prev = browser.get(key)
                browser[key] = (prev if isinstance(prev, list) else []) + [e["p50_ms"]]
                first.setdefault(key, []).append(e["first_inference_ms"])
    return {"native": statistics.median(native), "native_all": native,
            "browser": {k: (statistics.median(v) if isinstance(v, list) else v) for k, v in browser.items()},
            "first": {k: statistics.median(v) for k, v in first.items()}}


def plain_teacher_tfjs() -> dict[str, int]:
    """Bytes of `tensorflowjs_converter --input_format=keras --quantize_uint8 '*'` on an .h5 export."""
    from edgekit import measure
    from edgekit.models import load_model

    with tempfile.TemporaryDirectory() as work:
        h5 = Path(work) / "teacher.h5"
        load_model(TEACHER).keras_model.save(h5)
        out = Path(work) / "plain"
        cmd = [str(Path(sys.executable).parent / "tensorflowjs_converter"), "--input_format=keras",
               "--quantize_uint8", "*", str(h5), str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True,
                              env={"TF_USE_LEGACY_KERAS": "1", "TFDF_DISABLE_WELCOME_MESSAGE": "1", "PATH": "/usr/bin:/bin"})
        if done.returncode != 0:
            raise SystemExit(f"plain converter failed: {done.stderr.strip().splitlines()[-1]}")
        files = sorted(out.iterdir(), key=lambda p: p.name != "model.json")
        return measure.download_sizes(files, params=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--student", choices=("distilled", "untrained"), default="distilled")
    args = parser.parse_args()
    from edgekit.pipeline import build
    from edgekit.progress import Reporter

    progress = Reporter()
    start = time.perf_counter()
    student_path, student_recipe, student_label = student(args.student)
    rows = []
    for label, model, recipe in (("teacher", TEACHER, []), ("student", student_path, student_recipe)):
        out = OUT / label
        config = config_for(model, recipe, out, runs=args.runs)
        report = build(config, target="web", progress=progress)
        rows.append((label, report, rounds(out, report, config, args.rounds, progress=progress)))
    plain = plain_teacher_tfjs()
    print(render(rows, plain, student_label, args, time.perf_counter() - start))


def render(rows: list, plain: dict[str, int], student_label: str, args: Any, seconds: float) -> str:
    import platform

    first_report = rows[0][1]
    browser_name = next(e["browser"] for a in first_report["artifacts"] for e in a["latency"] if e["where"] == "browser")
    lines = [f"Teacher `teacher.keras`; student: {student_label}. {browser_name}, flags "
             "`--headless --no-sandbox --disable-gpu`, 1 wasm thread; native = LiteRT "
             f"{first_report['environment'].get('ai-edge-litert')} (XNNPACK, 1 thread) on the same `web/model.tflite` "
             f"(dynamic-range). {args.rounds} alternating rounds of {args.runs} timed runs (browser) and 1000 (native); "
             f"medians of the rounds' p50. Host: {platform.machine()}, 2 cores shared with other work. "
             f"Wall time {seconds / 60:.1f} min.", "",
             "| model | params | runtime / backend | browser p50 | native LiteRT p50 | browser / native | "
             "first inference | parity vs Keras (max err, top-1; where) | accuracy (10k test) |",
             "|---|---:|---|---:|---:|---:|---:|---|---|"]
    for label, report, measured in rows:
        tfjs = next(a for a in report["artifacts"] if a["format"] == "tfjs")
        tflite = next(a for a in report["artifacts"] if a["format"] == "tflite")
        for pair in PAIRS:
            key = pair.replace("-", " ")
            value = measured["browser"].get(key)
            artifact = tfjs if pair.startswith("tfjs") else tflite
            parity = artifact["parity"]
            checked = "tfjs in Node (wasm, cpu)" if artifact is tfjs else "LiteRT"
            if isinstance(value, (int, float)):
                ratio = value / measured["native"]
                lines.append(f"| {label} | {tfjs['params']:,} | {key} | {value:.3f} ms | {measured['native']:.3f} ms | "
                             f"**{ratio:.2f}×** | {measured['first'][key]:.0f} ms | "
                             f"{parity['max_abs_error']:.3g}, {100 * parity['top1_agreement']:.1f} % ({checked}) | "
                             f"{100 * artifact['accuracy']:.2f} % |")
            else:
                lines.append(f"| {label} | {tfjs['params']:,} | {key} | unavailable: {value} | | | | | |")
    lines += ["", "| download | files | bytes | gzip | brotli |", "|---|---:|---:|---:|---:|"]
    for label, report, _ in rows:
        for a in report["artifacts"]:
            lines.append(f"| edgekit {label} `{a['path']}` ({a['precision']}) | {len(a['files'])} | {a['bytes']:,} | "
                         f"{a['gzip_bytes']:,} | {a['brotli_bytes']:,} |")
    lines.append(f"| plain `tensorflowjs_converter --quantize_uint8 '*'` of the teacher (layers model) | "
                 f"{len(plain['files'])} | {plain['bytes']:,} | {plain['gzip_bytes']:,} | {plain['brotli_bytes']:,} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
