"""Latency in a real browser: headless Chromium driven by playwright-core over a local server.

The build folder (or `edgekit profile`'s --out) is served on 127.0.0.1 with an ephemeral port,
with the pinned npm runtimes beside it. For every runtime/backend configured — TF.js wasm,
webgl, cpu, webgpu on the TF.js graph model; LiteRT.js wasm, webgpu on the `.tflite` — a fresh
browser context (empty cache) opens the benchmark page (`edgekit/web/bench.html`), which
records bytes transferred, time to first inference (from navigation start: runtime scripts,
wasm, model download, compilation, first run), then p50/p90 over `runs` single-image inferences
and a check of the outputs on the exported samples against the Keras reference. A backend that
cannot run here (no GPU in headless Chromium) is recorded as unavailable with the reason.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import posixpath
import subprocess
import tempfile
import threading
import urllib.parse
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

from edgekit import node
from edgekit.errors import ConfigError, InputError
from edgekit.progress import Reporter

RUNTIME_OF_FORMAT = {"tfjs": "tfjs", "tflite": "litertjs"}
SAMPLES = "web/samples.json"
NOTE = ("headless Chromium on the build machine ({cpu}); the local server sends files uncompressed; p50 times "
        "inference and output read, the input prepared once")


NOWHERE = str(Path(tempfile.gettempdir()) / "edgekit-no-such-file")


def contained(root: Path, relative: str) -> str:
    """The regular file `relative` names under `root`, resolved (links followed) and still inside the
    root — or a path that does not exist (404). A link in a build folder never leads outside it."""
    base = root.resolve()
    try:
        target = (base / relative).resolve()
    except (OSError, RuntimeError):
        return NOWHERE
    if target != base and not target.is_relative_to(base):
        return NOWHERE
    if target.is_dir():  # the handler serves the folder's index page itself: that page must be contained too
        for index in ("index.html", "index.htm"):
            page = target / index
            if page.is_symlink() or page.exists():
                inside = page.resolve()
                if not (inside.is_relative_to(base) and inside.is_file()):
                    return NOWHERE
        return str(target) + "/"
    return str(target) if target.is_file() else NOWHERE


class FileHandler(SimpleHTTPRequestHandler):
    """Serves /model/ (the build folder), /node_modules/ and /bench/ (edgekit/web) and nothing else."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                      ".mjs": "text/javascript", ".js": "text/javascript", ".json": "application/json",
                      ".tflite": "application/octet-stream", ".bin": "application/octet-stream"}

    def __init__(self, *args: Any, roots: dict[str, Path], isolate: bool, **kwargs: Any):
        self.roots = roots
        self.isolate = isolate
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        clean = posixpath.normpath(urllib.parse.unquote(urllib.parse.urlsplit(path).path))
        if "\x00" in clean:  # the file system would raise on it: answer 404 like any unknown path
            return str(Path(tempfile.gettempdir()) / "edgekit-no-such-file")
        for prefix, root in self.roots.items():
            if clean.startswith(f"/{prefix}/"):
                relative = clean[len(prefix) + 2:]
                if ".." not in relative.split("/"):
                    return contained(root, relative)
        return NOWHERE

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        if self.isolate:  # SharedArrayBuffer for multi-threaded wasm
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def list_directory(self, path: Any) -> None:
        self.send_error(404)
        return None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return


@contextlib.contextmanager
def serve(folder: Path, *, isolate: bool = False) -> Iterator[str]:
    """Serve `folder` under /model/ on 127.0.0.1:<ephemeral>; yield the base URL."""
    roots = _roots(folder)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(FileHandler, roots=roots, isolate=isolate))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _roots(folder: Path) -> dict[str, Path]:
    return {"model": folder, "node_modules": node.node_modules(), "bench": node.runtime_dir()}


_SIZED: dict[tuple[str, int, int], tuple[int, int, int]] = {}  # (file, size, mtime) -> raw, gzip, brotli


