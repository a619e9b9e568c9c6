"""What the snapshot reads of the types a sweep's partition may leave out of the shards.

`Reads` answers, line by line, what `build_snapshot` itself would decide, so that nothing the rules
could see is ever left out: an Observation in a code set (or a panel with a component in one), a
Condition in a condition set, a medication record that names a Medication or resolves to an
ingredient of a known class. The partition (`routing`) asks it of small Structs decoded from each
line; values that the snapshot checks later stay raw here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rules.codesets import CodeSets
from service.adapters import fhir_model as fm
from service.adapters.medications import reads_medication_concept


@dataclass(frozen=True)
class Reads:
    """What `build_snapshot` reads of the types a partition may leave out, decided from the code
    sets as the snapshot decides: an Observation with a coding in a code set, or a panel (no value
    of its own) with a component whose coding is; a Condition with a coding in a condition set
    (`conditions.py`); a medication record that names a Medication, or whose
    medicationCodeableConcept resolves to an ingredient of a class the rules know
    (`medications.reads_medication_concept`). Everything else of those types (most of an export:
    vital signs, problem lists, prescriptions) never reaches a shard."""

    observation_codes: frozenset[str]
    condition_sets: Callable[[str | None, str], frozenset[str]]  # `CodeSets.condition_sets`
    medication_concept: Callable[[fm.CodeableConcept | None], bool]

    @classmethod
    def of(cls, codesets: CodeSets) -> Reads:
        medication = functools.partial(reads_medication_concept, codesets)
        return cls(codesets.observation_codes, codesets.condition_sets, medication)

    def observation(self, item: Any) -> bool:
        """Whether the snapshot reads a decoded Observation (`observations.ObservationReader.read_all`):
        its code is in a code set, or it is a panel with a component whose code is (an eGFR panel,
        not the blood-pressure panels that are most of an export's panels)."""
        if self.observation_code(item.code):
            return True
        return is_panel(item) and any(self.observation_code(c.code) for c in item.component)

    def observation_code(self, concept: fm.CodeableConcept | None) -> bool:
        codes = self.observation_codes
        return concept is not None and any(c.code in codes for c in concept.coding)

    def condition(self, concept: fm.CodeableConcept | None) -> bool:
        sets = self.condition_sets
        return concept is not None and any(c.code and sets(c.system, c.code) for c in concept.coding)

    def medication_use(self, item: Any) -> bool:
        """Whether the snapshot reads a decoded medication record (its medicationReference raw)."""
        return names_a_medication(item) or self.medication_concept(item.medication_codeable_concept)


def names_a_medication(item: Any) -> bool:
    """A medication record (its medicationReference raw) that names a Medication: always read."""
    raw = item.medication_reference
    return len(raw) > 0 and bytes(raw) != b"null"


def is_panel(item: Any) -> bool:
    """Components and no top-level value (a raw `valueQuantity`): the snapshot reads the components
    whose code is in a code set."""
    value = item.value_quantity
    return bool(item.component) and (len(value) == 0 or bytes(value) == b"null")
