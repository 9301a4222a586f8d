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
DRIVER = ROOT / "tests" / "js" / "drive_demo_app.mjs"  # the app's browser driver (not part of the app)
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
        result = node.run_script(str(DRIVER), spec, workdir=work, timeout=240)
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
            return node.run_script(str(DRIVER), spec, workdir=tmp_path, timeout=120), port, build

    first, port, old = visit(web_build, 0)
    second, _, new = visit(new_build(web_build, tmp_path / "new"), port)
    names = lambda build: [f"edgekit-demo-{k}-{build['versions'][k]}" for k in ("app", "model", "vendor")]  # noqa: E731
    assert first["caches"] == sorted(names(old)) and second["caches"] == sorted(names(new))  # old model cache gone
    assert names(old)[0] == names(new)[0] and names(old)[2] == names(new)[2]  # app and runtimes kept
    assert "new build was installed" in second["status_before_reload"]
    samples = json.loads((web_build / "web/samples.json").read_text())["samples"]
    assert first["first_sample"].endswith(samples[0]["label_name"])
    assert second["first_sample"].endswith(samples[-1]["label_name"]) and second["runtimes"] == first["runtimes"]


# --- A build that is not Fashion-MNIST: 3 classes, RGB 64x64, from an image folder -------------------

APP_TITLE = "Trouser, sneaker or bag?"
RGB_SCREENSHOT = ARTIFACTS / "demo_app_rgb.png"  # copied to docs/demo_app_rgb.png for the README


def test_exported_samples_spread_over_the_classes_and_describe_the_app(web_build):
    exported = json.loads((web_build / "web/samples.json").read_text())
    labels = [s["label"] for s in exported["samples"]]
    assert labels == list(range(10)) * 3  # round-robin over the classes, not the first 30 eval images
    assert exported["app"]["title"] == "Clothing classifier" and exported["app"]["description"].startswith("Fashion-MNIST")
    assert exported["background"] == "dark"  # light clothing on black: drawings are inverted


def test_default_app_title_comes_from_the_class_names_not_fashion_mnist():
    from edgekit.config import DatasetSection, WebTarget
    from edgekit.targets.web.build import _app_text, _spread

    folder = DatasetSection(kind="image_folder", path="images")
    text = _app_text(WebTarget(), folder, ["cat", "dog"], [32, 48, 3])
    assert text == {"title": "Cat / dog classifier", "description": "48×32 RGB images in 2 classes: cat, dog"}
    assert _app_text(WebTarget(), folder, [str(i) for i in range(5)], [28, 28, 1])["title"] == "Image classifier"
    assert _app_text(WebTarget(app_title="Pets"), folder, ["cat", "dog"], [32, 48, 3])["title"] == "Pets"
    assert _spread(np.array([0, 0, 0, 1, 2, 2]), 5) == [0, 3, 4, 1, 5] and _spread(None, 2) == [0, 1]


