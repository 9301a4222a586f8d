"""Web target end to end on a tiny model: the real tensorflowjs converter, TF.js in Node (wasm and
cpu backends), LiteRT in Python, and headless Chromium (the Debian package) driven by
playwright-core for every runtime/backend. Browser tests skip only when Chromium cannot start."""
import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edgekit.budgets import evaluate
from edgekit.targets.web.recommend import recommend_web
from edgekit.cli import main
from edgekit.config import Budgets, parse_config
from edgekit.errors import ConfigError

BACKENDS = {("tfjs", "wasm"), ("tfjs", "webgl"), ("tfjs", "cpu"), ("tfjs", "webgpu"), ("litertjs", "wasm"),
            ("litertjs", "webgpu")}


def chromium_problem() -> str | None:
    """Why headless Chromium cannot start here, or None when it can."""
    from edgekit import node

    try:
        binary = node.chromium_binary()
    except Exception as err:  # noqa: BLE001 - the reason is what the skip reports
        return str(err)
    done = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "about:blank"],
                          capture_output=True, text=True, timeout=60)
    return None if done.returncode == 0 else f"chromium exited {done.returncode}: {done.stderr.strip()[-200:]}"


CHROMIUM_PROBLEM = chromium_problem()


def web_config(folder: Path, model: Path, *, extra: str = "", budgets: str = "") -> Path:
    text = textwrap.dedent(f"""
        [model]
        path = "{model}"

        [dataset]
        kind = "fashion_mnist"
        eval_samples = 300
        calibration_samples = 32

        [targets.web]
        parity_samples = 100
        runs = 20
        warmup = 2
        profile_browser = {"false" if CHROMIUM_PROBLEM else "true"}
        {extra}

        [targets.web.budgets]
        {budgets}

        [build]
        out = "out"
    """)
    path = folder / "edgekit.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_model_path):
    folder = tmp_path_factory.mktemp("web")
    config = web_config(folder, tiny_model_path, budgets='max_download = "1 MB"\nmax_download_brotli = "1 MB"\n'
                        'max_browser_p50 = "200 ms"\nmax_first_inference = "60 s"\nmax_accuracy_drop = 5.0')
    code = main(["build", "--config", str(config), "--target", "web", "--quiet"])
    out = folder / "out"
    return code, out, json.loads((out / "report.json").read_text()), config


def artifact(report, fmt):
    return next(a for a in report["artifacts"] if a["format"] == fmt)


def test_web_build_writes_tfjs_model_tflite_and_samples(built):
    code, out, report, _ = built
    assert code == (1 if CHROMIUM_PROBLEM else 0)  # without a browser the browser budgets are "not measured"
    manifest = json.loads((out / "web/tfjs/model.json").read_text())
    assert manifest["format"] == "graph-model"
    shards = [p for group in manifest["weightsManifest"] for p in group["paths"]]
    assert shards and all((out / "web/tfjs" / s).is_file() for s in shards)
    assert all(w.get("quantization", {}).get("dtype") == "uint8"
               for group in manifest["weightsManifest"] for w in group["weights"] if w["dtype"] == "float32")
    assert (out / "web/model.tflite").read_bytes()[4:8] == b"TFL3"
    samples = json.loads((out / "web/samples.json").read_text())
    assert len(samples["samples"]) == 10 and samples["input_shape"] == [28, 28, 1]
    first = samples["samples"][0]
    assert len(first["pixels"]) == 784 and 0 <= min(first["pixels"]) and max(first["pixels"]) <= 255
    assert len(first["reference"]) == 10 and samples["class_names"][first["label"]] == first["label_name"]


def test_web_tfjs_parity_in_node_on_wasm_and_cpu_matches_keras(built):
    _, _, report, _ = built
    tfjs = artifact(report, "tfjs")
    parity = tfjs["parity"]
    assert parity["status"] == "passed" and set(parity["backends"]) == {"wasm", "cpu"}
    for check in parity["backends"].values():
        assert check["samples"] == 100 and check["top1_agreement"] >= 0.98
        assert check["max_abs_error"] > 0  # uint8 weights: not bit-exact
        assert check["relative_error"] <= parity["tolerance"]["max_relative_error"]
    assert abs(tfjs["accuracy"] - report["reference"]["accuracy"]) < 0.02  # uint8 weights, 300 eval images
    assert "wasm in Node on 300 samples" in tfjs["accuracy_runtime"]


