"""The demo PWA (demo_app/) served by `edgekit serve` with a real web build of the tiny trained model,
driven in headless Chromium (the Debian package, via playwright-core) as a phone: 390x844,
deviceScaleFactor 2, touch. Browser tests skip only when Chromium cannot start.

The tiny model is only ~80 % accurate, so the "at least 9 of 10 right" check uses as its 10 fixed
images the first 10 exported test images (samples.json) on which the Keras reference is right: it
checks that the app's preprocessing, runtimes and decoding reproduce the model, not the model."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_web import CHROMIUM_PROBLEM

from edgekit import node
from edgekit.cli import main
from edgekit.serve import APP, describe_build, serving

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "build" / "test-artifacts"
SCREENSHOT = ARTIFACTS / "demo_app_phone.png"
WASM_RUNTIMES = ("tfjs-wasm", "litertjs-wasm")
needs_chromium = pytest.mark.skipif(CHROMIUM_PROBLEM is not None,
                                    reason=f"headless Chromium cannot start: {CHROMIUM_PROBLEM}")


@pytest.fixture(scope="module")
def web_build(tmp_path_factory, tiny_model_path):
    """`edgekit build --target web` of the tiny model: 30 exported test images, no browser profiling (~10 s)."""
    folder = tmp_path_factory.mktemp("demo")
    config = folder / "edgekit.toml"
    config.write_text(textwrap.dedent(f"""
        [model]
        path = "{tiny_model_path}"

        [dataset]
        kind = "fashion_mnist"
        eval_samples = 200
        calibration_samples = 16

        [targets.web]
        samples = 30
        quantize = "float16"          # parity well inside its tolerance: the build passes every time
        node_backends = ["wasm"]
        parity_samples = 50
        profile_browser = false

        [build]
        out = "out"
    """))
    assert main(["build", "--config", str(config), "--target", "web", "--quiet"]) == 0
    return folder / "out"


def fixed_images(out: Path) -> list[int]:
    samples = json.loads((out / "web/samples.json").read_text())["samples"]
    right = [i for i, s in enumerate(samples) if int(np.argmax(s["reference"])) == s["label"]]
    assert len(right) >= 10, "the tiny model should be right on at least 10 of the 30 exported images"
    return right[:10]


@pytest.fixture(scope="module")
def drive(web_build, tmp_path_factory):
    """One phone session: every runtime on the fixed images, an upload, a drawing, a screenshot, then
    the network cut (context.setOffline) and a reload with the same images again."""
    work = tmp_path_factory.mktemp("drive")
    fixed = fixed_images(web_build)
    samples = json.loads((web_build / "web/samples.json").read_text())["samples"]
    pixels = np.array(samples[fixed[0]]["pixels"], dtype=np.uint8).reshape(28, 28)
    upload = work / "photo.png"  # the image as a photo would show it: dark item on a light background
    Image.fromarray(255 - pixels, mode="L").save(upload)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    with serving(web_build) as server:
        spec = {"chromium": node.chromium_binary(), "base_url": f"http://127.0.0.1:{server.server_address[1]}",
                "fixed": fixed, "upload": str(upload), "screenshot": str(SCREENSHOT), "offline": True,
                "timeout_ms": 60_000}
        result = node.run_script(str(APP / "test" / "drive.mjs"), spec, workdir=work, timeout=240)
    (ARTIFACTS / "demo_app_drive.json").write_text(json.dumps(result, indent=1))  # what the app showed
    return result, fixed, samples


def new_build(out: Path, copy: Path) -> Path:
    """A copy of the build in `out` whose model files differ: the exported test images reversed."""
    shutil.copytree(out / "web", copy / "web")
    samples = json.loads((copy / "web/samples.json").read_text())
    samples["samples"].reverse()
    (copy / "web/samples.json").write_text(json.dumps(samples))
    return copy


def correct(results: list[dict], samples: list[dict]) -> int:
    return sum(r["top"][0]["index"] == samples[r["index"]]["label"] for r in results)


def test_serve_refuses_a_folder_without_a_web_build(tmp_path, capsys):
    code = main(["serve", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "edgekit build --target web" in err


def test_demo_app_manifest_makes_it_installable():
    manifest = json.loads((APP / "manifest.webmanifest").read_text())
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/" and manifest["theme_color"]
    sizes = {}
    for icon in manifest["icons"]:
        with Image.open(APP / icon["src"].lstrip("/")) as image:
            assert f"{image.width}x{image.height}" == icon["sizes"] and image.format == "PNG"
            sizes.setdefault(icon["purpose"], set()).add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes["any"]
    assert 'rel="manifest"' in (APP / "index.html").read_text()


def test_serve_maps_app_model_and_runtimes_and_keys_the_model_cache_by_the_build(web_build, tmp_path):
    with serving(web_build) as server:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        get = lambda path: urllib.request.urlopen(base + path, timeout=10)  # noqa: E731
        assert b'<script type="module" src="/app.mjs">' in get("/").read()
        build = json.loads(get("/build.json").read())
        assert get("/sw.js").read().startswith(f"const BUILD = {json.dumps(build)};".encode())
        assert get(build["tfjs"]).headers["Content-Type"] == "application/json"
        assert get(build["tflite"]).read()[4:8] == b"TFL3"
        for url in build["precache"]["vendor"]:  # runtimes from node_modules, never a CDN
            assert get(url).status == 200
        with pytest.raises(urllib.error.HTTPError):
            get("/test/drive.mjs")  # the app's tests are not part of the app
        with pytest.raises(urllib.error.HTTPError):
            get("/model/../../etc/passwd")
    assert build["tfjs"] in build["precache"]["model"] and build["samples"] in build["precache"]["model"]
    copy = new_build(web_build, tmp_path / "out")
    rebuilt = describe_build(copy, node.node_modules())["versions"]
    assert rebuilt["model"] != build["versions"]["model"]  # a new build: a new model cache
    assert (rebuilt["app"], rebuilt["vendor"]) == (build["versions"]["app"], build["versions"]["vendor"])


def test_serve_command_prints_the_url_serves_and_stops_on_ctrl_c(web_build):
    command = [sys.executable, "-m", "edgekit", "serve", "--out", str(web_build), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        url = lines[1].split("open ", 1)[1].strip()
        assert url.startswith("http://localhost:")
        build = json.loads(urllib.request.urlopen(url + "build.json", timeout=10).read())
        assert build["tflite"] == "/model/model.tflite"
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=20)
    assert code == 130


@needs_chromium
def test_demo_app_loads_the_model_on_the_wasm_runtimes_and_gets_the_fixed_images_right(drive):
    result, fixed, samples = drive
    online = result["online"]
    assert not online.get("error") and not result["errors"], (online.get("error"), result["errors"])
    assert set(WASM_RUNTIMES) <= set(online["runtimes"]), online["unavailable"]
    for runtime, results in online["results"].items():
        assert [r["index"] for r in results] == fixed and {r["runtime"] for r in results} == {runtime}
        assert correct(results, samples) >= 9, (runtime, [r["top"][0] for r in results])
        for r in results:
            assert len(r["top"]) == 3 and 0 <= r["top"][2]["p"] <= r["top"][1]["p"] <= r["top"][0]["p"] <= 1
            assert r["latency_ms"] > 0 and r["median_ms"] > 0 and "median of 20 runs" in r["shown"]


@needs_chromium
def test_demo_app_works_with_the_network_cut_after_the_first_visit(drive):
    result, _, samples = drive
    online, offline = result["online"], result["offline"]
    assert online["controlled"] and offline["controlled"]  # the service worker took over on the first visit
    assert offline["online_flag"] is False and not offline["failed"]
    network = [r for r in offline["responses"] if r["url"].startswith("http") and not r["sw"]]  # not blob: URLs
    served = {r["url"].split("/", 3)[3] for r in offline["responses"] if r["sw"]}
    assert not network, network[:3]  # everything came from the service worker's caches:
    assert {"", "app.mjs", "model/samples.json", "model/model.tflite", "model/tfjs/model.json"} <= served  # app, model
    assert any(url.startswith("vendor/@litertjs/core/wasm/") for url in served)  # and runtimes
    assert offline["runtimes"] == online["runtimes"]
    for runtime, results in offline["results"].items():
        assert correct(results, samples) >= 9, runtime


@needs_chromium
def test_demo_app_inverts_a_light_background_upload_and_classifies_a_drawing(drive):
    result, fixed, _ = drive
    first_image = result["online"]["results"][result["online"]["runtimes"][-1]][0]
    upload = result["upload"]
    assert "inverted" in upload["source"] and upload["top"][0]["index"] == first_image["top"][0]["index"]
    assert abs(upload["top"][0]["p"] - first_image["top"][0]["p"]) < 1e-3  # the same 28x28 input after inversion
    drawing = result["drawing"]
    assert drawing["source"].startswith("your drawing") and len(drawing["top"]) == 3
    assert 0 < sum(t["p"] for t in drawing["top"]) <= 1.0001


@needs_chromium
def test_demo_app_phone_screenshot_is_written(drive):
    result, _, _ = drive
    with Image.open(result["screenshot"]) as image:
        assert image.size == (780, 1688)  # 390x844 CSS px at deviceScaleFactor 2
        assert len(image.convert("L").getcolors(maxcolors=1 << 16)) > 16  # a rendered page, not a blank one


@needs_chromium
def test_demo_app_replaces_the_cached_model_when_a_new_build_is_served(web_build, tmp_path):
    """Two visits with one browser profile: the first build, then a new build on the same origin."""
    def visit(out: Path, port: int) -> tuple[dict, int, dict]:
        with serving(out, port=port) as server:
            port = server.server_address[1]
            build = describe_build(out, node.node_modules())
            spec = {"chromium": node.chromium_binary(), "base_url": f"http://127.0.0.1:{port}",
                    "profile": str(tmp_path / "profile"), "expect_cache": f"edgekit-demo-model-{build['versions']['model']}",
                    "timeout_ms": 60_000}
            return node.run_script(str(APP / "test" / "drive.mjs"), spec, workdir=tmp_path, timeout=120), port, build

    first, port, old = visit(web_build, 0)
    second, _, new = visit(new_build(web_build, tmp_path / "new"), port)
    names = lambda build: [f"edgekit-demo-{k}-{build['versions'][k]}" for k in ("app", "model", "vendor")]  # noqa: E731
    assert first["caches"] == sorted(names(old)) and second["caches"] == sorted(names(new))  # old model cache gone
    assert names(old)[0] == names(new)[0] and names(old)[2] == names(new)[2]  # app and runtimes kept
    assert "new build was installed" in second["status_before_reload"]
    samples = json.loads((web_build / "web/samples.json").read_text())["samples"]
    assert first["first_sample"].endswith(samples[0]["label_name"])
    assert second["first_sample"].endswith(samples[-1]["label_name"]) and second["runtimes"] == first["runtimes"]
