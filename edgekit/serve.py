"""`edgekit serve`: the demo PWA (`edgekit/demo_app/`, package data) with the web artifacts of a build, over HTTP.

URL layout (one origin, so the service worker at /sw.js controls everything):
  /                 edgekit/demo_app/ (index.html, modules, manifest, icons)
  /model/...        <out>/web/ (tfjs/model.json + shards, model.tflite, samples.json)
  /vendor/...       the pinned npm packages (the web runtime folder's node_modules/, see edgekit.node) — never a CDN
  /build.json       what the app needs to know about the build (generated)
  /sw.js            demo_app/sw.js with the precache lists and cache versions prepended (generated)

The service worker keeps three caches, each named by a hash of what it holds: the app shell
(demo_app files), the runtimes (package-lock.json) and the model (the files under <out>/web/),
so a new build replaces the cached model and nothing else. The file server is the one
`edgekit profile --target web` uses (edgekit.targets.web.harness), cross-origin isolated as there: the
browser's timer then resolves microseconds (100 µs without isolation), which the latency shown needs.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import posixpath
import socket
import threading
import urllib.parse
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

from edgekit import node
from edgekit.errors import ConfigError, EnvironmentProblem, InputError
from edgekit.targets.web.harness import FileHandler

APP = Path(__file__).resolve().parent / "demo_app"
APP_SKIP = {"test", "tools"}  # never served, should such folders appear beside the app
VENDOR_PRECACHE = (  # small runtime files every visit needs; LiteRT.js picks one of four ~9 MB wasm
    "@tensorflow/tfjs/dist/tf.min.js",  # builds itself: it is cached when first fetched
    "@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js",
    "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm",
    "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm",
    "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm",
    "@litertjs/core/dist/index.js",
    "@litertjs/wasm-utils/dist/index.js",
)
BUILD_HINT = "run `edgekit build --target web` first (or pass --out to a folder such a build wrote)"


def check_build(out: Path) -> Path:
    """`<out>/web/` holding a web build (samples.json and a TF.js or LiteRT.js model), else InputError."""
    web = out / "web"
    models = [p for p in (web / "tfjs" / "model.json", web / "model.tflite") if p.is_file()]
    if not (web / "samples.json").is_file() or not models:
        raise InputError(f"no web build in {out} (needs web/samples.json and web/tfjs/model.json or "
                         "web/model.tflite)", hint=BUILD_HINT)
    from edgekit.targets.web.build import SAMPLES_SCHEMA
    from edgekit.report import read_json

    samples = read_json(web / "samples.json", what="samples.json", hint=BUILD_HINT)
    schema = samples.get("schema") if isinstance(samples, dict) else None
    if schema != SAMPLES_SCHEMA:
        raise InputError(f"{web / 'samples.json'} was written by an older edgekit ({schema}; the app reads "
                         f"{SAMPLES_SCHEMA})", hint=BUILD_HINT)
    return web


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _files(root: Path, *, skip: set[str] = frozenset()) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not skip & set(p.relative_to(root).parts[:-1])
                  and "__pycache__" not in p.parts and p.name != "sw.js")


def describe_build(out: Path, modules: Path) -> dict[str, Any]:
    """The generated /build.json: model URLs, the build's date and model, cache versions and lists."""
    web = check_build(out)
    model_files = _files(web)
    app_files = _files(APP, skip=APP_SKIP)
    report: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    model_path = ((report.get("config") or {}).get("model") or {}).get("path")
    vendor = [name for name in VENDOR_PRECACHE if (modules / name).is_file()]
    lock = modules.parent / "package-lock.json"
    return {
        "schema": "edgekit.demo/v1",
        "created": report.get("created"),
        "model_name": Path(model_path).name if model_path else None,
        "recommendation": report.get("web_recommendation"),
        "tfjs": "/model/tfjs/model.json" if (web / "tfjs" / "model.json").is_file() else None,
        "tflite": "/model/model.tflite" if (web / "model.tflite").is_file() else None,
        "samples": "/model/samples.json",
        "versions": {"app": _digest(app_files), "model": _digest(model_files),
                     "vendor": _digest([lock]) if lock.is_file() else "unlocked"},
        "precache": {
            "app": ["/"] + [f"/{p.relative_to(APP).as_posix()}" for p in app_files],
            "model": ["/build.json"] + [f"/model/{p.relative_to(web).as_posix()}" for p in model_files],
            "vendor": [f"/vendor/{name}" for name in vendor],
        },
    }


