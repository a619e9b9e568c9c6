"""The shape of one rule: an id from RULES.md and a pure `evaluate(facts, params)`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rules.facts import Facts
    from rules.findings import Finding
    from rules.params import Parameters

Evaluate = Callable[["Facts", "Parameters"], "Finding | None"]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str  # exactly as in RULES.md section 5; a public contract (cards' source.topic.code)
    section: str  # "A1" ... "D1"
    evaluate: Evaluate