def test_web_download_sizes_count_every_file_the_browser_fetches(built):
    _, out, report, _ = built
    tfjs = artifact(report, "tfjs")
    on_disk = sum(p.stat().st_size for p in (out / "web/tfjs").iterdir())
    assert tfjs["bytes"] == on_disk == sum(f["bytes"] for f in tfjs["files"])
    for a in report["artifacts"]:
        assert 0 < a["brotli_bytes"] < a["bytes"] and 0 < a["gzip_bytes"] < a["bytes"]


def test_web_tflite_is_validated_in_litert_and_timed_natively(built):
    _, _, report, _ = built
    tflite = artifact(report, "tflite")
    assert tflite["precision"] == "dynamic" and tflite["parity"]["status"] == "passed"
    host = [e for e in tflite["latency"] if e["where"] == "host"]
    assert host and host[0]["runtime"] == "litert" and host[0]["p50_ms"] > 0


@pytest.mark.skipif(CHROMIUM_PROBLEM is not None, reason=f"headless Chromium cannot start: {CHROMIUM_PROBLEM}")
def test_web_browser_latency_recorded_for_every_runtime_and_backend(built):
    _, out, report, _ = built
    entries = {(e["runtime"], e["backend"]): e for a in report["artifacts"] for e in a["latency"]
               if e["where"] == "browser"}
    assert set(entries) == BACKENDS  # nothing silently dropped
    for key in (("tfjs", "wasm"), ("tfjs", "cpu"), ("litertjs", "wasm")):
        e = entries[key]
        assert e["browser"].startswith("Chromium ") and e["runs"] == 20
        assert 0 < e["min_ms"] <= e["p50_ms"] <= e["p90_ms"]
        assert e["first_inference_ms"] > e["p50_ms"] and e["load_ms"] > 0
        shipped = artifact(report, "tfjs" if key[0] == "tfjs" else "tflite")
        # each model file fetched once: its bytes plus response headers (model.json used to be fetched twice)
        assert shipped["bytes"] <= e["model_bytes_transferred"] <= shipped["bytes"] + 600 * len(shipped["files"])
        assert e["check"]["samples"] == 10 and e["check"]["top1_agreement"] >= 0.9
        assert e["check"]["status"] == "passed" and e["check"]["relative_error"] < 0.15
        # the runtime's own files, sized as a compressing static server sends them
        assert 0 < e["runtime_brotli_bytes"] < e["runtime_gzip_bytes"] < e["runtime_raw_bytes"]
        assert e["runtime_raw_bytes"] <= e["runtime_bytes_transferred"]
    litert_runtime, tfjs_runtime = entries[("litertjs", "wasm")], entries[("tfjs", "wasm")]
    assert litert_runtime["runtime_brotli_bytes"] != tfjs_runtime["runtime_brotli_bytes"]
    for e in entries.values():
        assert e["p50_ms"] is not None or e["reason"]  # unavailable backends say why
    best = report["web_recommendation"]
    fastest = min((e for e in entries.values() if e["p50_ms"] is not None), key=lambda e: e["p50_ms"])
    assert (best["runtime"], best["backend"], best["p50_ms"]) == (fastest["runtime"], fastest["backend"], fastest["p50_ms"])
    assert best["objective"] == "p50" and set(best["answers"]) == {"p50", "first_inference", "bytes"}
    least = min((e for e in entries.values() if e.get("runtime_brotli_bytes")),
                key=lambda e: e["runtime_brotli_bytes"] + artifact(report, "tfjs" if e["runtime"] == "tfjs" else "tflite")["brotli_bytes"])
    assert (best["answers"]["bytes"]["runtime"], best["answers"]["bytes"]["backend"]) == (least["runtime"], least["backend"])
    text = (out / "report.md").read_text()
    assert "## Web runtimes in the browser" in text and f"Recommended web runtime: {best['runtime']}" in text
    assert "| fewest bytes |" in text and "first inference on 4G" in text
    budgets = {b["name"]: b for b in artifact(report, "tfjs")["budgets"]}
    assert budgets["max_first_inference"]["passed"] and budgets["max_browser_p50"]["where"].startswith("browser")


