"""One line for one pydantic validation error of the config: where, what, and how to fix it.

Unknown keys get a did-you-mean against the keys allowed at that place; wrong values get the
field's example from its schema. Kept apart from `config.py`, which holds the schema itself.
"""
from __future__ import annotations

import difflib
from typing import Any, Optional, get_args

from pydantic import BaseModel


def describe_error(error: dict[str, Any]) -> str:
    """One line for one pydantic error: where, what, and how to fix it."""
    loc = _clean_loc(error["loc"])
    dotted = _dotted(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        holder = _holder(error["loc"][:-1])
        fields = list(holder.model_fields) if holder is not None else []
        guess = difflib.get_close_matches(key, fields, n=1, cutoff=0.5)
        if guess:
            example = _example(holder, guess[0])
            tail = f"; example: {example}" if example else ""
            return f"unknown key '{dotted}' — did you mean '{guess[0]}'?{tail}"
        return f"unknown key '{dotted}'; keys allowed in {_dotted(loc[:-1]) or 'the top level'}: {', '.join(fields)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        from edgekit.recipe import STEP_NAMES

        tags = list(STEP_NAMES)
        if kind == "union_tag_not_found":
            return f"'{dotted}' has no 'step' key; start each [[recipe]] table with step = one of {', '.join(tags)}"
        got = str(error.get("ctx", {}).get("tag", ""))
        guess = difflib.get_close_matches(got, tags, n=1, cutoff=0.4)
        hint = f" — did you mean '{guess[0]}'?" if guess else ""
        return f"'{dotted}.step' is {got!r}, expected one of {', '.join(tags)}{hint}"
    holder = _holder(error["loc"][:-1]) if error["loc"] else None
    example = _example(holder, str(error["loc"][-1])) if error["loc"] else None
    tail = f" (example: {example})" if example else ""
    if kind == "missing":
        return f"missing required key '{dotted}'{tail}"
    if kind == "literal_error":
        allowed = error.get("ctx", {}).get("expected", "")
        options = [o.strip(" '") for o in allowed.replace(" or ", ",").split(",") if o.strip(" '")]
        guess = difflib.get_close_matches(str(error.get("input")), options, n=1, cutoff=0.4)
        hint = f" — did you mean '{guess[0]}'?" if guess else ""
        return f"'{dotted}' is {error.get('input')!r}, expected one of {allowed}{hint}"
    message = error["msg"].removeprefix("Value error, ")
    return f"'{dotted}': {message}{tail}"


def _clean_loc(loc: tuple[Any, ...]) -> list[Any]:
    """Drop pydantic's internal parts: validator names and discriminator tags after a list index."""
    from edgekit.recipe import STEP_NAMES

    cleaned: list[Any] = []
    for part in loc:
        if str(part).startswith("function-"):
            continue
        if cleaned and isinstance(cleaned[-1], int) and part in STEP_NAMES:
            continue
        cleaned.append(part)
    return cleaned


def _dotted(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        found += _models_in(arg)
    return found


def _holder(loc: tuple[Any, ...] | list[Any]) -> Optional[type[BaseModel]]:
    """The model class that owns the keys at `loc` (list indexes, dict keys and union tags resolved)."""
    from edgekit.config import Config

    current: Optional[type[BaseModel]] = Config
    candidates: list[type[BaseModel]] = []
    for part in loc:
        if isinstance(part, int):
            continue
        if candidates:  # a union: the tag names the member
            tagged = [m for m in candidates if _tag_of(m) == part]
            if tagged:
                current, candidates = tagged[0], []
                continue
        if current is None or part not in current.model_fields:
            continue  # dict keys such as parity.int8 sit between a field and its value model
        models = _models_in(current.model_fields[str(part)].annotation)
        current = models[0] if len(models) == 1 else None
        candidates = models if len(models) > 1 else []
    return current


def _tag_of(model: type[BaseModel]) -> Optional[str]:
    field = model.model_fields.get("step")
    args = get_args(field.annotation) if field is not None else ()
    return str(args[0]) if args else None


def _example(holder: Optional[type[BaseModel]], name: str) -> Optional[str]:
    if holder is None or name not in holder.model_fields:
        return None
    extra = holder.model_fields[name].json_schema_extra or {}
    return extra.get("example") if isinstance(extra, dict) else None
