"""A throwaway PostgreSQL server for tests: the Debian package's initdb/pg_ctl, on a free localhost port,
in a temporary data directory removed afterwards. PostgreSQL refuses to run as root, so as root the
server runs as the `postgres` user (runuser). `start()` returns None and a reason when it cannot run."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Optional


class Server:
    def __init__(self, base: Path, bindir: Path, prefix: list[str], port: int):
        self.base, self.bindir, self.prefix, self.port = base, bindir, prefix, port
        self.url = f"postgresql://edgekit@127.0.0.1:{port}/search"

    def stop(self) -> None:
        subprocess.run(self.prefix + [str(self.bindir / "pg_ctl"), "-D", str(self.base / "data"), "-m", "fast", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start() -> tuple[Optional[Server], str]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        return None, "PostgreSQL is not installed (Debian package postgresql; scripts/install.sh installs it)"
    bindir = Path(found[-1]).parent
    base = Path(tempfile.mkdtemp(prefix="edgekit-pg-"))
    os.chmod(base, 0o755)
    prefix: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            return None, "running as root and there is no postgres user to run the server as"
        os.chown(base, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    server = Server(base, bindir, prefix, port)
    steps = [
        [str(bindir / "initdb"), "-D", str(base / "data"), "-U", "edgekit", "-A", "trust", "--no-sync"],
        [str(bindir / "pg_ctl"), "-D", str(base / "data"), "-l", str(base / "server.log"), "-w", "-t", "60", "-o",
         f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c fsync=off", "start"],
        [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "edgekit", "search"],
    ]
    for command in steps:
        done = subprocess.run(prefix + command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
            server.stop()
            return None, f"{Path(command[0]).name} failed: {reason}"
    return server, ""
