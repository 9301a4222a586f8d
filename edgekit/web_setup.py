"""`edgekit setup web`: the web target's npm runtimes in a per-user cache, for an installed wheel.

A wheel carries edgekit's Node scripts and `package.json` + `package-lock.json` (TF.js, LiteRT.js,
playwright-core, pinned), not the 370 MB of `node_modules`. This command runs `npm ci` with that lock
into `<cache>/web-<lock digest>/` (cache: `$EDGEKIT_CACHE`, else `$XDG_CACHE_HOME/edgekit`, else
`~/.cache/edgekit`), with this edgekit's scripts in `scripts-<digest>/` inside it, so Node resolves
the packages from them (two edgekit versions sharing a lock keep their own scripts). It installs
into a temporary folder and renames it into place, so an interrupted install leaves nothing half-done.
Chromium is never downloaded (playwright's browser download is not used): it is found on the PATH or
at `$EDGEKIT_CHROMIUM`, and a missing one is reported with the command that installs it.
A source checkout needs none of this: `scripts/install.sh` runs `npm ci` in `edgekit/web/`.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgekit import node
from edgekit.errors import EnvironmentProblem

CARRIED = ("package.json", "package-lock.json")  # what npm ci needs
NPM_HINT = "install npm (e.g. `sudo apt-get install npm`), then re-run `edgekit setup web`"


def cache_root() -> Path:
    explicit = os.environ.get("EDGEKIT_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgekit"


def cache_dir() -> Path:
    """`<cache>/web-<first 12 hex of the lock's sha256>`: a new lock gets a new folder."""
    digest = hashlib.sha256((node.SCRIPTS / "package-lock.json").read_bytes()).hexdigest()[:12]
    return cache_root() / f"web-{digest}"


def _script_files() -> list[Path]:
    return sorted(p for p in node.SCRIPTS.iterdir() if p.is_file() and p.suffix in (".mjs", ".html"))


def scripts_folder(base: Path) -> Path:
    """`base/scripts-<digest of this edgekit's scripts>/`, written once (temporary folder renamed into place)."""
    digest = hashlib.sha256()
    for source in _script_files():
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    target = base / f"scripts-{digest.hexdigest()[:12]}"
    if target.is_dir():
        return target
    try:
        work = Path(tempfile.mkdtemp(dir=base, prefix=".scripts-"))
        for source in _script_files():
            shutil.copyfile(source, work / source.name)
        try:
            work.rename(target)
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
            if not target.is_dir():  # else another process put the same scripts there first
                raise
    except OSError as err:
        raise EnvironmentProblem(f"cannot write edgekit's web scripts into {base} ({err.strerror or err})",
                                 hint="make the cache writable, or point EDGEKIT_CACHE at a writable folder and run "
                                      "`edgekit setup web`") from None
    return target


def install(*, say=print) -> Path:
    """Install the runtimes into the cache (nothing to do when they are there); return the folder."""
    node.node_binary()  # Node >= 20, else exit 4 with the hint
    if not node.missing_packages(node.SCRIPTS):
        say(f"web runtimes: the source checkout's {node.SCRIPTS / 'node_modules'} (nothing to install)")
        return node.SCRIPTS
    target = cache_dir()
    if target.is_dir() and not node.missing_packages(target):
        scripts_folder(target)
        say(f"web runtimes: already installed in {target}")
        return target
    npm = shutil.which("npm")
    if not npm:
        raise EnvironmentProblem("npm is not installed (it installs the web target's pinned packages)", hint=NPM_HINT)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.installing-"))
    try:
        for name in CARRIED:
            shutil.copyfile(node.SCRIPTS / name, work / name)
        say(f"web runtimes: npm ci into {target} (TF.js, LiteRT.js, playwright-core; about 370 MB)")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=work,
                              capture_output=True, text=True)
        if done.returncode != 0:
            detail = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise EnvironmentProblem(f"npm ci failed (exit {done.returncode}): {detail}",
                                     hint="check access to the npm registry (or its proxy), then re-run "
                                          "`edgekit setup web`")
        missing = node.missing_packages(work)
        if missing:
            raise EnvironmentProblem(f"npm ci did not install {', '.join(missing)}", hint="re-run `edgekit setup web`")
        scripts_folder(work)
        if target.exists() and node.missing_packages(target):
            shutil.rmtree(target)  # a damaged earlier install
        try:
            work.rename(target)
        except OSError:
            if not (target.is_dir() and not node.missing_packages(target)):  # else another install won the race
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"web runtimes: installed in {target}")
    return target


def setup_web(*, say=print) -> int:
    """The CLI command: runtimes installed (or found), then Chromium found; exit 4 when Chromium is missing."""
    folder = install(say=say)
    try:
        chromium = node.chromium_binary()
    except EnvironmentProblem:
        raise EnvironmentProblem("Chromium is not installed (the web target's browser profiling drives it); "
                                 f"the npm runtimes are ready in {folder}", hint=node.CHROMIUM_HINT) from None
    say(f"Chromium: {chromium}")
    from edgekit.targets.web.served import nginx_binary

    nginx = nginx_binary()
    say(f"nginx: {nginx} (runtime downloads sized as it serves them)" if nginx else
        "nginx: not found — runtime download sizes will be computed (gzip -9 / brotli -11) rather than served; "
        "install it with `sudo apt-get install nginx-light libnginx-mod-http-brotli-filter`")
    return 0
