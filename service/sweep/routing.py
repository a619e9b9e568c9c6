"""Whose is each NDJSON line? Read from the few fields that say so, one C call per chunk.

A small msgspec Struct per resource type (same tags as `fhir_model`, only `resourceType`, `id`,
`subject`, and for an Observation, a Condition or a medication record what tells whether the
snapshot reads it: `Reads`) decodes a whole chunk of lines at once; the patient is named by
`fhir_assemble.patient_reference`, the function that groups NDJSON on every other path. Shards are
`blake2b(patient reference) mod N`.
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
from service.sweep.reads import Reads, is_panel, names_a_medication

_MED_USES = ("MedicationRequest", "MedicationStatement", "MedicationAdministration")
_SUBJECTED = ("Observation", "DiagnosticReport", "Procedure")
_SUBJECT = ("subject", fm.Reference | None, None)
_RAW = msgspec.Raw()


def _structs(names: tuple[str, ...], fields: list[tuple[str, Any, Any]]) -> tuple[type[msgspec.Struct], ...]:
    """Same tags as the full model, fewer fields: only what says whose a line is (and whether the
    snapshot reads it)."""
    return tuple(msgspec.defstruct(n, fields, bases=(fm.Resource,), gc=False) for n in names)


_OWNED = _structs(_SUBJECTED, [_SUBJECT])  # the careful path's fallback, and the types never left out
_PLAIN_OWNED = (*_OWNED, *_structs(("Condition", *_MED_USES), [_SUBJECT]))
# What tells whether the snapshot reads a line of the types it may leave out (`Reads`): an
# Observation's code and, for a panel, components and value (values kept raw: a malformed value is
# for the patient's evaluation to reject, as `evaluate` does); a Condition's code; the medication a
# MedicationRequest/Statement/Administration names.
_OBSERVATION_FIELDS: list[tuple[str, Any, Any]] = [_SUBJECT, ("value_quantity", msgspec.Raw, _RAW)]
_CODE = ("code", fm.CodeableConcept | None, None)


class _Component(msgspec.Struct, gc=False):
    """A panel's component: its code only."""

    code: fm.CodeableConcept | None = None


class _FastComponent(msgspec.Struct, gc=False):
    code: msgspec.Raw = _RAW


_OBSERVATION = _structs(
    ("Observation",), [*_OBSERVATION_FIELDS, _CODE, ("component", tuple[_Component, ...], ())]
)[0]
_CONDITION = _structs(("Condition",), [_SUBJECT, _CODE])[0]
_MED_USE = _structs(
    _MED_USES,
    [
        _SUBJECT,
        ("medication_codeable_concept", fm.CodeableConcept | None, None),
        ("medication_reference", msgspec.Raw, _RAW),
    ],
)
# The partition's hot path (`ChunkRouter`): the same, with the concepts kept raw, since the same
# concept recurs on thousands of lines: whether the snapshot reads it is looked up by its bytes,
# decided once per distinct concept.
_FAST_OBSERVATION = _structs(
    ("Observation",),
    [*_OBSERVATION_FIELDS, ("code", msgspec.Raw, _RAW), ("component", tuple[_FastComponent, ...], ())],
)[0]
_FAST_CONDITION = _structs(("Condition",), [_SUBJECT, ("code", msgspec.Raw, _RAW)])[0]
_FAST_MED_USE = _structs(
    _MED_USES,
    [
        _SUBJECT,
        ("medication_codeable_concept", msgspec.Raw, _RAW),
        ("medication_reference", msgspec.Raw, _RAW),
    ],
)
_MEDICATION = msgspec.defstruct("Medication", [], bases=(fm.Resource,), gc=False)
_SKIPPED = _structs(fm.OTHER_TYPES, [])
_LINE = msgspec.json.Decoder(
    Union[fm.Patient, _OBSERVATION, _CONDITION, *_MED_USE, *_OWNED[1:], _MEDICATION, *_SKIPPED]
)
_PLAIN = msgspec.json.Decoder(Union[fm.Patient, *_PLAIN_OWNED, _MEDICATION, *_SKIPPED])
_FAST = msgspec.json.Decoder(
    Union[fm.Patient, _FAST_OBSERVATION, _FAST_CONDITION, *_FAST_MED_USE, *_OWNED[1:], _MEDICATION, *_SKIPPED]
)
_CONCEPT = msgspec.json.Decoder(fm.CodeableConcept | None)
_NO_ALIASES = References()


class Route:
    """Where a line goes (plain strings: the hot loop hashes them, and Enum hashing is slow)."""

    PATIENT: Final = "patient"  # belongs to one patient's shard
    SHARED: Final = "shared"  # a Medication: every shard reads it
    SKIP: Final = "skip"  # a type the rules never read, or a line of a type they do that `Reads` rules out
    UNOWNED: Final = "unowned"  # a type the rules read, naming no Patient
    BAD: Final = "bad"  # cannot be read far enough to tell whose it is
    ALL: Final = (PATIENT, SHARED, SKIP, UNOWNED, BAD)


