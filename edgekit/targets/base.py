"""The Target interface: what a platform folder under `edgekit/targets/` provides.

A target is one folder, `edgekit/targets/<name>/`, declared in its `__init__.py` as `TARGET = Target(...)`
and listed once in `registry.py`. The folder holds, by fixed module names:

- `settings.py`   the `[targets.<name>]` settings class (pydantic, strict, with a `budgets` field);
                  optional `check_recipe(steps)` and `resolve_paths(absolute)` methods
- `defaults.toml` its defaults, merged under the user's section
- `build.py`      `build(ctx, settings) -> list[artifact dict]`: convert → validate → measure → host
                  profile; optional `preflight(config)` raising the environment problem that stops it
- `harness.py`    `run(config, *, out, args, progress)` for `edgekit profile --target <name>`
- `report.py`     `section(report) -> list[str]` (report.md lines) with `PLACE` ("runtimes": before the
                  budget table, "details": after the latency table); optional `report_fields(artifacts, settings)`
                  (report-level fields, e.g. the web runtime recommendation) and `ship_note(report)`
                  (what the HTML "What to ship" adds to the platform's line)

Everything else (converters, LiteRT, parity, sizes) is shared and lives outside the folder.
Only `__init__.py` and `settings.py` are imported when edgekit starts; the rest on first use.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import import_module, resources
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class Target:
    name: str
    settings: type
    package: tuple[str, str]  # (import name, pip name) of the Python package its converter needs
    only_budgets: tuple[str, ...] = ()  # budgets no other target can measure
    colour: str = "#000000"  # its points in the report's plots

    def part(self, module: str) -> Any:
        return import_module(f"edgekit.targets.{self.name}.{module}")

    def defaults(self) -> dict[str, Any]:
        folder = resources.files(f"edgekit.targets.{self.name}")
        return tomllib.loads(folder.joinpath("defaults.toml").read_text(encoding="utf-8"))

    def build(self, ctx: Any, config: Any) -> list[dict[str, Any]]:
        return self.part("build").build(ctx, getattr(config.targets, self.name))

    def preflight(self) -> Optional[Callable[[Any], None]]:
        """The target's own environment check (its tools, beyond the Python package), if it has one."""
        return getattr(self.part("build"), "preflight", None)

    def profiler(self) -> Any:
        return self.part("harness")

    def report_section(self, report: dict[str, Any], place: str) -> list[str]:
        module = self.part("report")
        return module.section(report) if getattr(module, "PLACE", "details") == place else []

    def report_fields(self, artifacts: list[dict[str, Any]], settings: Optional[dict[str, Any]]) -> dict[str, Any]:
        """Report-level fields this target adds when it has artifacts (e.g. `web_recommendation`); `settings`
        is the target's config section as JSON (None when the report has none)."""
        fields = getattr(self.part("report"), "report_fields", None)
        return fields(artifacts, settings) if fields else {}

    def ship_note(self, report: dict[str, Any]) -> str:
        note = getattr(self.part("report"), "ship_note", None)
        return note(report) if note else ""