@pytest.fixture(scope="module")
def rgb_build(tmp_path_factory, keras_module):
    """A tiny RGB CNN trained on real Fashion-MNIST trouser/sneaker/bag images resized to 64x64 RGB,
    written as an image folder, then `edgekit build --target web` with a short browser profile of
    two runtimes (so the report recommends one)."""
    from edgekit.config import DatasetSection
    from edgekit.data import load_split
    from tests.backbones import CLASSES, fashion_rgb

    folder = tmp_path_factory.mktemp("rgb")
    for split, count in (("train", 450), ("test", 60)):
        x, y = fashion_rgb(split, count=count, size=64, seed=1)
        for i, (image, label) in enumerate(zip(x, y)):
            path = folder / "images" / split / list(CLASSES.values())[label] / f"{i:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image, mode="RGB").save(path)
    dataset = DatasetSection(kind="image_folder", path=folder / "images", image_size=(64, 64), color_mode="rgb")
    train = load_split(dataset, "train")  # labels in the folders' (sorted) order, as the build reads them
    k = keras_module
    k.utils.set_random_seed(0)
    model = k.Sequential([
        k.layers.InputLayer(input_shape=(64, 64, 3), name="image"),
        k.layers.Conv2D(8, 3, strides=2, activation="relu"),
        k.layers.Conv2D(16, 3, strides=2, activation="relu"),
        k.layers.MaxPooling2D(4),
        k.layers.Flatten(),
        k.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=k.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(train.x, train.y, epochs=4, batch_size=32, verbose=0)
    model.save(folder / "rgb.keras")
    config = folder / "edgekit.toml"
    config.write_text(textwrap.dedent(f"""
        [model]
        path = "{folder / 'rgb.keras'}"

        [dataset]
        kind = "image_folder"
        path = "{folder / 'images'}"
        image_size = [64, 64]
        color_mode = "rgb"
        calibration_samples = 16

        [targets.web]
        app_title = "{APP_TITLE}"
        samples = 9
        quantize = "float16"
        node_backends = ["wasm"]
        parity_samples = 60
        profile_browser = {"false" if CHROMIUM_PROBLEM else "true"}
        browser_backends = ["tfjs-wasm", "litertjs-wasm"]
        warmup = 1
        runs = 5
        browser_max_seconds = 2

        [build]
        out = "out"
    """))
    assert main(["build", "--config", str(config), "--target", "web", "--quiet"]) == 0
    return folder / "out"


@pytest.fixture(scope="module")
def rgb_drive(rgb_build, tmp_path_factory):
    """The RGB build on the phone: every exported image on the wasm runtimes, two RGB uploads (a test
    image as a PNG; a larger, warm-tinted copy), a drawing and a screenshot."""
    work = tmp_path_factory.mktemp("rgb-drive")
    exported = json.loads((rgb_build / "web/samples.json").read_text())
    pixels = np.array(exported["samples"][0]["pixels"], dtype=np.uint8).reshape(64, 64, 3)
    same, tinted = work / "image.png", work / "tinted.png"
    Image.fromarray(pixels, mode="RGB").save(same)
    warm = np.clip(pixels * np.array([1.0, 0.7, 0.4]), 0, 255).astype(np.uint8)
    Image.fromarray(warm, mode="RGB").resize((160, 120)).save(tinted)
    RGB_SCREENSHOT.unlink(missing_ok=True)
    shown = next((i for i, s in enumerate(exported["samples"])  # the screenshot shows a confident, right answer
                  if int(np.argmax(s["reference"])) == s["label"] and 0.8 < max(s["reference"]) < 0.99), 0)
    with serving(rgb_build) as server:
        build = server.build
        spec = {"chromium": node.chromium_binary(), "base_url": f"http://127.0.0.1:{server.server_address[1]}",
                "fixed": list(range(len(exported["samples"]))), "runtimes": list(WASM_RUNTIMES),
                "upload": [str(same), str(tinted)], "screenshot": str(RGB_SCREENSHOT), "offline": False,
                "screenshot_image": shown, "timeout_ms": 60_000}
        result = node.run_script(str(DRIVER), spec, workdir=work, timeout=240)
    (ARTIFACTS / "demo_app_rgb_drive.json").write_text(json.dumps(result, indent=1))
    return result, exported, build


def test_rgb_build_exports_every_class_and_the_app_texts(rgb_build):
    exported = json.loads((rgb_build / "web/samples.json").read_text())
    assert exported["input_shape"] == [64, 64, 3] and exported["class_names"] == ["bag", "sneaker", "trouser"]
    assert [s["label"] for s in exported["samples"]] == [0, 1, 2] * 3  # a class-sorted folder, spread over classes
    assert all(len(s["pixels"]) == 64 * 64 * 3 for s in exported["samples"])
    assert exported["app"] == {"title": APP_TITLE, "description": "64×64 RGB images in 3 classes: bag, sneaker, trouser"}
    assert exported["background"] == "dark"  # Fashion-MNIST items: light on black
    assert "Fashion" not in json.dumps(exported["app"])


@needs_chromium
def test_demo_app_follows_an_rgb_64x64_three_class_build(rgb_drive):
    result, exported, _ = rgb_drive
    online = result["online"]
    assert not online.get("error") and not result["errors"], (online.get("error"), result["errors"])
    assert set(WASM_RUNTIMES) <= set(online["runtimes"]), online["unavailable"]
    page = online["page"]
    assert page["heading"] == APP_TITLE and page["title"].startswith(APP_TITLE)
    assert page["preview"] == [64, 64] and online["input"] == {"height": 64, "width": 64, "channels": 3,
                                                             "background": "dark"}
    assert set(page["captions"]) == {"bag", "sneaker", "trouser"}  # the exported images cover the 3 classes
    hints = " ".join(page["hints"])
    assert "64×64" in hints and "RGB" in hints and "(bag, sneaker or trouser)" in hints
    assert not any(word in hints + page["title"] for word in ("Fashion", "clothing", "28×28"))
    for runtime in WASM_RUNTIMES:  # the app reproduces the Keras model on the build's own images
        results = online["results"][runtime]
        same = sum(r["top"][0]["index"] == int(np.argmax(exported["samples"][r["index"]]["reference"])) for r in results)
        assert len(results) == 9 and same >= 8, (runtime, [r["top"][0] for r in results])


@needs_chromium
def test_demo_app_starts_on_the_builds_recommended_runtime(rgb_drive):
    result, _, build = rgb_drive
    online = result["online"]
    wanted = build["recommendation"] and f"{build['recommendation']['runtime']}-{build['recommendation']['backend']}"
    assert online["recommended"] == wanted
    if wanted in online["runtimes"]:
        assert online["started_on"] == wanted
    else:  # no recommendation, or one this browser cannot run: the first runtime that loads
        assert online["started_on"] == online["runtimes"][0]
    assert online["page"]["options"] == online["runtimes"]  # the menu keeps the app's order
    assert wanted in WASM_RUNTIMES  # the build profiled two wasm runtimes in Chromium: one is recommended


@needs_chromium
def test_demo_app_gives_an_rgb_model_rgb_pixels_from_uploads(rgb_drive):
    result, _, _ = rgb_drive
    first = list(result["online"]["results"].values())[-1][0]  # image 0 on the runtime the uploads ran on
    same, tinted = result["uploads"]
    assert "not inverted" in same["source"]  # a dark background like the training images
    assert same["top"][0]["index"] == first["top"][0]["index"] and abs(same["top"][0]["p"] - first["top"][0]["p"]) < 1e-3
    red, _, blue = tinted["preview"]["mean"]
    assert (tinted["preview"]["width"], tinted["preview"]["height"]) == (64, 64) and red > blue + 5  # colour kept
    assert len(tinted["top"]) == 3
    drawing = result["drawing"]
    assert drawing["source"] == "your drawing (inverted: white on black)" and len(drawing["top"]) == 3
    r, g, b = drawing["preview"]["mean"]
    assert r == g == b and r < 128  # black ink on white, inverted: mostly dark like the training images


@needs_chromium
def test_demo_app_rgb_phone_screenshot_is_written(rgb_drive):
    result, _, _ = rgb_drive
    with Image.open(result["screenshot"]) as image:
        assert image.size == (780, 1688) and len(image.convert("L").getcolors(maxcolors=1 << 16)) > 16


@needs_chromium
@pytest.mark.parametrize("change", ["two inputs", "no labels"])
def test_demo_app_says_which_models_it_cannot_show(web_build, tmp_path, change):
    """A build whose model the app cannot show (samples.json of a two-input model, or one without labels)."""
    copy = new_build(web_build, tmp_path / "out")
    exported = json.loads((copy / "web/samples.json").read_text())
    if change == "two inputs":
        exported["inputs"].append({"name": "meta", "shape": [4], "dtype": "float32", "pixels": False})
    else:
        exported["label_output"] = None
    (copy / "web/samples.json").write_text(json.dumps(exported))
    with serving(copy) as server:
        spec = {"chromium": node.chromium_binary(), "base_url": f"http://127.0.0.1:{server.server_address[1]}",
                "fixed": [], "upload": None, "screenshot": None, "offline": False, "draw": False, "timeout_ms": 30_000}
        result = node.run_script(str(DRIVER), spec, workdir=tmp_path, timeout=120)
    online = result["online"]
    assert online["error"].startswith("this demo runs single-image classifiers") and not online["runtimes"]
    assert online["status"] == f"Could not start: {online['error']}"
    assert ("image 28x28x1, meta 4" in online["error"]) if change == "two inputs" else online["error"].endswith(
        "has no class labels")
