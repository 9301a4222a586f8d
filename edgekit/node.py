"""Node.js and Chromium for the web target: where they are, and running edgekit's .mjs scripts.

The pinned npm packages (`edgekit/web/package.json` and its lock) live in a *runtime folder* beside
edgekit's `.mjs` scripts, where Node resolves them: in a source checkout that is `edgekit/web/` itself
(`scripts/install.sh` runs `npm ci` there); an installed wheel has no `node_modules`, and
`edgekit setup web` installs them into a per-user cache (`edgekit.web_setup`), keyed by the lock
file's digest, with copies of the scripts. Nothing here downloads anything: a missing tool is an
`EnvironmentProblem` (exit 4) naming the command that installs it.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from edgekit.errors import ConversionError, EnvironmentProblem

SCRIPTS = Path(__file__).resolve().parent / "web"  # the .mjs/.html sources and package.json + lock
INSTALL_HINT = ("run `edgekit setup web` (installs the pinned npm packages; needs Node.js >= 20, npm and Chromium, "
                "e.g. `sudo apt-get install nodejs npm chromium`)")
REQUIRED = ("@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm", "@litertjs/core", "playwright-core")
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
CHROMIUM_HINT = ("install Chromium (e.g. `sudo apt-get install chromium`; edgekit never downloads a browser) or set "
                 "EDGEKIT_CHROMIUM=/path/to/chromium; or set profile_browser = false in [targets.web]")
TIMEOUT_HINT = ("raise [targets.web] node_stall_s for a very large model, or lower parity_samples / runs; "
                "EDGEKIT_DEBUG=1 shows Node's output")
NODE_MAJOR = 20  # playwright-core 1.65 needs Node >= 20 (Debian 12's nodejs is 18)


@functools.lru_cache(maxsize=None)
def node_binary() -> str:
    found = shutil.which("node")
    if not found:
        raise EnvironmentProblem("Node.js is not installed (the web target runs TF.js in Node)", hint=INSTALL_HINT)
    try:
        version = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        major = int(version.lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        raise EnvironmentProblem(f"{found} --version did not print a Node.js version", hint=INSTALL_HINT) from None
    if major < NODE_MAJOR:
        raise EnvironmentProblem(f"Node.js {version} at {found} is too old: the web target needs Node >= {NODE_MAJOR}",
                                 hint="install Node.js 20 or newer (Debian 13's nodejs, or NodeSource on Debian 12)")
    return found


def missing_packages(folder: Path) -> list[str]:
    """The required npm packages not installed under `folder`/node_modules."""
    return [name for name in REQUIRED if not (folder / "node_modules" / name / "package.json").is_file()]


def _runtime() -> tuple[Path, Path]:
    """(folder the .mjs scripts run from, the node_modules Node resolves them against)."""
    if not missing_packages(SCRIPTS):
        return SCRIPTS, SCRIPTS / "node_modules"  # a source checkout after scripts/install.sh
    from edgekit import web_setup

    cached = web_setup.cache_dir()
    if cached.is_dir() and not missing_packages(cached):
        # scripts in a subfolder named by their digest: Node finds ../node_modules, and two edgekit
        # versions sharing one lock never overwrite each other's scripts
        return web_setup.scripts_folder(cached), cached / "node_modules"
    raise EnvironmentProblem(f"the web target's npm packages are not installed (looked in {SCRIPTS} and {cached})",
                             hint=INSTALL_HINT)


def runtime_dir() -> Path:
    """The folder edgekit's .mjs/.html scripts run from (Node resolves the npm packages from there)."""
    return _runtime()[0]


def node_modules() -> Path:
    """The folder holding the pinned npm packages; every required package is there."""
    return _runtime()[1]


def chromium_binary() -> str:
    override = os.environ.get("EDGEKIT_CHROMIUM")
    if override:
        if not Path(override).is_file():
            raise EnvironmentProblem(f"EDGEKIT_CHROMIUM={override} does not exist", hint=CHROMIUM_HINT)
        return override
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise EnvironmentProblem("Chromium is not installed (browser profiling drives headless Chromium)",
                             hint=CHROMIUM_HINT)


