"""The archetype registry: each archetype is a patient generator plus the findings it must give.

`fires` is the complete set of rule ids (with indicators) that `patient-view` must return for every
patient of the archetype; the `batch` set is derived through the rule scope of RULES.md 1.5, which
is the same evaluation restricted to the care-gap rules (the generic-DXA suppressors are batch rules
too, so suppression does not change between the two).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rules import Hook
from rules.scope import SCOPE
from service.synth.chart import Chart

Build = Callable[[Chart], None]


@dataclass(frozen=True, slots=True)
class Archetype:
    name: str
    title: str
    vignette: str | None  # the RULES.md section 9 vignette it is modelled on
    weight: float  # relative share of the population
    build: Build
    fires: Mapping[str, str]  # patient-view: rule id → indicator

    def expected(self, hook: Hook) -> dict[str, str]:
        scope = SCOPE[hook]
        return {rule: level for rule, level in sorted(self.fires.items()) if rule in scope}


ARCHETYPES: list[Archetype] = []


def archetype(
    name: str, title: str, weight: float, fires: Mapping[str, str], vignette: str | None = None
) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        if any(a.name == name for a in ARCHETYPES):
            raise ValueError(f"archetype {name!r} registered twice")
        ARCHETYPES.append(Archetype(name, title, vignette, weight, build, dict(fires)))
        return build

    return register
