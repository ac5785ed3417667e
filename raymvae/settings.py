"""Settings classes checked the same way everywhere: a misspelled name or a bad value is one UserError line
that names the flag (``TrainSettings``, ``PrepareSettings``, ``ServeSettings``); and the fields they share."""
from __future__ import annotations

from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, Field, ValidationError

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


Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
PRECISION = Field("auto", description="float precision: bf16 autocast, fp32, or auto: bf16 where the hardware "
                                      "runs it natively (CUDA GPUs with bf16, CPUs with AMX or AVX512-BF16; "
                                      "for training only where it is also faster for the model's LSTMs, "
                                      "and never for hierarchical decoders), fp32 elsewhere")
