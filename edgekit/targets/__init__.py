"""Targets are data: `<name>.toml` beside this file holds each target's defaults."""
from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from edgekit.targets.registry import NAMES

AVAILABLE = NAMES  # targets this version builds (targets/registry.py)
KNOWN = NAMES


def defaults(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: tables merge key by key, anything else in `override` replaces `base`."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged
