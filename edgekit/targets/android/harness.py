"""`edgekit profile --target android --device SERIAL`: LiteRT's benchmark_model on a phone over adb.

For each built artifact (the shipped precisions unless `[targets.android.device] precisions` says
otherwise) and each configured delegate: push the model and the benchmark_model binary to
`remote_dir`, run it (optionally pinned to cores with taskset) with its output redirected to a file
on the phone, pull that file, parse it (`benchmark_model.parse`) into a latency entry with
`where = "device"`, and pause `cooldown_s` between runs. The pulled outputs are kept under
`<out>/device/android/<serial>/`, written to a temporary folder first and moved into place whole.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from edgekit.config import AndroidDevice, Config
from edgekit.errors import ConfigError, EnvironmentProblem, InputError
from edgekit.targets.android.benchmark_model import BenchmarkOutputError, parse

RUNTIME = "litert-benchmark_model"
DELEGATE_FLAGS = {
    "cpu": ["--use_xnnpack=false"],  # the built-in reference/optimized kernels, no delegate
    "xnnpack": ["--use_xnnpack=true"],
    "gpu": ["--use_gpu=true"],
    "nnapi": ["--use_nnapi=true"],
}
NO_P90 = "benchmark_model prints mean/min/max/std (and median, p5, p95 in 2025+ builds), no p90"
NO_P50 = "this benchmark_model build prints no median, so p50 is null and latency budgets read the next most trusted entry"
INSTALL_ADB = "install Android platform-tools (e.g. `apt install adb`) or set targets.android.device.adb to its path"


class Adb:
    """Thin wrapper over the adb command for one device; every failure is a one-line EnvironmentProblem."""

    def __init__(self, exe: str, serial: Optional[str] = None):
        self.exe = exe
        self.serial = serial

    def _call(self, args: list[str], *, timeout: float = 120.0) -> subprocess.CompletedProcess:
        prefix = [self.exe] + (["-s", self.serial] if self.serial else [])
        try:
            return subprocess.run(prefix + args, capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError:
            raise EnvironmentProblem(f"adb not found: {self.exe!r}", hint=INSTALL_ADB) from None
        except subprocess.TimeoutExpired:
            raise EnvironmentProblem(f"adb {args[0]} did not finish within {timeout:.0f} s",
                                     hint="check the USB connection, or raise targets.android.device.timeout_s") from None

    def run(self, *args: str, timeout: float = 120.0) -> str:
        done = self._call(list(args), timeout=timeout)
        if done.returncode != 0:
            first = ((done.stderr or done.stdout).strip().splitlines() or ["no message"])[0][:200]
            raise EnvironmentProblem(f"adb {args[0]} failed on {self.serial or 'the device'}: {first}",
                                     hint="run `adb devices` and check the phone is connected and authorised")
        return done.stdout

    def shell_status(self, command: str, *, timeout: float) -> int:
        """Run a shell command on the phone; its exit status (adb passes it through)."""
        return self._call(["shell", command], timeout=timeout).returncode


def resolve_adb(exe: str) -> str:
    found = shutil.which(exe)
    if found is None:
        raise EnvironmentProblem(f"adb not found: {exe!r}", hint=INSTALL_ADB)
    return found


def pick_device(adb_exe: str, serial: Optional[str]) -> str:
    """The serial to use: the one asked for (it must be listed as 'device'), or the only one connected."""
    listing = Adb(adb_exe).run("devices")
    states = {}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(("*", "List of devices")):  # "* daemon started successfully"
            states[parts[0]] = parts[1]
    ready = [s for s, state in states.items() if state == "device"]
    if serial is not None:
        state = states.get(serial)
        if state == "device":
            return serial
        if state == "unauthorized":
            raise EnvironmentProblem(f"device {serial} is unauthorised",
                                     hint="unlock the phone and accept the 'Allow USB debugging' prompt")
        if state is not None:
            raise EnvironmentProblem(f"device {serial} is {state}", hint="reconnect it; `adb devices` must show 'device'")
        listed = ", ".join(f"{s} ({st})" for s, st in states.items()) or "none"
        raise EnvironmentProblem(f"device {serial} not found (adb devices lists: {listed})",
                                 hint="pass a serial from `adb devices` with --device")
    if not ready:
        raise EnvironmentProblem("no Android device connected",
                                 hint="connect a phone with USB debugging on and check `adb devices` lists it as 'device'")
    if len(ready) > 1:
        raise ConfigError(f"several devices connected ({', '.join(ready)})", hint="choose one with --device SERIAL")
    return ready[0]


def benchmark_command(device: AndroidDevice, *, binary: str, model: str, delegate: str, output: str) -> str:
    """The shell command run on the phone: benchmark_model with the configured options, output to a file.

    benchmark_model applies --max_secs to the warm-up and to the timed runs separately, so each gets
    half of timeout_s: the whole run then fits in the adb call's timeout (timeout_s + 60 s for init)."""
    parts = ["taskset", device.pin_cores] if device.pin_cores else []
    parts += [binary, f"--graph={model}", f"--num_threads={device.threads}",
              f"--warmup_runs={device.warmup_runs}", "--warmup_min_secs=0",
              f"--num_runs={device.runs}", "--min_secs=0", f"--max_secs={device.timeout_s / 2:g}"]
    parts += DELEGATE_FLAGS[delegate]
    if device.op_profiling:
        parts.append("--enable_op_profiling=true")
    if device.peak_memory:
        parts.append("--report_peak_memory_footprint=true")
    return " ".join(shlex.quote(p) for p in parts) + f" > {shlex.quote(output)} 2>&1"


def latency_entry(parsed: dict[str, Any], *, device: AndroidDevice, delegate: str, name: str,
                  android_api: Optional[int] = None) -> dict[str, Any]:
    notes = [NO_P90] + ([NO_P50] if parsed.get("p50_ms") is None else [])
    if delegate == "nnapi" and android_api is not None and android_api >= _nnapi_deprecated_from():
        notes.append(f"NNAPI is deprecated from Android 15 (API 35); this phone runs API {android_api}")
    entry = {
        "where": "device",
        "runtime": RUNTIME,
        "delegate": delegate,
        "threads": device.threads,
        "device": name,
        "android_api": android_api,
        "p50_ms": parsed.get("p50_ms"),
        "p90_ms": None,
        **{k: parsed.get(k) for k in ("p5_ms", "p95_ms", "mean_ms", "min_ms", "max_ms", "std_ms", "init_ms",
                                      "first_inference_ms", "warmup_avg_ms", "peak_memory_mb")},
        "warmup": device.warmup_runs,
        "runs": parsed.get("runs") or device.runs,
        "pinned_cores": device.pin_cores,
        "delegation": parsed.get("delegation", []),
        "ops": parsed.get("ops", []),
        "note": "; ".join(notes),
    }
    return entry


def _nnapi_deprecated_from() -> int:
    from edgekit.targets.android.delegates import load_rules

    return int(load_rules()["nnapi"]["deprecated_from_api"])


def failed_entry(reason: str, *, device: AndroidDevice, delegate: str, name: str) -> dict[str, Any]:
    return {"where": "device", "runtime": RUNTIME, "delegate": delegate, "threads": device.threads, "device": name,
            "p50_ms": None, "p90_ms": None, "runs": 0, "status": "failed", "note": reason}


def _entry(text: str, status: int, *, device: AndroidDevice, delegate: str, name: str,
           android_api: Optional[int]) -> dict[str, Any]:
    """The run's latency entry; failed when benchmark_model exited non-zero or printed no timings.

    A failed Invoke still prints the timing lines before "Benchmarking failed." and exit status 1,
    so timings alone do not make a run good."""
    try:
        parsed = parse(text)
    except BenchmarkOutputError as err:
        return failed_entry(f"{err} (exit status {status})", device=device, delegate=delegate, name=name)
    if status != 0 or "Benchmarking failed" in text:
        reason = next((line.strip() for line in text.splitlines() if "ERROR" in line), "Benchmarking failed")
        return failed_entry(f"benchmark_model failed (exit status {status}): {reason[:200]}", device=device,
                            delegate=delegate, name=name)
    return latency_entry(parsed, device=device, delegate=delegate, name=name, android_api=android_api)


def _artifacts(config: Config, out: Path) -> list[dict[str, Any]]:
    from edgekit.report import load_report

    android = config.targets.android
    report = load_report(out / "report.json")
    wanted = android.device.precisions or android.shipped()
    chosen = [a for a in report["artifacts"] if a.get("target") == "android" and a.get("precision") in wanted]
    if not chosen:
        raise InputError(f"{out / 'report.json'} has no android artifacts for precisions {wanted}",
                         hint="run `edgekit build --target android` first")
    for artifact in chosen:
        if not (out / artifact["path"]).is_file():
            raise InputError(f"artifact missing: {out / artifact['path']}", hint="re-run `edgekit build --target android`")
    return chosen


def run(config: Config, *, out: Path, args: argparse.Namespace, progress: Any) -> list[dict[str, Any]]:
    android = config.targets.android
    if android is None:
        raise ConfigError("no [targets.android] in the config", hint="add [targets.android] and build it first")
    device = android.device
    if device.benchmark_model is None:
        raise ConfigError("targets.android.device.benchmark_model is not set",
                          hint="download android_aarch64_benchmark_model (see docs/android-device.md) and set its path")
    if not device.benchmark_model.is_file():
        raise InputError(f"benchmark_model binary not found: {device.benchmark_model}",
                         hint="see docs/android-device.md for where to get one")
    artifacts = _artifacts(config, out)
    adb_exe = resolve_adb(device.adb)
    serial = pick_device(adb_exe, getattr(args, "device", None))
    adb = Adb(adb_exe, serial)
    model = adb.run("shell", "getprop", "ro.product.model").strip() or "unknown model"
    api_text = adb.run("shell", "getprop", "ro.build.version.sdk").strip()
    api = int(api_text) if api_text.isdigit() else None
    name = f"{model} ({serial})"
    remote_binary = f"{device.remote_dir}/benchmark_model"
    if adb.shell_status(f"test -e {shlex.quote(device.remote_dir)}", timeout=60) == 0:
        raise ConfigError(f"{device.remote_dir} already exists on {name}; edgekit deletes its folder after each run",
                          hint="set targets.android.device.remote_dir to a new folder name, "
                               f"or remove it: adb -s {serial} shell rm -r {device.remote_dir}")
    raw = Path(tempfile.mkdtemp(prefix=".device-", dir=out))
    results = []
    try:
        adb.run("shell", "mkdir", "-p", device.remote_dir)
        adb.run("push", str(device.benchmark_model), remote_binary)
        adb.run("shell", "chmod", "755", remote_binary)
        first = True
        for artifact in artifacts:
            remote_model = f"{device.remote_dir}/{Path(artifact['path']).name}"
            adb.run("push", str(out / artifact["path"]), remote_model)
            entries = []
            for delegate in device.delegates:
                if not first and device.cooldown_s:
                    time.sleep(device.cooldown_s)
                first = False
                stem = f"{Path(artifact['path']).stem}.{delegate}"
                remote_out = f"{device.remote_dir}/{stem}.txt"
                with progress.stage(f"android {artifact['precision']}: {delegate} on {name} ({device.runs} runs)"):
                    command = benchmark_command(device, binary=remote_binary, model=remote_model,
                                                delegate=delegate, output=remote_out)
                    status = adb.shell_status(command, timeout=device.timeout_s + 60)
                    local = raw / f"{stem}.txt"
                    adb.run("pull", remote_out, str(local))
                    text = local.read_text(encoding="utf-8", errors="replace")
                entries.append(_entry(text, status, device=device, delegate=delegate, name=name, android_api=api))
            results.append({"path": artifact["path"], "latency": entries,
                            "extra": {"android_device": {"serial": serial, "model": model, "android_api": api,
                                                         "raw_outputs": f"device/android/{serial}"}}})
        _move_into_place(raw, out / "device" / "android" / serial)
    finally:
        if raw.exists():
            shutil.rmtree(raw, ignore_errors=True)
        try:
            adb.shell_status(f"rm -rf {shlex.quote(device.remote_dir)}", timeout=60)
        except EnvironmentProblem:
            pass  # the phone went away; nothing of ours is left on this machine
    return results


def _move_into_place(folder: Path, target: Path) -> None:
    """Replace `target` with `folder` whole (the previous outputs stay until the new ones are complete)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(folder, target)
    if old.exists():
        shutil.rmtree(old)
