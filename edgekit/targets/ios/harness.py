"""`edgekit profile --target ios`: Core ML latency per compute-unit setting, measured on a Mac.

On macOS the harness (`coreml_harness.py`) runs in-process. Elsewhere Core ML cannot run, so
this writes the harness as a self-contained script beside the packages (`<out>/ios/
profile_coreml.py`, with the package list filled in) and exits with the environment code; the
JSON the script writes on a Mac is merged with `edgekit profile --target ios --merge FILE`.
"""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from edgekit.errors import ConfigError, EnvironmentProblem, InputError
from edgekit.report import load_report

SCRIPT = "profile_coreml.py"
UNITS = {"cpu_only": "CPU_ONLY", "cpu_and_gpu": "CPU_AND_GPU", "cpu_and_ne": "CPU_AND_NE", "all": "ALL"}


def run(config: Any, *, out: Path, args: Any, progress: Any) -> list[dict[str, Any]]:
    cfg = config.targets.ios
    if cfg is None:
        raise ConfigError("the config has no [targets.ios] section", hint="add [targets.ios] and build it first")
    artifacts = ios_artifacts(load_report(out / "report.json"))
    settings = {"runs": cfg.profile_runs, "warmup": cfg.profile_warmup, "compute_units": list(UNITS.values())}
    script = write_script(out / "ios" / SCRIPT, artifacts, settings)
    from edgekit.targets.ios.build import can_predict

    if not can_predict():
        raise EnvironmentProblem(
            f"Core ML latency needs macOS; wrote {script} — copy {out} to a Mac, run `python3 ios/{SCRIPT}` there "
            f"(needs coremltools), then: edgekit profile --target ios --merge ios_latency.json")
    from edgekit.targets.ios import coreml_harness

    return coreml_harness.measure_all(out, artifacts, runs=settings["runs"], warmup=settings["warmup"],
                                      units=settings["compute_units"], log=progress.say)


def ios_artifacts(report: dict[str, Any]) -> list[dict[str, Any]]:
    found = [{"path": a["path"], "inputs": a["coreml"].get("inputs") or [a["coreml"]["input"]]} for a in report["artifacts"]
             if a.get("target") == "ios" and a.get("coreml")]
    if not found:
        raise InputError("the report has no Core ML packages", hint="run `edgekit build --target ios` first")
    return found


def write_script(path: Path, artifacts: list[dict[str, Any]], settings: dict[str, Any]) -> Path:
    """The harness with the package list filled in, written atomically."""
    text = resources.files(__package__).joinpath("coreml_harness.py").read_text(encoding="utf-8")
    for name, value in (("ARTIFACTS: list = []", f"ARTIFACTS: list = {json.dumps(artifacts)}"),
                        ("SETTINGS: dict = ", None)):
        if value is None:
            start = text.index(name)
            end = text.index("\n", start)
            text = text[:start] + f"SETTINGS: dict = {json.dumps(settings)}" + text[end:]
        else:
            if name not in text:
                raise RuntimeError("coreml_harness.py lost its ARTIFACTS marker")
            text = text.replace(name, value, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".py.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    path.chmod(0o755)
    return path
