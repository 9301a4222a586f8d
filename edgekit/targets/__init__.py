"""Targets are plug-ins: one folder each (`android/`, `ios/`, `web/`), listed in `registry.py`."""
from __future__ import annotations

from typing import Any

from edgekit.targets.registry import BY_NAME, NAMES

AVAILABLE = NAMES  # targets this version builds (targets/registry.py)
KNOWN = NAMES


def defaults(name: str) -> dict[str, Any]:
    return BY_NAME[name].defaults()


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: tables merge key by key, anything else in `override` replaces `base`."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged
