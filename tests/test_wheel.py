"""edgekit as an installed package: the wheel built from this checkout, installed into a fresh virtualenv,
used from a folder outside the checkout (issue #15).

To spare CI a second 3 GB install of TensorFlow and friends, the fresh venv sees the dependencies
of the test venv through one `.pth` line; edgekit itself comes only from the wheel (checked: the
imported package lives in the fresh venv, and the checkout is not on sys.path). The web runtimes are
installed by `edgekit setup web` into a throwaway cache (npm ci from the npm registry or its cache).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fashion_mnist" / "edgekit.toml"
pytestmark = pytest.mark.slow


def source_files() -> list[str]:
    """The checkout's files as a fresh clone would have them (tracked + new, not ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    return [name for name in listed if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the checkout's files (no stale build/ or node_modules/ can leak in)."""
    source, dist = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    for name in source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist)], check=True, capture_output=True, cwd=source)
    (found,) = dist.glob("edgekit_ml-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> dict:
    """A fresh venv with the wheel installed; returns its `edgekit` command and a clean environment."""
    where = tmp_path_factory.mktemp("venv")
    subprocess.run([sys._base_executable, "-m", "venv", str(where)], check=True)  # type: ignore[attr-defined]
    python = where / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "edgekit-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # the dependencies only
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True,
                   capture_output=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["EDGEKIT_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    return {"edgekit": str(where / "bin" / "edgekit"), "python": str(python), "env": env,
            "cwd": tmp_path_factory.mktemp("elsewhere")}


def run(venv: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([venv["edgekit"], *args], cwd=venv["cwd"], env=venv["env"], capture_output=True,
                          text=True, timeout=timeout)


def test_wheel_carries_the_demo_app_scripts_and_lock_and_no_node_modules(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("edgekit/demo_app/index.html", "edgekit/demo_app/app.mjs", "edgekit/demo_app/sw.js",
                   "edgekit/demo_app/manifest.webmanifest", "edgekit/demo_app/icons/icon-192.png",
                   "edgekit/web/node_eval.mjs", "edgekit/web/bench.html", "edgekit/web/package.json",
                   "edgekit/web/package-lock.json", "edgekit/targets/web/defaults.toml", "edgekit/starter.toml",
                   "edgekit/report/model.py"):
        assert needed in names, needed
    assert not [n for n in names if "node_modules" in n or n.startswith(("tests/", "examples/", "scripts/"))]
    sources = {name for name in source_files() if name.startswith("edgekit/") and name.endswith(".py")}
    assert {n for n in names if n.endswith(".py")} == sources  # every module, and nothing stale


def test_installed_edgekit_comes_from_the_wheel_not_the_checkout(venv):
    found = subprocess.run([venv["python"], "-c", "import edgekit, sys; print(edgekit.__file__); "
                            f"print({str(ROOT)!r} in sys.path)"], cwd=venv["cwd"], env=venv["env"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert found[0].startswith(str(Path(venv["python"]).parents[1])), found
    assert found[1] == "False"


def test_wheel_build_and_serve_of_the_example_after_setup_web(venv, tmp_path):
    # Before `edgekit setup web`: the web target stops before any training, exit 4, naming the command.
    out = tmp_path / "out"
    missing = run(venv, "build", "--config", str(EXAMPLE), "--target", "web", "--out", str(out), timeout=300)
    assert missing.returncode == 4, missing.stderr
    assert "edgekit setup web" in missing.stderr and "Traceback" not in missing.stderr
    assert not out.exists() or not (out / "report.json").exists()

    setup = run(venv, "setup", "web", timeout=600)
    assert setup.returncode == 0, setup.stderr
    cache = Path(venv["env"]["EDGEKIT_CACHE"])
    (runtime,) = cache.glob("web-*")
    assert (runtime / "node_modules" / "@tensorflow" / "tfjs" / "package.json").is_file()
    assert list(runtime.glob("scripts-*/node_eval.mjs"))
    again = run(venv, "setup", "web")
    assert again.returncode == 0 and "already installed" in again.stdout

    built = run(venv, "build", "--config", str(EXAMPLE), "--target", "web", "--out", str(out), "--quiet")
    assert built.returncode == 0, built.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    web = [a for a in report["artifacts"] if a["target"] == "web"]
    assert web and all(a["parity"]["status"] == "passed" for a in web)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([venv["edgekit"], "serve", "--out", str(out), "--port", str(port)], cwd=venv["cwd"],
                              env=venv["env"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                page = urllib.request.urlopen(base + "/", timeout=5).read().decode()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
                time.sleep(0.5)
        assert 'rel="manifest"' in page
        build = json.loads(urllib.request.urlopen(base + "/build.json", timeout=5).read())
        assert build["tfjs"] == "/model/tfjs/model.json"
        for url in build["precache"]["vendor"] + ["/model/samples.json", "/model/tfjs/model.json", "/sw.js"]:
            assert urllib.request.urlopen(base + url, timeout=10).status == 200, url
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
