"""The one list of targets. Everything else (config sections, the CLI's choices, the pipeline, the
preflight, `edgekit check`, the report's colours) reads it; no other module names the targets.

A target is a settings class (`config_targets.py`, defaults in `targets/<name>.toml`), a `build`
function (`targets/<name>.py`: convert → validate → measure, returning its report entries), an
optional `preflight(config)` there that raises the environment problem stopping it, a harness
(`profile/<name>.py`, `run(...)`) for `edgekit profile`, the Python package it needs, the budgets
only it can measure, and a colour for the report's plots. See README, "Adding a target".
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable, Optional

from edgekit.config_targets import AndroidTarget, IosTarget, WebTarget


@dataclass(frozen=True)
class Target:
    name: str
    settings: type
    package: tuple[str, str]  # (import name, pip name)
    only_budgets: tuple[str, ...] = ()  # budgets no other target can measure
    colour: str = "#000000"

    def module(self) -> Any:
        return import_module(f"edgekit.targets.{self.name}")

    def build(self, ctx: Any, config: Any) -> list[dict[str, Any]]:
        return self.module().build(ctx, getattr(config.targets, self.name))

    def preflight(self) -> Optional[Callable[[Any], None]]:
        """The target's own environment check (its tools, beyond the Python package), if it has one."""
        return getattr(self.module(), "preflight", None)

    def profiler(self) -> Any:
        return import_module(f"edgekit.profile.{self.name}")


TARGETS: tuple[Target, ...] = (
    Target("android", AndroidTarget, ("ai_edge_litert", "ai-edge-litert"), ("min_delegated_fraction",), "#2e7d32"),
    Target("ios", IosTarget, ("coremltools", "coremltools"), (), "#1565c0"),
    Target("web", WebTarget, ("tensorflowjs", "tensorflowjs"),
           ("max_download_brotli", "max_browser_p50", "max_first_inference"), "#e65100"),
)
BY_NAME = {target.name: target for target in TARGETS}
NAMES = tuple(BY_NAME)  # also the order artifacts and report sections appear in


def get(name: str) -> Target:
    return BY_NAME[name]
