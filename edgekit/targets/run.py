"""One target's failure is recorded, not fatal; a build of some targets keeps the others' artifacts.

- `preflight` finds a target's missing tools (Node, Chromium, coremltools, LiteRT) before the model
  is loaded or anything trains.
- `build_isolated` runs one target's build: on an error its half-written folder is removed and the
  failure (one-line reason, exit code) is recorded; the other targets go on.
- `keep_previous` carries the artifacts and report entries of targets this build does not rebuild
  from the build already in `--out` — only when that build came from the same model file, data
  settings, recipe and seed (its `fingerprint`); otherwise they are dropped with a note.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

from edgekit.errors import ConversionError, EdgekitError, EnvironmentProblem

from edgekit.targets import registry

ORDER = registry.NAMES


def preflight(name: str, config: Any) -> Optional[EdgekitError]:
    """The environment problem that would stop target `name`, found before any heavy work (or None)."""
    target = registry.get(name)
    try:
        check = target.preflight()
        if check is not None:
            check(config)
        module, package = target.package
        if importlib.util.find_spec(module) is None:
            raise EnvironmentProblem(f"the {name} target needs the Python package {package}, which is not installed",
                                     hint="run `make install` (bash scripts/install.sh)")
    except EdgekitError as err:
        return err
    return None


def build_isolated(name: str, stage: Path, build: Callable[[], list[dict[str, Any]]],
                   progress: Any) -> tuple[list[dict[str, Any]], dict[str, Any], Optional[EdgekitError]]:
    """(artifacts, status, error) of one target; a failure leaves no files of it in the stage."""
    try:
        return build(), {"status": "built"}, None
    except (KeyboardInterrupt, SystemExit):
        raise
    except EdgekitError as err:
        error = err
    except Exception as err:  # noqa: BLE001 - one target's crash must not lose the others' work
        if os.environ.get("EDGEKIT_DEBUG"):
            traceback.print_exc()
        first = (str(err).strip().splitlines() or [""])[0][:300]
        error = ConversionError(f"internal error in the {name} target: {type(err).__name__}: {first}",
                                hint="set EDGEKIT_DEBUG=1 for a traceback")
    shutil.rmtree(stage / name, ignore_errors=True)
    from rich.markup import escape

    progress.say(f"[red]✗ {name} failed:[/] {escape(error.one_line())}")
    return [], failed_status(error), error


def worst(errors: list[EdgekitError]) -> EdgekitError:
    """The failure whose exit code is highest (internal > environment > model > input)."""
    return max(errors, key=lambda err: err.exit_code)


def failed_status(err: EdgekitError) -> dict[str, Any]:
    return {"status": "failed", "reason": err.one_line(), "exit_code": err.exit_code, "error": type(err).__name__}


def fingerprint(config: Any, model_digest: str) -> str:
    """What every target's artifacts depend on: edgekit's version, model file, data, recipe, seed."""
    from edgekit import __version__

    digest = hashlib.sha256(f"{__version__}:{model_digest}".encode())
    digest.update(json.dumps(config.dataset.model_dump(mode="json"), sort_keys=True).encode())
    digest.update(json.dumps([step.model_dump(mode="json") for step in config.recipe], sort_keys=True).encode())
    digest.update(str(config.build.seed).encode())
    return digest.hexdigest()[:32]


def settings_digest(config: Any, name: str) -> str:
    """What one target's artifacts depend on in its own section (budgets and the web runtime objective aside:
    they only re-read measurements)."""
    settings = getattr(config.targets, name).model_dump(mode="json", exclude={"budgets", "objective", "network"})
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def keep_previous(out: Path, stage: Path, rebuilt: list[str], config: Any, print_: str
                  ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], list[str]]:
    """(artifacts, statuses, notes) of the previous build's other targets, their folders copied into `stage`.

    A target is kept only when it was built (not failed), from the same model, data, recipe, seed
    and edgekit version (`fingerprint`), with the same target settings, and its folder is still there."""
    from edgekit.budgets import evaluate

    path = out / "report.json"
    if not path.is_file():
        return [], {}, []
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
        others = [t for t in previous["targets"] if t not in rebuilt and t in ORDER]
        statuses = {name: dict(previous.get("target_status", {}).get(name) or {}) for name in others}
        kept_artifacts = {name: [a for a in previous["artifacts"] if a["target"] == name] for name in others}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return [], {}, [f"previous targets dropped: the report in {out} is unreadable"]
    if not others:
        return [], {}, []
    if previous.get("fingerprint") != print_:
        return [], {}, [f"previous {', '.join(others)} artifacts dropped: built from another model file, data settings, "
                        "recipe, seed or edgekit version"]
    artifacts, kept, notes = [], {}, []
    for name in others:
        status = statuses[name]
        why = _not_keepable(name, status, config, out)
        if why:
            notes.append(f"previous {name} artifacts dropped: {why}")
            continue
        shutil.copytree(out / name, stage / name, symlinks=True)
        settings = getattr(config.targets, name)
        for artifact in kept_artifacts[name]:
            if artifact.get("status") != "failed" and artifact.get("shipped", True):
                artifact["budgets"] = evaluate(artifact, settings.budgets)
        artifacts += kept_artifacts[name]
        kept[name] = {**status, "kept_from": status.get("kept_from") or previous.get("created")}
        notes.append(f"target {name} kept from the build of {kept[name]['kept_from']} (same model and settings); "
                     "its budgets re-applied")
    return artifacts, kept, notes


def _not_keepable(name: str, status: dict[str, Any], config: Any, out: Path) -> Optional[str]:
    if getattr(config.targets, name, None) is None:
        return f"the config has no [targets.{name}] any more"
    if status.get("status") != "built":
        return "it had failed in that build"
    if status.get("settings") != settings_digest(config, name):
        return f"[targets.{name}] settings changed since"
    if not (out / name).is_dir():
        return f"its folder {out / name} is gone"
    return None


def in_order(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Artifacts grouped by target in the usual order (android, ios, web), each target's order kept."""
    return sorted(artifacts, key=lambda a: ORDER.index(a["target"]) if a.get("target") in ORDER else len(ORDER))
