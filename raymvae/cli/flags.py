"""Flags made from a settings class: each default and description lives with its setting."""
from __future__ import annotations

import argparse
import json
import types
import typing
from typing import Any

from pydantic import BaseModel

# Other spellings of one value of a setting: flag -> (setting, value).
ALIASES = {"--bf16": ("precision", "bf16")}


def _flag_type(annotation: Any) -> tuple[Any, list | None]:
    """argparse type and choices of a settings field's annotation (``X | None`` is X; a Literal gives choices)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return type(args[0]), list(args)
    if typing.get_origin(annotation) is dict:
        return _json_object, None
    if args and typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return _flag_type(args[0]) if len(args) == 1 else (str, None)
    return annotation, None


def _json_object(text: str) -> dict:
    """A flag given as a JSON object, e.g. --resources-per-worker '{"CPU": 2}'."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object like '{{\"CPU\": 2}}', got {text!r}")
    return value


def settings_flags(p: argparse.ArgumentParser, settings: type[BaseModel], names: list[str] | None = None,
                   underscores: bool = False) -> None:
    """One flag per field of a settings class (or of ``names``), with the field's type, default and description:
    the settings class is the one home of each default. ``underscores`` also accepts Magenta's --num_steps."""
    for name, field in settings.model_fields.items():
        if names is not None and name not in names:
            continue
        flags = ["--" + name.replace("_", "-")] + (["--" + name] if underscores and "_" in name else [])
        kind, choices = _flag_type(field.annotation)
        if field.is_required():
            p.add_argument(*flags, dest=name, type=kind, required=True, help=field.description)
        elif kind is bool:
            p.add_argument(*flags, dest=name, action="store_true", help=field.description)
        else:
            suffix = "" if field.default is None else " (default %(default)s)"  # None: the description says
            p.add_argument(*flags, dest=name, type=kind, choices=choices, default=field.default,
                           help=f"{field.description}{suffix}")
        for alias, (setting, value) in ALIASES.items():
            if setting == name:
                p.add_argument(alias, dest=name, action="store_const", const=value,
                               help=f"the same as {flags[0]} {value}")
