"""Human units for budgets: sizes ("64 KB", "64 KiB") and durations ("2 ms").

Parsing is delegated to `humanfriendly`, which follows the decimal/binary convention:
KB = 1000 bytes, KiB = 1024 bytes.
"""
from __future__ import annotations

import re

import humanfriendly

_NUMBER_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-zµ]*)\s*$")
SIZE_UNITS = {"", "b", "byte", "bytes", "kb", "kib", "mb", "mib", "gb", "gib", "k", "m", "g"}
TIME_UNITS = {"ns", "us", "µs", "ms", "s", "sec", "secs", "second", "seconds", "millisecond", "milliseconds",
              "microsecond", "microseconds"}


def _unit_of(text: str) -> str | None:
    match = _NUMBER_UNIT.match(text)
    return match.group(2).lower() if match else None


def parse_size(value: str | int | float) -> int:
    """Bytes from "64 KB", "64 KiB", "1.5 MB" or a plain number of bytes."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as \"64 KB\", got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a size cannot be negative, got {value!r}")
        return int(value)
    if _unit_of(str(value)) not in SIZE_UNITS:
        raise ValueError(f"{value!r} is not a size; write it like \"64 KB\" or \"64 KiB\"")
    try:
        return int(humanfriendly.parse_size(str(value)))
    except humanfriendly.InvalidSize as err:
        raise ValueError(f"{value!r} is not a size; write it like \"64 KB\" or \"64 KiB\"") from err


def parse_duration_ms(value: str | int | float) -> float:
    """Milliseconds from "2 ms", "1.5ms", "0.01 s" or a plain number of milliseconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as \"2 ms\", got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return float(value)
    text = str(value).strip()
    unit = _unit_of(text)
    if unit is None or (unit and unit not in TIME_UNITS):
        raise ValueError(f"{value!r} is not a duration; write it like \"2 ms\" or \"0.5 s\"")
    try:
        seconds = humanfriendly.parse_timespan(text)
    except humanfriendly.InvalidTimespan as err:
        raise ValueError(f"{value!r} is not a duration; write it like \"2 ms\" or \"0.5 s\"") from err
    if text.replace(".", "", 1).isdigit():
        # humanfriendly reads a bare number as seconds; budgets are in milliseconds.
        return float(text)
    return seconds * 1000.0


def format_size(num_bytes: int | float) -> str:
    return humanfriendly.format_size(num_bytes)
