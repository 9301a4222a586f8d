"""The runtime download as a real static server sends it: nginx with gzip and brotli on, asked over HTTP.

The browser benchmark records which runtime files (JS, wasm) each page fetched. Their download size
depends on the server, so edgekit starts nginx (Debian's `nginx-light` with the ngx_brotli filter
module, as many production hosts run it) on 127.0.0.1, serving only those files, with on-the-fly
compression at common production levels (gzip 6, brotli 6), and asks for each file three times with
`Accept-Encoding: br`, `gzip` and `identity`, counting the body bytes that came back. Where nginx (or
its brotli module) is missing, the sizes are computed instead (gzip -9, brotli -11 of the files, i.e.
what a host serving precompressed files sends) and `runtime_bytes_source` says so.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Optional

from edgekit.node import stop

LEVELS = {"gzip": 6, "brotli": 6}
COMPRESSED_TYPES = "application/wasm text/javascript application/javascript application/json"
START_TIMEOUT_S = 10.0
MAX_FILES = 200
_SAFE_PATH = re.compile(r"^[A-Za-z0-9/._+-]+$")  # what the generated nginx.conf may contain
_CACHE: dict[tuple[str, int, int], tuple[int, int, int]] = {}  # (file, size, mtime) -> identity, gzip, br


def nginx_binary() -> Optional[str]:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def _modules_path(binary: str) -> Optional[Path]:
    done = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10)
    found = re.search(r"--modules-path=(\S+)", done.stderr + done.stdout)
    return Path(found.group(1)) if found else None


def _version(binary: str) -> str:
    done = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    found = re.search(r"nginx/(\S+)", done.stderr + done.stdout)
    return found.group(1) if found else "?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(work: Path, port: int, brotli_module: Path) -> str:
    temp = " ".join(f"{kind}_temp_path {work}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return "\n".join([
        f"load_module {brotli_module};",
        "daemon off; master_process off; worker_processes 1;",
        f"error_log {work}/error.log warn; pid {work}/nginx.pid;",
        "events { worker_connections 64; }",
        "http {",
        f"  access_log off; {temp}",
        "  types { application/wasm wasm; text/javascript js mjs; application/json json; }",
        "  default_type application/octet-stream;",
        f"  gzip on; gzip_comp_level {LEVELS['gzip']}; gzip_min_length 256; gzip_types {COMPRESSED_TYPES};",
        f"  brotli on; brotli_comp_level {LEVELS['brotli']}; brotli_types {COMPRESSED_TYPES};",
        f"  server {{ listen 127.0.0.1:{port}; root {work}/www; location / {{ try_files $uri =404; }} }}",
        "}", ""])


@contextlib.contextmanager
def _nginx(files: dict[str, Path]) -> Iterator[str]:
    """nginx serving `files` (URL path -> local file, hard-linked or copied into a private folder);
    yields its base URL. Raises OSError/RuntimeError when it cannot start."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx not found")
    modules = _modules_path(binary)
    module = modules / "ngx_http_brotli_filter_module.so" if modules else None
    if module is None or not module.is_file() or not _SAFE_PATH.match(str(module)):
        raise RuntimeError("nginx has no brotli module (Debian: libnginx-mod-http-brotli-filter)")
    with tempfile.TemporaryDirectory(prefix="edgekit-nginx-") as temp:
        work = Path(temp)
        if not _SAFE_PATH.match(str(work)):
            raise RuntimeError(f"the temporary folder {work} has characters nginx.conf cannot take")
        for url, local in files.items():
            target = work / "www" / url.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(local, target)
            except OSError:
                shutil.copyfile(local, target)
        for _ in range(3):  # a port another process took between choosing and binding: try another
            port = _free_port()
            (work / "nginx.conf").write_text(_config(work, port, module))
            process = subprocess.Popen([binary, "-e", str(work / "error.log"), "-c", str(work / "nginx.conf"),
                                        "-p", str(work)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                if _wait_listening(port, process):
                    yield f"http://127.0.0.1:{port}"
                    return
            finally:
                stop(process, grace=10)
        log = work / "error.log"
        raise RuntimeError("nginx did not start" + (f": {log.read_text(errors='replace')[-300:]}" if log.exists() else ""))


def _wait_listening(port: int, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return process.poll() is None  # our nginx, not another process that took the port
        time.sleep(0.05)
    return False


def _fetch(url: str, encoding: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": encoding})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our own 127.0.0.1 server
        body = response.read()  # urllib does not decode: these are the bytes on the wire
        return len(body), response.headers.get("Content-Encoding", "identity")


def served_sizes(files: dict[str, Path]) -> tuple[dict[str, tuple[int, int, int]], str]:
    """Per URL path: (identity, gzip, brotli) body bytes as nginx sends them, and a description of the
    server. Raises RuntimeError/OSError when nginx is missing or fails (callers fall back to computing)."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx not found (Debian: nginx-light and libnginx-mod-http-brotli-filter)")
    keys = {url: (str(p), p.stat().st_size, p.stat().st_mtime_ns) for url, p in list(files.items())[:MAX_FILES]}
    missing = {url: files[url] for url, key in keys.items() if key not in _CACHE}
    if missing:
        with _nginx(missing) as base:
            for url in missing:
                sizes = [_fetch(base + urllib.request.pathname2url(url), encoding) for encoding in ("identity", "gzip", "br")]
                for (_, used), wanted in zip(sizes[1:], ("gzip", "br")):
                    if used != wanted and sizes[0][0] > 1024:
                        raise RuntimeError(f"nginx did not compress {url} with {wanted} (answered {used})")
                _CACHE[keys[url]] = (sizes[0][0], sizes[1][0], sizes[2][0])
    return ({url: _CACHE[key] for url, key in keys.items()},
            f"nginx {_version(binary)}, compressing on the fly (gzip {LEVELS['gzip']}, brotli {LEVELS['brotli']})")
