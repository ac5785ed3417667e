"""Settings classes checked the same way everywhere: a misspelled name or a bad value is one UserError line
that names the flag (``TrainSettings``, ``PrepareSettings``, ``ServeSettings``)."""
from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from raymvae.errors import UserError

S = TypeVar("S", bound=BaseModel)


def checked(settings: type[S], values: dict[str, Any], what: str) -> S:
    """``values`` as a ``settings``; UserError('--eval-fraction: Input should be ...') when one is wrong."""
    try:
        return settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "?"
        if first["type"] == "extra_forbidden":
            raise UserError(f"unknown {what} setting {name!r}; known: {', '.join(settings.model_fields)}") from None
        raise UserError(f"--{name.replace('_', '-')}: {first['msg']}, got {first.get('input')!r}") from None
