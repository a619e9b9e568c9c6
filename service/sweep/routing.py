"""Whose is each NDJSON line? Read from the few fields that say so, one C call per chunk.

A small msgspec Struct per resource type (same tags as `fhir_model`, only `resourceType`, `id`,
`subject`, and for an Observation what tells whether the snapshot reads it) decodes a whole chunk
of lines at once; the patient is named by `fhir_assemble.patient_reference`, the function that
groups NDJSON on every other path. Shards are `blake2b(patient reference) mod N`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any, Final, Union

import msgspec
import orjson

from service.adapters import fhir_model as fm
from service.adapters.fhir_assemble import patient_reference
from service.adapters.fhir_refs import References

_SUBJECTED = (
    "Observation", "DiagnosticReport", "Procedure", "MedicationRequest", "MedicationStatement",
    "MedicationAdministration",
)  # fmt: skip
# Same tags as the full model, fewer fields: only what says whose line it is ...
_OWNED = tuple(
    msgspec.defstruct(name, [("subject", fm.Reference | None, None)], bases=(fm.Resource,), gc=False)
    for name in _SUBJECTED
)
# ... and, for a Condition, its code: the snapshot reads only Conditions in a condition set (most of
# an export's problem list is not about bone) ...
_CONDITION = msgspec.defstruct(
    "Condition",
    [("subject", fm.Reference | None, None), ("code", fm.CodeableConcept | None, None)],
    bases=(fm.Resource,),
    gc=False,
)
# ... and, for an Observation, whether the snapshot would read it at all (values kept raw: a
# malformed value is for the patient's evaluation to reject, as `evaluate` does).
_OBSERVATION = msgspec.defstruct(
    "Observation",
    [
        ("subject", fm.Reference | None, None),
        ("code", fm.CodeableConcept | None, None),
        ("component", tuple[msgspec.Raw, ...], ()),
        ("value_quantity", msgspec.Raw, msgspec.Raw()),
    ],
    bases=(fm.Resource,),
    gc=False,
)
# The partition's hot path (`ChunkRouter`): the same, with an Observation's code kept raw, since
# the same code concept recurs on thousands of lines: whether it is in a code set is looked up
# by its bytes, decoded once per distinct concept.
_FAST_OBSERVATION = msgspec.defstruct(
    "Observation",
    [
        ("subject", fm.Reference | None, None),
        ("code", msgspec.Raw, msgspec.Raw()),
        ("component", tuple[msgspec.Raw, ...], ()),
        ("value_quantity", msgspec.Raw, msgspec.Raw()),
    ],
    bases=(fm.Resource,),
    gc=False,
)
_FAST_CONDITION = msgspec.defstruct(
    "Condition",
    [("subject", fm.Reference | None, None), ("code", msgspec.Raw, msgspec.Raw())],
    bases=(fm.Resource,),
    gc=False,
)
_PLAIN_CONDITION = msgspec.defstruct(
    "Condition", [("subject", fm.Reference | None, None)], bases=(fm.Resource,), gc=False
)
_MEDICATION = msgspec.defstruct("Medication", [], bases=(fm.Resource,), gc=False)
_SKIPPED = tuple(msgspec.defstruct(n, [], bases=(fm.Resource,), gc=False) for n in fm.OTHER_TYPES)
_LINE = msgspec.json.Decoder(Union[fm.Patient, _OBSERVATION, _CONDITION, *_OWNED[1:], _MEDICATION, *_SKIPPED])
_PLAIN = msgspec.json.Decoder(Union[fm.Patient, _PLAIN_CONDITION, *_OWNED, _MEDICATION, *_SKIPPED])
_FAST = msgspec.json.Decoder(
    Union[fm.Patient, _FAST_OBSERVATION, _FAST_CONDITION, *_OWNED[1:], _MEDICATION, *_SKIPPED]
)
_CONCEPT = msgspec.json.Decoder(fm.CodeableConcept | None)
_NO_ALIASES = References()


class Route:
    """Where a line goes (plain strings: the hot loop hashes them, and Enum hashing is slow)."""

    PATIENT: Final = "patient"  # belongs to one patient's shard
    SHARED: Final = "shared"  # a Medication: every shard reads it
    SKIP: Final = "skip"  # a type the rules never read, or an Observation in no code set
    UNOWNED: Final = "unowned"  # a type the rules read, naming no Patient
    BAD: Final = "bad"  # cannot be read far enough to tell whose it is
    ALL: Final = (PATIENT, SHARED, SKIP, UNOWNED, BAD)


Routed = tuple[str, bytes, str]  # (route, line, owner reference or problem text)


def shard_of(owner: str, shards: int) -> int:
    """Stable across processes, machines and Python versions (unlike `hash`)."""
    digest = hashlib.blake2b(owner.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


_OWNED_KINDS = frozenset((*_OWNED, _OBSERVATION, _CONDITION, _PLAIN_CONDITION, _FAST_CONDITION))
# The hot path's types with a subject, but Observation and Condition (which it may skip).
SUBJECTED_KINDS: Final = frozenset(_OWNED[1:])
FAST_OBSERVATION: Final = _FAST_OBSERVATION
FAST_CONDITION: Final = _FAST_CONDITION
ConditionSets = Callable[[str | None, str], frozenset[str]]  # `CodeSets.condition_sets`
_SKIPPED_KINDS = frozenset(_SKIPPED)


class _Router:
    """Routes decoded lines; remembers the last subject, since a patient's lines usually come
    together (it saves most calls to `patient_reference`, the hot path's only Python-level work)."""

    def __init__(self) -> None:
        self.last_subject: str | None = None
        self.last_owner: str | None = None

    def route(self, item: fm.Resource, line: bytes) -> Routed:
        kind = type(item)
        if kind in _OWNED_KINDS or kind is _FAST_OBSERVATION:
            subject = item.subject  # type: ignore[attr-defined]
            target = subject.reference if subject is not None else None
            if target is None or target != self.last_subject:
                self.last_subject, self.last_owner = target, patient_reference(item, _NO_ALIASES)
            owner = self.last_owner
            return (Route.UNOWNED, line, "") if owner is None else (Route.PATIENT, line, owner)
        if kind in _SKIPPED_KINDS:
            return Route.SKIP, line, ""
        if kind is _MEDICATION:
            return Route.SHARED, line, ""
        if not item.id:  # a Patient
            return Route.BAD, line, "a Patient without id cannot be grouped"
        item.ref = f"Patient/{item.id}"
        return Route.PATIENT, line, patient_reference(item) or item.ref


def _route_loose(line: bytes) -> Routed:
    """A line the fast Struct rejected: say why, or skip it when its type is not read anyway."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return Route.BAD, line, f"not JSON: {exc}"
    if not isinstance(data, dict):
        return Route.BAD, line, "not a JSON object"
    rtype = data.get("resourceType")
    if not isinstance(rtype, str):
        return Route.BAD, line, "no resourceType"
    if rtype == "Bundle":
        return Route.BAD, line, "a Bundle line: bulk NDJSON holds one resource per line"
    if rtype not in fm.TYPES:
        return Route.SKIP, line, ""
    return Route.BAD, line, f"{rtype}: resourceType, id or subject has the wrong JSON type"


def is_unread_observation(item: Any, codes: frozenset[str]) -> bool:
    """An Observation `build_snapshot` never looks at: no coding in a code set, and not a
    component panel (which it reads when there is no top-level value). Mirrors its hot-loop test."""
    concept = item.code
    in_a_set = concept is not None and any(c.code in codes for c in concept.coding)
    return not (in_a_set or _is_panel(item))


def _is_panel(item: Any) -> bool:
    """Components and no top-level value (a raw `valueQuantity`): the snapshot reads the components."""
    value = item.value_quantity
    return bool(item.component) and (len(value) == 0 or bytes(value) == b"null")


def is_unread_condition(concept: fm.CodeableConcept | None, condition_sets: ConditionSets) -> bool:
    """A Condition `build_snapshot` leaves out: no coding in a condition set (`conditions.py`)."""
    return concept is None or not any(c.code and condition_sets(c.system, c.code) for c in concept.coding)


def _unread(item: Any, codes: frozenset[str] | None, condition_sets: ConditionSets | None) -> bool:
    kind = type(item)
    if kind is _OBSERVATION:
        return codes is not None and is_unread_observation(item, codes)
    return (
        kind is _CONDITION and condition_sets is not None and is_unread_condition(item.code, condition_sets)
    )


def route_lines(
    chunk: bytes,
    observation_codes: frozenset[str] | None = None,
    condition_sets: ConditionSets | None = None,
) -> Iterator[Routed]:
    """Whose is each non-blank line of `chunk` (whole lines)? One C call when all lines are good.

    With `observation_codes` (the code sets' Observation codes), Observations the snapshot would
    not read are skipped: most of an export's Observations are vital signs and other labs; with
    `condition_sets` (`CodeSets.condition_sets`), so are Conditions in no condition set."""
    try:
        items = _LINE.decode_lines(chunk)
    except msgspec.DecodeError:
        items = None
    lines = [line for line in chunk.split(b"\n") if line and not line.isspace()]
    route = _Router().route
    if items is not None and len(items) == len(lines):
        # The common case inlined (a resource with a subject); `_Router.route` for the others.
        last_subject: str | None = None
        last_owner: str | None = None
        for item, line in zip(items, lines, strict=True):
            if type(item) in _OWNED_KINDS:
                if _unread(item, observation_codes, condition_sets):
                    yield Route.SKIP, line, ""
                    continue
                subject = item.subject
                target = subject.reference if subject is not None else None
                if target is None or target != last_subject:
                    last_subject, last_owner = target, patient_reference(item, _NO_ALIASES)
                yield (Route.UNOWNED, line, "") if last_owner is None else (Route.PATIENT, line, last_owner)
            else:
                yield route(item, line)
        return
    for line in lines:
        try:
            item = _LINE.decode(line)
        except msgspec.DecodeError:
            try:
                item = _PLAIN.decode(line)  # e.g. a malformed Observation.code: the patient's problem
            except msgspec.DecodeError:
                yield _route_loose(line)
                continue
        skip = _unread(item, observation_codes, condition_sets)
        yield (Route.SKIP, line, "") if skip else route(item, line)


class ChunkRouter:
    """The partition's hot path: `decode` a chunk in one msgspec call into small Structs (None when
    any line needs the careful path, `route_lines`); `reads` tells whether the snapshot would read
    a decoded Observation (`is_unread_observation`, with its code concept looked up by its bytes);
    `route` routes the other types (`_Router.route`)."""

    MAX_CONCEPTS = 100_000  # distinct code concepts remembered (a few hundred in practice)

    def __init__(
        self, observation_codes: frozenset[str] | None, condition_sets: ConditionSets | None = None
    ) -> None:
        self.codes = observation_codes
        self.concepts: dict[bytes, bool] = {}  # raw `Observation.code` JSON → in a code set
        self.condition_sets = condition_sets
        self.conditions: dict[bytes, bool] = {}  # raw `Condition.code` JSON → in a condition set
        self.route = _Router().route

    def decode(self, chunk: bytes) -> tuple[list[Any], list[bytes]] | None:
        """The chunk's (item, line) pairs as two lists of the same length, or None."""
        try:
            items = _FAST.decode_lines(chunk)
        except msgspec.DecodeError:
            return None
        lines = chunk.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        if len(items) != len(lines):  # blank lines, which msgspec skips
            lines = [line for line in lines if line and not line.isspace()]
            if len(items) != len(lines):
                return None
        return items, lines

    def reads(self, item: Any) -> bool:
        """Whether the snapshot reads this `FAST_OBSERVATION` (always, without code sets)."""
        codes = self.codes
        if codes is None:
            return True
        raw = bytes(item.code)
        known = self.concepts.get(raw)
        if known is None:
            if len(self.concepts) >= self.MAX_CONCEPTS:
                self.concepts.clear()
            known = self.concepts[raw] = _in_a_set(raw, codes)
        return known or _is_panel(item)

    def reads_condition(self, item: Any) -> bool:
        """Whether the snapshot reads this `FAST_CONDITION` (always, without condition sets)."""
        sets = self.condition_sets
        if sets is None:
            return True
        raw = bytes(item.code)
        known = self.conditions.get(raw)
        if known is None:
            if len(self.conditions) >= self.MAX_CONCEPTS:
                self.conditions.clear()
            try:
                concept = _CONCEPT.decode(raw) if raw else None
            except msgspec.DecodeError:
                concept, known = None, True  # malformed: read, and rejected by the patient's evaluation
            if known is None:
                known = not is_unread_condition(concept, sets)
            self.conditions[raw] = known
        return known


def _in_a_set(raw: bytes, codes: frozenset[str]) -> bool:
    """Any coding of a raw `Observation.code` in a code set; a malformed code is read (and
    rejected by the patient's evaluation, as `route_lines` does)."""
    try:
        concept = _CONCEPT.decode(raw) if raw else None
    except msgspec.DecodeError:
        return True
    return concept is not None and any(c.code in codes for c in concept.coding)


def ref_of(line: bytes) -> str | None:
    """ "Type/id" of a line (deletions only; slow path)."""
    try:
        head = msgspec.json.decode(line, type=fm.Head)
    except msgspec.DecodeError:
        return None
    return f"{head.resource_type}/{head.id}" if head.resource_type and head.id else None
