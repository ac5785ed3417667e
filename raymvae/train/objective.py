"""A combined objective over eval metrics: ``"metrics/accuracy + samples/oa_mean"``, ``"0.5*a - 2*b"``.

Tune optimises one number; reconstruction and sample quality pull apart (Magenta's lokl / hikl
trade-off), so a sweep may rank trials by a weighted sum of eval metrics. The text is a sum of terms
``[weight *] metric`` joined by ``+`` or ``-``; a metric name is any key of the eval results.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from raymvae.errors import UserError

_TERM = re.compile(r"\s*([+-])?\s*(?:(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\s*\*\s*)?([A-Za-z_][\w/.]*)\s*")


@dataclass(frozen=True)
class Objective:
    """Weighted metric names; ``value`` of a result dict is their weighted sum."""

    text: str
    terms: tuple[tuple[float, str], ...]

    @classmethod
    def parse(cls, text: str) -> "Objective":
        terms, pos = [], 0
        while pos < len(text):
            m = _TERM.match(text, pos)
            if not m or m.end() == pos or (terms and not m.group(1)):
                raise UserError(f"cannot read objective {text!r} at {text[pos:]!r}: write terms like "
                                f"'metrics/accuracy + 0.5 * samples/oa_mean'")
            sign = -1.0 if m.group(1) == "-" else 1.0
            terms.append((sign * float(m.group(2) or 1.0), m.group(3)))
            pos = m.end()
        if not terms:
            raise UserError("the objective is empty")
        return cls(text, tuple(terms))

    @property
    def metrics(self) -> list[str]:
        return [name for _, name in self.terms]

    def value(self, result: dict[str, Any]) -> float:
        """The weighted sum; NaN when a metric is missing (e.g. a run without an eval set)."""
        try:
            return float(sum(w * float(result[name]) for w, name in self.terms))
        except (KeyError, TypeError):
            return math.nan