@pytest.mark.skipif(CHROMIUM_PROBLEM is not None, reason=f"headless Chromium cannot start: {CHROMIUM_PROBLEM}")
def test_web_profile_command_merges_new_browser_numbers_into_the_report(built, tmp_path):
    _, out, _, config = built
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    text = config.read_text().replace("runs = 20", "runs = 7")
    edited = tmp_path / "edgekit.toml"
    edited.write_text(text.replace("[targets.web.budgets]", 'browser_backends = ["tfjs-wasm"]\n[targets.web.budgets]'))
    code = main(["profile", "--target", "web", "--config", str(edited), "--out", str(copy), "--quiet"])
    assert code == 0
    report = json.loads((copy / "report.json").read_text())
    wasm = [e for e in artifact(report, "tfjs")["latency"] if e.get("backend") == "wasm"]
    assert len(wasm) == 1 and wasm[0]["runs"] == 7  # replaced by the new measurement, not duplicated
    assert len([e for e in artifact(report, "tfjs")["latency"] if e["where"] == "browser"]) == 4  # others kept
    assert report["web_recommendation"]["p50_ms"] <= wasm[0]["p50_ms"]
    assert "## Web runtimes in the browser" in (copy / "report.md").read_text()


def test_web_profile_without_chromium_is_an_environment_error(built, tmp_path, monkeypatch, capsys):
    _, out, _, config = built
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    monkeypatch.setenv("EDGEKIT_CHROMIUM", str(tmp_path / "no-chromium"))
    code = main(["profile", "--target", "web", "--config", str(config), "--out", str(copy)])
    err = capsys.readouterr().err.strip()
    assert code == 4 and len(err.splitlines()) == 1 and "apt-get install chromium" in err


def test_web_profile_when_chromium_fails_to_launch_is_an_environment_error(built, tmp_path, monkeypatch, capsys):
    _, out, _, config = built
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    monkeypatch.setenv("EDGEKIT_CHROMIUM", "/bin/false")  # exists, but is no browser
    code = main(["profile", "--target", "web", "--config", str(config), "--out", str(copy)])
    err = capsys.readouterr().err.strip()
    assert code == 4 and len(err.splitlines()) == 1 and "Chromium did not start" in err


def test_web_server_serves_only_its_roots_on_loopback(tmp_path):
    import urllib.error
    import urllib.request

    from edgekit.targets.web.harness import serve

    (tmp_path / "build" / "web").mkdir(parents=True)
    (tmp_path / "build" / "web" / "model.tflite").write_bytes(b"TFL3")
    (tmp_path / "secret.txt").write_text("not served")
    (tmp_path / "build" / "web" / "escape.txt").symlink_to(tmp_path / "secret.txt")  # a link out of the build
    (tmp_path / "build" / "web" / "up").symlink_to(tmp_path)  # a folder link out of it
    (tmp_path / "build" / "web" / "inside.tflite").symlink_to(tmp_path / "build" / "web" / "model.tflite")
    (tmp_path / "build" / "app").mkdir()  # a folder whose index page is a link out of the build
    (tmp_path / "build" / "app" / "index.html").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "build" / "page").mkdir()
    (tmp_path / "build" / "page" / "index.html").write_text("<p>inside</p>")

    def status(url: str) -> int:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as err:
            return err.code

    with serve(tmp_path / "build", isolate=True) as base:
        assert base.startswith("http://127.0.0.1:")
        assert status(f"{base}/model/web/model.tflite") == 200
        assert status(f"{base}/model/web/inside.tflite") == 200  # a link that stays inside is fine
        assert status(f"{base}/model/web/escape.txt") == 404 and status(f"{base}/model/web/up/secret.txt") == 404
        assert status(f"{base}/model/app/") == 404 and status(f"{base}/model/page/") == 200
        assert status(f"{base}/node_modules/@tensorflow/tfjs/dist/tf.min.js") == 200
        assert status(f"{base}/bench/bench.html") == 200
        for path in ("/model/../secret.txt", "/model/%2e%2e/secret.txt", "/model/web/..%2f..%2fsecret.txt",
                     "/model/web/", "/model/", "/secret.txt", "/etc/passwd", "/bench/../../pyproject.toml",
                     "/model/web/model.tflite%00.txt"):
            assert status(base + path) == 404, path


