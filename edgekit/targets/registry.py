"""The one list of targets. Everything else (config sections, the CLI's choices, the pipeline, the
preflight, `edgekit check`, the report's sections and colours) reads it; no other module names the
targets. A target is one folder (see `base.py` for what it holds) and one line here; the order of
this list is the order artifacts and report sections appear in. See README, "Adding a target".
"""
from __future__ import annotations

from typing import Any

from edgekit.targets.android import TARGET as ANDROID
from edgekit.targets.base import Target
from edgekit.targets.ios import TARGET as IOS
from edgekit.targets.web import TARGET as WEB

TARGETS: tuple[Target, ...] = (ANDROID, IOS, WEB)
BY_NAME = {target.name: target for target in TARGETS}
NAMES = tuple(BY_NAME)


def get(name: str) -> Target:
    return BY_NAME[name]


def report_fields(names: Any, artifacts: list[dict[str, Any]], sections: dict[str, Any]) -> dict[str, Any]:
    """The report-level fields of targets `names` (e.g. the web recommendation), each given its config section."""
    fields: dict[str, Any] = {}
    for target in TARGETS:
        if target.name in names:
            fields.update(target.report_fields(artifacts, sections.get(target.name)))
    return fields