Routed = tuple[str, bytes, str]  # (route, line, owner reference or problem text)


def shard_of(owner: str, shards: int) -> int:
    """Stable across processes, machines and Python versions (unlike `hash`)."""
    digest = hashlib.blake2b(owner.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


_OWNED_KINDS = frozenset(
    (*_PLAIN_OWNED, _OBSERVATION, _CONDITION, *_MED_USE, _FAST_OBSERVATION, _FAST_CONDITION, *_FAST_MED_USE)
)
# The hot path's types with a subject (Observations, Conditions and medication records go through
# `Reads` first when the partition leaves out what the snapshot does not read).
SUBJECTED_KINDS: Final = frozenset((*_OWNED[1:], _FAST_CONDITION, *_FAST_MED_USE))
FAST_OBSERVATION: Final = _FAST_OBSERVATION
FAST_CONDITION: Final = _FAST_CONDITION
FAST_MED_USES: Final = frozenset(_FAST_MED_USE)
_MED_USE_KINDS = frozenset(_MED_USE)


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


def _unread(item: Any, reads: Reads | None) -> bool:
    if reads is None:
        return False
    kind = type(item)
    if kind is _OBSERVATION:
        return not reads.observation(item)
    if kind is _CONDITION:
        return not reads.condition(item.code)
    return kind in _MED_USE_KINDS and not reads.medication_use(item)


def route_lines(chunk: bytes, reads: Reads | None = None) -> Iterator[Routed]:
    """Whose is each non-blank line of `chunk` (whole lines)? One C call when all lines are good.

    With `reads`, Observations, Conditions and medication records the snapshot would not read are
    skipped."""
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
                if _unread(item, reads):
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
        yield (Route.SKIP, line, "") if _unread(item, reads) else route(item, line)


class ChunkRouter:
    """The partition's hot path: `decode` a chunk in one msgspec call into small Structs (None when
    any line needs the careful path, `route_lines`); `reads_observation`, `reads_condition` and
    `reads_medication_use` tell whether the snapshot reads a decoded line (`Reads`, with its raw
    concept looked up by its bytes: `observations`, `conditions`, `medications`); `route` routes
    the other types (`_Router.route`)."""

    MAX_CONCEPTS = 100_000  # distinct concepts remembered per type (a few hundred in practice)

    def __init__(self, reads: Reads | None) -> None:
        self.reads = reads
        self.observations: dict[bytes, bool] = {}  # raw `Observation.code` → in a code set
        self.conditions: dict[bytes, bool] = {}  # raw `Condition.code` → in a condition set
        self.medications: dict[bytes, bool] = {}  # raw `medicationCodeableConcept` → read
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

    def reads_observation(self, item: Any) -> bool:
        """Whether the snapshot reads this `FAST_OBSERVATION` (always, without `Reads`)."""
        reads = self.reads
        if reads is None:
            return True
        memo, decide = self.observations, reads.observation_code
        if self._known(memo, item.code, decide):
            return True
        return is_panel(item) and any(self._known(memo, c.code, decide) for c in item.component)

    def reads_condition(self, item: Any) -> bool:
        """Whether the snapshot reads this `FAST_CONDITION` (always, without `Reads`)."""
        reads = self.reads
        return reads is None or self._known(self.conditions, item.code, reads.condition)

    def reads_medication_use(self, item: Any) -> bool:
        """Whether the snapshot reads this `FAST_MED_USE` (always, without `Reads`)."""
        reads = self.reads
        if reads is None or names_a_medication(item):
            return True
        return self._known(self.medications, item.medication_codeable_concept, reads.medication_concept)

    def _known(self, memo: dict[bytes, bool], raw: msgspec.Raw, decide: Callable[[Any], bool]) -> bool:
        """`decide(concept)` for a raw concept, remembered by its bytes; a concept that is absent or
        null is not read; a malformed one is (and rejected by the patient's evaluation, as
        `route_lines` does)."""
        key = bytes(raw)
        known = memo.get(key)
        if known is None:
            if len(memo) >= self.MAX_CONCEPTS:
                memo.clear()
            try:
                concept = _CONCEPT.decode(key) if key else None
            except msgspec.DecodeError:
                known = True
            else:
                known = concept is not None and decide(concept)
            memo[key] = known
        return known


def ref_of(line: bytes) -> str | None:
    """ "Type/id" of a line (deletions only; slow path)."""
    try:
        head = msgspec.json.decode(line, type=fm.Head)
    except msgspec.DecodeError:
        return None
    return f"{head.resource_type}/{head.id}" if head.resource_type and head.id else None