def runtime_download(paths: list[str], roots: dict[str, Path]) -> dict[str, Any]:
    """The runtime files a page fetched (URL paths under /node_modules/): raw bytes, and gzip/brotli bytes
    as nginx sends them when it compresses on the fly (`served.py`); `runtime_precompressed_*`: gzip -9 / brotli -11 of the
    files, what a host serving precompressed files sends (brotli -11 of a 10 MB wasm takes seconds: sized
    once per process). Without nginx the precompressed sizes stand in, and `runtime_bytes_source` says so.
    Paths outside the served roots count nothing."""
    from edgekit.measure import brotli_size, gzip_size
    from edgekit.targets.web.served import served_sizes

    files: dict[str, Path] = {}
    for path in paths[:200]:  # the runtimes only: not the model, nor edgekit's benchmark page
        path = posixpath.normpath(urllib.parse.unquote(path))  # as the server resolved it
        relative = path[len("/node_modules/"):] if path.startswith("/node_modules/") else None
        if relative is not None and ".." not in relative.split("/"):
            local = Path(contained(roots["node_modules"], relative))
            if local.is_file() and local.stat().st_size <= 64 << 20:
                files[path] = local
    total = {"runtime_raw_bytes": 0, "runtime_precompressed_gzip_bytes": 0, "runtime_precompressed_brotli_bytes": 0}
    for local in files.values():
        stat = local.stat()
        key = (str(local), stat.st_size, stat.st_mtime_ns)
        if key not in _SIZED:
            data = local.read_bytes()
            _SIZED[key] = (len(data), gzip_size(data), brotli_size(data))
        raw, gz, br = _SIZED[key]
        total["runtime_raw_bytes"] += raw
        total["runtime_precompressed_gzip_bytes"] += gz
        total["runtime_precompressed_brotli_bytes"] += br
    try:
        served, source = served_sizes(files)
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError, http.client.HTTPException) as err:
        return {**total, "runtime_gzip_bytes": total["runtime_precompressed_gzip_bytes"],
                "runtime_brotli_bytes": total["runtime_precompressed_brotli_bytes"],
                "runtime_bytes_source": f"computed: gzip -9 / brotli -11 of the files ({str(err)[:160]})"}
    return {**total, "runtime_gzip_bytes": sum(s[1] for s in served.values()),
            "runtime_brotli_bytes": sum(s[2] for s in served.values()), "runtime_bytes_source": f"served by {source}"}


