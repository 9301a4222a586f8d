"""`edgekit check`: re-evaluate budgets on an existing report, without TensorFlow.

Without a budgets file, each artifact's recorded limits are re-applied to its recorded
measurements (so an edited or stale `passed` is caught). With a budgets file, its limits replace
the recorded ones for the shipped artifacts of each target it names.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edgekit.budgets import evaluate
from edgekit.config import Budgets, describe_error
from edgekit.errors import ConfigError, InputError
from edgekit.report import load_report, report_passed
from edgekit.targets import registry


def check_report(path: Path, *, budgets_file: Path | None = None) -> dict[str, Any]:
    overrides = load_budgets_file(budgets_file) if budgets_file else {}
    return apply_budgets(load_report(path), overrides, source=str(path))


def apply_budgets(report: dict[str, Any], overrides: dict[str, Budgets], *, source: str) -> dict[str, Any]:
    """Re-evaluate `report` in place: `overrides` for their targets' shipped artifacts, recorded limits elsewhere."""
    for artifact in report["artifacts"]:
        target = artifact.get("target")
        if target in overrides and _absolute(overrides[target]):
            if artifact.get("shipped", True):
                artifact["budgets"] = evaluate(artifact, overrides[target])
        elif artifact.get("budgets"):
            artifact["budgets"] = evaluate(artifact, _recorded_budgets(artifact, source))
    report["passed"] = report_passed(report)
    from edgekit.targets import registry

    report.update(registry.report_fields({a.get("target") for a in report["artifacts"]}, report["artifacts"],
                                         (report.get("config") or {}).get("targets") or {}))
    return report


def _absolute(budgets: Budgets) -> bool:
    """Whether a budgets table sets any absolute limit (one with only budgets of change keeps the recorded ones)."""
    from edgekit.diff import CHANGE_BUDGETS

    return bool(budgets.model_fields_set - set(CHANGE_BUDGETS))


def _recorded_budgets(artifact: dict[str, Any], path: Any) -> Budgets:
    try:
        return Budgets(**{b["name"]: b["limit"] for b in artifact["budgets"]})
    except (KeyError, TypeError, ValidationError) as err:
        raise InputError(f"{path}: artifact {artifact.get('path', '?')} has a malformed budgets entry "
                         f"({type(err).__name__})", hint="re-run edgekit build to rewrite the report") from None


def load_budgets_file(path: Path) -> dict[str, Budgets]:
    """`[android] max_size = "300 KB"` per target, or a whole edgekit.toml ([targets.X.budgets])."""
    if not path.is_file():
        raise InputError(f"budgets file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    if "targets" in raw:
        raw = {name: table.get("budgets", {}) for name, table in raw["targets"].items() if isinstance(table, dict)}
    return parse_budgets(raw, source=str(path))


def parse_budgets(raw: Any, *, source: str) -> dict[str, Budgets]:
    """{"android": {"max_size": "300 KB"}, …} as validated budgets per target, or a one-line ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: budgets must be a table per target, e.g. [android] max_size = \"300 KB\"")
    result = {}
    for target, table in raw.items():
        if target not in registry.NAMES or not isinstance(table, dict):
            raise ConfigError(f"{source}: [{target}] is not a target",
                              hint=f'use one of {", ".join(f"[{n}]" for n in registry.NAMES)}, e.g. [android] max_size = "300 KB"')
        try:
            result[target] = Budgets.model_validate(table)
        except ValidationError as err:
            error = err.errors()[0]
            error["loc"] = ("targets", target, "budgets", *error["loc"])
            raise ConfigError(f"{source}: {describe_error(error)}") from None
    return result


def compare_reports(report: dict[str, Any], source: Path, baseline_path: Path | None, *,
                    budgets_file: Path | None = None, report_url: str | None = None) -> dict[str, Any]:
    """The `edgekit.check/v1` document of `report` against the baseline report (or alone)."""
    from edgekit.diff import compare

    baseline = load_report(baseline_path) if baseline_path is not None else None
    overrides = load_budgets_file(budgets_file) if budgets_file else {}
    return compare(report, baseline, overrides=overrides, source=str(source),
                   baseline_source=None if baseline_path is None else str(baseline_path), report_url=report_url)


def verify_artifacts(report: dict[str, Any], folder: Path) -> None:
    """Recompute each artifact's sha256 under `folder`; a mismatch or a missing file fails the gate."""
    from edgekit.provenance import artifact_digest

    for artifact in report["artifacts"]:
        recorded = artifact.get("sha256")
        if artifact.get("status") == "failed":
            continue
        if not recorded:
            raise InputError(f"artifact {artifact.get('path')} has no recorded sha256 (report written by edgekit "
                             f"{report.get('edgekit_version')})", hint="rebuild with this edgekit, or drop --verify")
        path = (folder / str(artifact.get("path"))).resolve()
        if not path.is_relative_to(folder.resolve()):
            raise InputError(f"artifact path {artifact.get('path')!r} points outside {folder}",
                             hint="--verify checks the files under the report's folder only")
        actual = artifact_digest(path, artifact)
        entry = {"name": "sha256", "status": "passed" if actual == recorded else "failed", "recorded": recorded,
                 "actual": actual}
        if actual != recorded:
            entry["note"] = entry["detail"] = ("files missing or not regular files" if actual is None
                                               else "the files changed after the build")
        artifact["checks"] = [c for c in artifact.get("checks") or [] if c.get("name") != "sha256"] + [entry]
    report["passed"] = report_passed(report)