def test_web_node_script_timeout_lets_node_clean_up_before_it_is_killed(tmp_path):
    from edgekit import node
    from edgekit.errors import ConversionError

    marker = tmp_path / "terminated"
    script = tmp_path / "slow.mjs"
    script.write_text("import { writeFileSync } from 'node:fs';\n"
                      f"process.on('SIGTERM', () => {{ writeFileSync({json.dumps(str(marker))}, 'x'); process.exit(0); }});\n"
                      "setInterval(() => {}, 1000);\n")
    with pytest.raises(ConversionError, match="did not finish within 2 s"):
        node.run_script(str(script), {}, workdir=tmp_path, timeout=2)
    assert marker.is_file()  # SIGTERM first: playwright closes Chromium and removes its temp profile


def test_web_browser_entries_keep_their_identity_when_a_backend_fails():
    from edgekit.targets.web.harness import _entry

    samples = {"outputs": [{"name": "probs"}], "label_output": "probs",
               "samples": [{"label": i % 3, "outputs": {"probs": [0.8, 0.1, 0.1]}} for i in range(10)]}
    failed = _entry({"runtime": "tfjs", "backend": "wasm", "threads": 1, "available": False, "error": True,
                     "reason": "boom"}, browser="Chromium", tolerance=None, samples=samples)
    assert failed["threads"] == 1 and failed["p50_ms"] is None  # same identity as a measured wasm entry: merge replaces
    page = {"runtime": "litertjs", "backend": "wasm", "threads": 1, "available": True, "warmup": 1, "runs": 2,
            "bytes_transferred": 10, "model_bytes_transferred": 5, "runtime_bytes_transferred": 5,
            "check": {"samples": 10, "outputs": [{"probs": [None, 0.5, 0.5]}] * 10},  # NaN outputs arrive as null
            **{k: 1.0 for k in ("p50_ms", "p90_ms", "min_ms", "max_ms", "mean_ms", "first_inference_ms",
                                "first_run_ms", "load_ms")}}
    entry = _entry(page, browser="Chromium", tolerance={"max_relative_error": 0.1}, samples=samples)
    assert entry["check"]["status"] == "failed" and "NaN" in entry["check"]["reason"]


def test_web_quantize_nodes_conflicts_and_unmatched_patterns_are_config_errors(tmp_path, tiny_model_path):
    from edgekit.converters import tfjs
    from edgekit.models import load_model

    model = load_model(tiny_model_path)
    with pytest.raises(ConfigError, match="also a key of quantize_nodes"):
        tfjs.convert(model, tmp_path / "a", quantize="uint8", nodes={"uint8": ["*"]})
    with pytest.raises(ConfigError, match="match no weight: float16: '\\*/probs/\\*'"):
        tfjs.convert(model, tmp_path / "b", quantize="uint8", nodes={"float16": ["*/probs/*"]})
    # two patterns that name the same weight (layer names depend on what else the session built: read them)
    manifest = json.loads(tfjs.convert(model, tmp_path / "names", quantize="none")[0].read_text())
    matmul = next(w["name"] for g in manifest["weightsManifest"] for w in g["weights"] if "MatMul" in w["name"])
    with pytest.raises(ConfigError, match="quantize_nodes rejected"):
        tfjs.convert(model, tmp_path / "c", quantize="none", nodes={"float16": ["*MatMul*"], "uint16": [matmul]})