class _AppHandler(FileHandler):
    """The profiler's file server with the app at / and two generated files (self.server.build)."""

    extensions_map = {**FileHandler.extensions_map, ".webmanifest": "application/manifest+json",
                      ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml"}

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        path = urllib.parse.urlsplit(self.path).path
        build = self.server.build  # type: ignore[attr-defined]
        if path == "/build.json":
            return self._send(json.dumps(build).encode(), "application/json")
        if path == "/sw.js":
            script = f"const BUILD = {json.dumps(build)};\n" + (APP / "sw.js").read_text(encoding="utf-8")
            return self._send(script.encode(), "text/javascript")
        return super().do_GET()

    def _send(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def translate_path(self, path: str) -> str:
        clean = posixpath.normpath(urllib.parse.unquote(urllib.parse.urlsplit(path).path))
        first = clean.strip("/").split("/")[0]
        if first in APP_SKIP:
            return super().translate_path("/no-such-root/")
        if first not in ("model", "vendor"):
            clean = "/app/index.html" if clean in ("/", ".") else f"/app{clean}"
        return super().translate_path(clean)


def lan_address() -> str | None:
    """This machine's address on the local network (the route to a private address; nothing is sent)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))
        address = probe.getsockname()[0]
        return None if address.startswith("127.") else address
    return None


@contextlib.contextmanager
def serving(out: Path, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[ThreadingHTTPServer]:
    """Serve the app with the build in `out` on host:port (0 = any free port) in a thread."""
    if not (APP / "index.html").is_file():
        raise EnvironmentProblem(f"the demo app is missing ({APP / 'index.html'})",
                                 hint="reinstall edgekit (pip install --force-reinstall edgekit-ml)")
    modules = node.node_modules()
    build = describe_build(out, modules)
    roots = {"app": APP, "model": out / "web", "vendor": modules}
    try:
        server = ThreadingHTTPServer((host, port), partial(_AppHandler, roots=roots, isolate=True))
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is already in use",
                              hint=f"pass another --port (e.g. --port {port + 1}) or stop the other server") from None
        raise ConfigError(f"cannot listen on {host}:{port} ({err.strerror or err})",
                          hint="pass --host 127.0.0.1, 0.0.0.0 or an address of this machine") from None
    server.build = build  # type: ignore[attr-defined] - read by _AppHandler and serve_forever
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def urls(host: str, port: int) -> list[str]:
    if host in ("0.0.0.0", ""):
        lan = lan_address()
        return [f"http://localhost:{port}/"] + ([f"http://{lan}:{port}/"] if lan else [])
    shown = "localhost" if host in ("127.0.0.1", "localhost") else host
    return [f"http://{shown}:{port}/"]


def serve_forever(out: Path, *, host: str, port: int) -> int:
    """`edgekit serve`: print the URLs and serve until Ctrl-C (KeyboardInterrupt reaches the CLI)."""
    with serving(out, host=host, port=port) as server:
        bound = server.server_address[1]
        build = server.build  # type: ignore[attr-defined]
        print(f"edgekit demo app with {out / 'web'} (model {build['model_name'] or 'unknown'}, "
              f"built {build['created'] or 'unknown'})")
        for url in urls(host, bound):
            print(f"  open {url}")
        if host in ("127.0.0.1", "localhost"):
            lan = lan_address()
            print(f"  phone on the same network: add --host 0.0.0.0, then open http://{lan or '<this machine>'}:"
                  f"{bound}/ (offline mode needs a secure origin: see README, Demo app)")
        print("Ctrl-C stops the server", flush=True)
        threading.Event().wait()
    return 0