def cases_for(artifacts: list[dict[str, Any]], cfg: Any, *, samples: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = [{"name": i["name"], "shape": i["shape"], "dtype": i["dtype"]} for i in samples["inputs"]]
    outputs = [o["name"] for o in samples["outputs"]]
    cases = []
    for artifact in artifacts:
        runtime = RUNTIME_OF_FORMAT.get(artifact.get("format"))
        for name in cfg.browser_backends:
            wanted_runtime, backend = name.split("-", 1)
            if wanted_runtime != runtime:
                continue
            cases.append({"path": artifact["path"], "runtime": runtime, "backend": backend,
                          "model": f"/model/{artifact['path']}", "format": artifact.get("model_format", "graph"),
                          "samples": f"/model/{SAMPLES}", "inputs": inputs, "outputs": outputs,
                          "warmup": cfg.warmup, "runs": cfg.runs, "threads": cfg.threads,
                          "max_seconds": cfg.browser_max_seconds})
    return cases


def profile_folder(folder: Path, artifacts: list[dict[str, Any]], cfg: Any, *,
                   progress: Reporter) -> list[dict[str, Any]]:
    """Profile the web artifacts found in `folder`; return `[{"path", "latency": [entries]}]`."""
    samples = folder / SAMPLES
    if not samples.is_file():
        raise InputError(f"{samples} is missing", hint="re-run `edgekit build --target web` to export it")
    exported = json.loads(samples.read_text(encoding="utf-8"))
    if exported.get("schema") != "edgekit.samples/v2":
        raise InputError(f"{samples} was written by an older edgekit ({exported.get('schema')})",
                         hint="re-run `edgekit build --target web`")
    cases = cases_for(artifacts, cfg, samples=exported)
    if not cases:
        return []
    spec = {"chromium": node.chromium_binary(), "gpu": cfg.browser_gpu, "timeout_ms": int(cfg.browser_timeout_s * 1000),
            "cases": cases}
    with progress.stage(f"web: {len(cases)} runtime/backend pairs profiled in headless Chromium ({cfg.runs} runs)"):
        with serve(folder, isolate=True) as base_url, tempfile.TemporaryDirectory() as work:
            spec["base_url"] = base_url
            result = node.run_script("browser_bench.mjs", spec, workdir=Path(work),
                                     timeout=60 + (cfg.browser_timeout_s + 30) * len(cases))
    by_path: dict[str, list[dict[str, Any]]] = {}
    tolerance = {a["path"]: (a.get("parity") or {}).get("tolerance") for a in artifacts}
    roots = _roots(folder)
    for page in result["results"]:
        entry = _entry(page, browser=result["browser"], tolerance=tolerance.get(page["path"]), samples=exported)
        if entry.get("available") and page.get("runtime_files"):
            entry.update(runtime_download([str(p) for p in page["runtime_files"]], roots))
        by_path.setdefault(page["path"], []).append(entry)
        progress.say(f"  {_describe(entry)}")
    return [{"path": path, "latency": entries} for path, entries in by_path.items()]


def _entry(page: dict[str, Any], *, browser: str, tolerance: dict[str, Any] | None,
           samples: dict[str, Any]) -> dict[str, Any]:
    import platform

    entry: dict[str, Any] = {"where": "browser", "runtime": page["runtime"], "backend": page["backend"],
                             "browser": browser}
    if page["backend"] == "wasm":  # threads is part of an entry's identity when `profile` merges: always set it
        entry["threads"] = int(page.get("threads") or 1)
    if not page.get("available"):
        entry.update({"available": False, "p50_ms": None, "reason": page.get("reason") or "did not run"})
        if page.get("error"):
            entry["error"] = True
        return entry
    entry["available"] = True
    for key in ("p50_ms", "p90_ms", "min_ms", "max_ms", "mean_ms", "first_inference_ms", "first_run_ms", "load_ms"):
        entry[key] = round(float(page[key]), 4)
    for key in ("bytes_transferred", "model_bytes_transferred", "runtime_bytes_transferred", "warmup", "runs"):
        entry[key] = int(page[key])
    if page.get("runs_requested") and int(page["runs_requested"]) != entry["runs"]:
        entry["runs_requested"] = int(page["runs_requested"])
    entry["check"] = _check(page["check"], tolerance, samples, path=page.get("path", ""))
    cpu = f"{platform.machine()} {platform.processor() or platform.system()}".strip()
    override = page.get("hardware_concurrency_override") or {}
    threads = None
    if override.get("reported") and override.get("real"):
        threads = (f"TF.js caps its wasm threads at navigator.hardwareConcurrency / 2: the page was told "
                   f"{int(override['reported'])} cores (this machine has {int(override['real'])}) so "
                   f"{entry['threads']} threads could run")
    elif override.get("failed"):
        threads = ("TF.js caps its wasm threads at navigator.hardwareConcurrency / 2 and reporting more cores "
                   f"failed ({str(override['failed'])[:120]}): it ran {entry['threads']}")
    entry["note"] = "; ".join(filter(None, [NOTE.format(cpu=cpu), page.get("note"), threads]))
    return entry


def _check(check: dict[str, Any], tolerance: dict[str, Any] | None, samples: dict[str, Any], *,
           path: str = "") -> dict[str, Any]:
    """The page's outputs on the exported samples against the Keras outputs stored with them, judged
    like any parity with the artifact's tolerance (confident agreement needs more samples than a
    page checks, so on a handful of samples the relative error decides)."""
    import numpy as np

    from edgekit.validate import compare

    names = [o["name"] for o in samples["outputs"]]
    rows = check.get("outputs") or []

    def arrays(get: Any) -> list[np.ndarray]:
        return [np.asarray([[np.nan if v is None else v for v in get(row, name)] for row in rows], dtype=np.float64)
                for name in names]

    def expected(i: int) -> dict[str, Any]:  # what the artifact's own Keras model gave for sample i
        sample = samples["samples"][i]
        return (sample.get("outputs_by_artifact") or {}).get(path) or sample["outputs"]

    reference = [np.asarray([expected(i)[name] for i in range(len(rows))], dtype=np.float64) for name in names]
    got = arrays(lambda row, name: row[name])
    label = samples.get("label_output")
    # a handful of samples: one flip is 10 pp, so the accuracy loss is recorded, not judged
    judged = {k: v for k, v in (tolerance or {}).items() if k != "max_accuracy_loss"}
    parity = compare(reference, got, judged, names=names, samples=len(rows),
                     label_index=names.index(label) if label in names else None)
    result = {"samples": len(rows), "max_abs_error": parity.max_abs_error, "relative_error": parity.relative_error,
              "top1_agreement": parity.top1_agreement}
    if tolerance:
        result["status"] = parity.status
        if parity.reason:
            result["reason"] = parity.reason
    return result


def _describe(entry: dict[str, Any]) -> str:
    name = f"{entry['runtime']} {entry['backend']}"
    if not entry.get("available"):
        return f"{name}: unavailable ({entry['reason']})"
    return (f"{name}: p50 {entry['p50_ms']:.3f} ms, first inference {entry['first_inference_ms']:.0f} ms, "
            f"{entry['bytes_transferred']:,} B transferred")


def run(config: Any, *, out: Path, args: Any, progress: Reporter) -> list[dict[str, Any]]:
    """`edgekit profile --target web`: profile the web artifacts of the build in `out`."""
    from edgekit.report import load_report

    cfg = config.targets.web
    if cfg is None:
        raise ConfigError("the config has no [targets.web] section", hint="add [targets.web] and build it first")
    report = load_report(out / "report.json")
    artifacts = [a for a in report["artifacts"] if a.get("target") == "web" and a.get("status") != "failed"]
    if not artifacts:
        raise InputError(f"{out / 'report.json'} has no web artifacts",
                         hint="run `edgekit build --target web` first, or pass --out to that build's folder")
    return profile_folder(out, artifacts, cfg, progress=progress)