def test_web_layers_format_with_float16_nodes_runs_in_node(tmp_path, tiny_model_path):
    from edgekit.converters import tfjs
    from edgekit.models import load_model
    from edgekit import node

    model = load_model(tiny_model_path)
    files = tfjs.convert(model, tmp_path / "tfjs", quantize="uint16", nodes={"float16": ["dense*"]},
                         model_format="layers", shard_size=4096)
    manifest = json.loads(files[0].read_text())
    assert manifest["format"] == "layers-model" and len(files) > 2  # 4 KB shards
    dtypes = {w["name"]: w["quantization"]["dtype"] for g in manifest["weightsManifest"] for w in g["weights"]}
    assert {d for n, d in dtypes.items() if n.startswith("dense")} == {"float16"}
    assert {d for n, d in dtypes.items() if not n.startswith("dense")} == {"uint16"}
    x = np.random.default_rng(0).random((16, 28, 28, 1), dtype=np.float32)
    x.tofile(tmp_path / "x.f32")
    spec = {"model": str(files[0]), "count": 16, "batch": 8, "outputs": model.output_names,
            "inputs": [{"name": "image", "file": str(tmp_path / "x.f32"), "shape": [16, 28, 28, 1], "dtype": "float32"}],
            "backends": [{"name": "cpu", "samples": 16}], "out_dir": str(tmp_path)}
    seen = []
    result = node.run_script("node_eval.mjs", spec, workdir=tmp_path, timeout=120, on_progress=seen.append)
    (output,) = result["backends"]["cpu"]["outputs"]
    got = np.fromfile(output["file"], dtype=np.float32).reshape(16, 10)
    assert np.abs(got - model.predict(x)[0]).max() < 1e-2
    assert seen == ["cpu 8 16", "cpu 16 16"]  # progress per batch


def test_web_config_typos_and_conflicting_quantization_are_config_errors():
    base = {"model": {"path": "m.keras"}, "dataset": {"kind": "fashion_mnist"}}
    with pytest.raises(ConfigError, match="did you mean 'browser_backends'"):
        parse_config({**base, "targets": {"web": {"browser_backend": ["tfjs-wasm"]}}})
    with pytest.raises(ConfigError, match="did you mean 'tfjs-wasm'"):
        parse_config({**base, "targets": {"web": {"browser_backends": ["tfjs-wsam"]}}})
    config = parse_config({**base, "targets": {"web": {"budgets": {"max_first_inference": "1.5 s"}}}})
    assert config.targets.web.budgets.max_first_inference == 1500.0 and config.targets.web.quantize == "uint8"


def test_web_budgets_read_browser_numbers_and_fail_when_not_measured():
    budgets = Budgets(max_download_brotli="100 KB", max_browser_p50="2 ms", max_first_inference="1 s")
    host_only = {"target": "web", "path": "web/model.tflite", "brotli_bytes": 90_000,
                 "latency": [{"where": "host", "p50_ms": 0.1}]}
    results = {b["name"]: b for b in evaluate(host_only, budgets)}
    assert results["max_download_brotli"]["passed"]
    assert not results["max_browser_p50"]["passed"] and results["max_browser_p50"]["note"] == "not measured"
    assert not results["max_first_inference"]["passed"]
    browser = dict(host_only, latency=[{"where": "browser", "runtime": "tfjs", "backend": "wasm", "p50_ms": 1.5,
                                        "first_inference_ms": 1200.0},
                                       {"where": "browser", "runtime": "tfjs", "backend": "webgl", "p50_ms": None,
                                        "reason": "no GPU"}])
    results = {b["name"]: b for b in evaluate(browser, budgets)}
    assert results["max_browser_p50"]["passed"] and not results["max_first_inference"]["passed"]
    best = recommend_web([browser])
    assert (best["runtime"], best["backend"], best["unavailable"]) == ("tfjs", "wasm", ["tfjs webgl"])