def run_script(name: str, spec: dict[str, Any], *, workdir: Path, timeout: float, stall: Optional[float] = None,
               on_progress: Optional[Callable[[str], None]] = None) -> dict[str, Any]:
    """Run `edgekit/web/<name>` with a JSON spec file; return the JSON line it prints.

    The script may print `progress ...` lines on stderr: each goes to `on_progress`, and `stall`
    bounds the time between two of them (so a big model may take long, but a stuck one is stopped).
    A script that reports `{"error": ..., "environment": true}` (e.g. Chromium cannot start) raises
    EnvironmentProblem (exit 4); any other error, a crash or a timeout is a ConversionError (exit 5)."""
    node = node_binary()
    runtime, modules = _runtime()
    spec_path = workdir / f"{Path(name).stem}.spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    try:
        returncode, stdout, stderr = _communicate([node, str(runtime / name), str(spec_path)], timeout=timeout,
                                                  stall=stall, on_progress=on_progress, cwd=runtime,
                                                  modules=modules)
    except _Stalled as err:
        raise ConversionError(f"{name} made no progress for {err.seconds:.0f} s", hint=TIMEOUT_HINT) from None
    except subprocess.TimeoutExpired:
        raise ConversionError(f"{name} did not finish within {timeout:.0f} s", hint=TIMEOUT_HINT) from None
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        result = None
    if not isinstance(result, dict):
        detail = (stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise ConversionError(f"{name} failed (exit {returncode}): {detail}",
                              hint="set EDGEKIT_DEBUG=1 and re-run to see Node's output")
    if "error" in result:
        message = f"{name}: {str(result['error'])[:300]}"
        if result.get("environment"):
            raise EnvironmentProblem(message, hint=INSTALL_HINT)
        raise ConversionError(message, hint="check the web artifacts and the npm install")
    return result


class _Stalled(Exception):
    def __init__(self, seconds: float):
        super().__init__(seconds)
        self.seconds = seconds


def _communicate(command: list[str], *, timeout: float, cwd: Path, modules: Path, stall: Optional[float] = None,
                 on_progress: Optional[Callable[[str], None]] = None) -> tuple[int, str, str]:
    """Run Node, reading its output as it comes. On a timeout, a stall or Ctrl-C, SIGTERM first so
    playwright closes Chromium and deletes its temporary profile (a SIGKILL leaves
    /tmp/playwright_chromiumdev_profile-* behind), then SIGKILL."""
    env = {**os.environ, "EDGEKIT_NODE_MODULES": str(modules)}  # for scripts outside the folder
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    out: list[str] = []
    err: list[str] = []
    last = [time.monotonic()]

    def read_err() -> None:
        for line in process.stderr:  # type: ignore[union-attr]
            if line.startswith("progress "):
                last[0] = time.monotonic()
                if on_progress is not None:
                    on_progress(line[len("progress "):].strip())
            else:
                err.append(line)

    readers = [threading.Thread(target=lambda: out.extend(process.stdout), daemon=True),  # type: ignore[arg-type]
               threading.Thread(target=read_err, daemon=True)]
    for reader in readers:
        reader.start()
    started = time.monotonic()
    try:
        while process.poll() is None:
            now = time.monotonic()
            if now - started > timeout:
                raise subprocess.TimeoutExpired(command, timeout)
            if stall is not None and now - last[0] > stall:
                raise _Stalled(stall)
            time.sleep(0.2)
    except BaseException:
        stop(process, grace=15)
        raise
    for reader in readers:
        reader.join(timeout=10)
    return process.returncode, "".join(out), "".join(err)


def stop(process: subprocess.Popen, *, grace: float) -> None:
    """Terminate `process`, then kill it if it has not exited within `grace` seconds."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
