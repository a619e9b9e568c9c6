"""Stream every NDJSON file once and write its lines into per-shard files on disk.

A line goes to shard `blake2b(patient reference) mod N`, so each patient's lines meet in one
shard however the export ordered them, and a shard is evaluated without the rest of the
population. Only the patient is read from each line (`routing.route_lines`: a small msgspec
Struct, one C call per chunk of lines; `fhir_assemble.patient_reference` names the patient); the
line itself is copied byte for byte. Medications name no patient: they go to a shared file every
shard reads (their number grows with the formulary, not the population). Lines of types the rules
never read, and Observations, Conditions and medication records the snapshot would not read
(`reads.Reads`), are skipped (not in strict mode).

Each file writes its own part of every shard (`shards/<k>/<layer>-<file>.ndjson`, with an
`.owners` sidecar naming each line's patient, so that the shard is grouped without parsing its JSON
a second time, nor even splitting it into lines), so files can be partitioned in parallel without
locks. The sidecar holds runs: one JSON line per flush, `[[owner, lines, bytes], ...]` in line
order (bytes: the run's lines with their newlines). Memory: one chunk plus bounded write buffers.

The hot path (`ChunkRouter`): a chunk decodes in one msgspec call; per line, a type test and, for
a resource with a subject, one string comparison with the previous line's subject and an append;
for an Observation, a dict look-up of its raw code concept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from service.adapters.fhir_assemble import patient_reference
from service.adapters.fhir_refs import References
from service.sweep.reads import Reads, names_a_medication
from service.sweep.routing import (
    FAST_CONDITION,
    FAST_MED_USES,
    FAST_OBSERVATION,
    SUBJECTED_KINDS,
    ChunkRouter,
    Route,
    ref_of,
    route_lines,
    shard_of,
)
from service.sweep.sources import SourceFile, read_chunks

FLUSH_BYTES = 8 * 1024 * 1024
MAX_RECORDED_PROBLEMS = 1000  # per file; the rest are counted
_NOTHING = object()
_NO_ALIASES = References()


# ---- layout of the work folder --------------------------------------------------------------
def shard_dir(work: Path, shard: int) -> Path:
    return work / "shards" / f"{shard:05d}"


def shared_dir(work: Path) -> Path:
    return work / "shared"


def problems_dir(work: Path) -> Path:
    return work / "problems"


def owners_path(part: Path) -> Path:
    """The sidecar of a shard part: whose its lines are, as runs (`[[owner, lines, bytes], ...]`,
    one JSON line per flush), so that the shard is grouped without reading its JSON again."""
    return part.with_name(part.name + ".owners")


class _Buffer:
    """One shard's lines of a part, not yet written, and whose they are: `owners[i]` owns the
    lines from `starts[i]` to the next start (a patient's lines usually come together)."""

    __slots__ = ("lines", "owners", "starts")

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.owners: list[str] = []
        self.starts: list[int] = []

    def runs(self) -> list[tuple[str, int, int]]:
        """(owner, lines, bytes with their newlines) of each run, in line order."""
        lines = self.lines
        ends = [*self.starts[1:], len(lines)]
        return [
            (o, b - a, sum(map(len, lines[a:b])) + b - a)
            for o, a, b in zip(self.owners, self.starts, ends, strict=True)
        ]


class _Writer:
    """Per-shard write buffers; the caller flushes them (append, close) between chunks, once they
    hold `FLUSH_BYTES` in all."""

    def __init__(self, work: Path, part: str) -> None:
        self.work = work
        self.part = part
        self.buffers: dict[int, _Buffer] = {}
        self.shared: list[bytes] = []
        self.size = 0

    def run(self, shard: int, owner: str) -> Callable[[bytes], None]:
        """Where `owner`'s next lines go (appended to `shard`'s buffer) until the next flush."""
        buffer = self.buffers.get(shard)
        if buffer is None:
            buffer = self.buffers[shard] = _Buffer()
        if not buffer.owners or buffer.owners[-1] != owner:
            buffer.owners.append(owner)
            buffer.starts.append(len(buffer.lines))
        return buffer.lines.append

    def add(self, shard: int, line: bytes, owner: str) -> None:
        self.run(shard, owner)(line)

    def flush(self) -> None:
        for shard, buffer in self.buffers.items():
            part = shard_dir(self.work, shard) / self.part
            _append(part, buffer.lines)
            _append(owners_path(part), [orjson.dumps(buffer.runs())])
        if self.shared:
            _append(shared_dir(self.work) / self.part, self.shared)
        self.buffers, self.shared, self.size = {}, [], 0


def _append(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as fh:
        fh.write(b"\n".join(lines))
        fh.write(b"\n")


@dataclass(frozen=True, slots=True)
class PartitionStats:
    file: str
    lines: int = 0
    routed: int = 0  # written to a patient's shard
    shared: int = 0
    skipped: int = 0
    unowned: int = 0
    deleted: int = 0  # left out: a later layer of the source deletes them
    bad: int = 0
    seconds: float = 0.0


class _Problems:
    def __init__(self, work: Path, file: SourceFile) -> None:
        self.path = problems_dir(work) / f"partition-{file.part_name}"
        self.file = str(file.path)
        self.start = file.start
        self.lines: list[bytes] = []
        self.count = 0

    def add(self, kind: str, detail: str, line: int | None = None) -> None:
        self.count += 1
        if self.count <= MAX_RECORDED_PROBLEMS:
            entry: dict[str, object] = {"kind": kind, "file": self.file, "line": line, "detail": detail}
            if self.start and line is not None:
                entry["from_byte"] = self.start  # a piece of the file: lines counted from there
            self.lines.append(orjson.dumps(entry))

    def close(self, unowned: int) -> None:
        if unowned:
            self.add("unowned", f"{unowned} resource(s) of types the rules read name no Patient: left out")
        if self.count > MAX_RECORDED_PROBLEMS:
            self.lines.append(orjson.dumps({"kind": "more", "file": self.file, "count": self.count}))
        if self.lines:
            _append(self.path, self.lines)


def _is_deleted(line: bytes, file: SourceFile, deleted: Mapping[str, int]) -> bool:
    return deleted.get(ref_of(line) or "", -1) > file.layer


def partition_file(
    file: SourceFile,
    work: Path,
    shards: int,
    deleted: Mapping[str, int] | None = None,
    reads: Reads | None = None,
) -> PartitionStats:
    """Write `file`'s lines into the shards of `work`; `deleted` maps "Type/id" to the layer that
    deletes it (a line of an earlier layer is left out); with `reads`, lines the snapshot would not
    read are left out (`route_lines`)."""
    start = time.perf_counter()
    counts = dict.fromkeys(Route.ALL, 0)
    writer = _Writer(work, file.part_name)
    problems = _Problems(work, file)
    router = ChunkRouter(reads)
    removed = seen = 0  # seen: non-blank lines so far, for problem line numbers
    for chunk in read_chunks(file):
        decoded = None if deleted else router.decode(chunk)
        if decoded is not None:
            _route_decoded(*decoded, seen, router, writer, shards, counts, problems)
            seen += len(decoded[1])
        else:
            for route, line, owner in route_lines(chunk, reads):
                seen += 1
                if deleted and route in (Route.PATIENT, Route.SHARED) and _is_deleted(line, file, deleted):
                    removed += 1
                else:
                    _route_one(route, line, owner, seen, writer, shards, counts, problems)
        writer.size += len(chunk)
        if writer.size >= FLUSH_BYTES:  # between chunks only: `_route_decoded` holds a buffer
            writer.flush()
    writer.flush()
    problems.close(counts[Route.UNOWNED])
    piece = "" if file.piece is None else f" [bytes {file.start}-{file.end}]"
    return PartitionStats(
        file=f"{file.path}{piece}",
        lines=seen,
        routed=counts[Route.PATIENT],
        shared=counts[Route.SHARED],
        skipped=counts[Route.SKIP],
        unowned=counts[Route.UNOWNED],
        deleted=removed,
        bad=counts[Route.BAD],
        seconds=time.perf_counter() - start,
    )


def _route_one(route: str, line: bytes, owner: str, number: int, writer: _Writer, shards: int,
               counts: dict[str, int], problems: _Problems) -> None:  # fmt: skip
    counts[route] += 1
    if route == Route.PATIENT:
        writer.add(shard_of(owner, shards), line, owner)
    elif route == Route.SHARED:
        writer.shared.append(line)
    elif route == Route.BAD:
        problems.add("bad-line", owner, number)


def _route_decoded(items: list[Any], lines: list[bytes], seen: int, router: ChunkRouter, writer: _Writer,
                   shards: int, counts: dict[str, int], problems: _Problems) -> None:  # fmt: skip
    """The hot path: a chunk that decoded in one call. A resource with a subject costs a type test,
    for an Observation, a Condition or a medication record a dict look-up, a string comparison and
    an append; the owner (and shard) is worked out again only when the subject changes."""
    filtered = router.reads is not None  # else every line of the rules' types is read
    observations, conditions, medications = router.observations, router.conditions, router.medications
    last: object = _NOTHING  # the last subject reference (None for none), and where its lines go
    append: Callable[[bytes], None] | None = None
    routed = skipped = unowned = 0
    for number, (item, line) in enumerate(zip(items, lines, strict=True), start=seen + 1):
        kind = type(item)
        if not filtered:
            if kind not in SUBJECTED_KINDS and kind is not FAST_OBSERVATION:
                _route_one(*router.route(item, line), number, writer, shards, counts, problems)
                last = _NOTHING  # `_route_one` may have started another run in the same buffer
                continue
        elif kind is FAST_OBSERVATION:
            # `reads_observation` inlined for a known concept: in a code set (read), or not and
            # without components (skipped); anything else asks `reads_observation`.
            known = observations.get(bytes(item.code))
            if not known and (
                (known is not None and not item.component) or not router.reads_observation(item)
            ):
                skipped += 1
                continue
        elif kind is FAST_CONDITION:
            known = conditions.get(bytes(item.code))
            if not (known or (known is None and router.reads_condition(item))):
                skipped += 1
                continue
        elif kind in FAST_MED_USES:
            if not names_a_medication(item):  # `reads_medication_use` inlined for a known concept
                known = medications.get(bytes(item.medication_codeable_concept))
                if not (known or (known is None and router.reads_medication_use(item))):
                    skipped += 1
                    continue
        elif kind not in SUBJECTED_KINDS:  # a Patient, a Medication, a type never read
            _route_one(*router.route(item, line), number, writer, shards, counts, problems)
            last = _NOTHING  # `_route_one` may have started another run in the same buffer
            continue
        subject = item.subject
        reference = subject.reference if subject is not None else None
        if reference != last:
            last = reference
            if reference is not None and reference.startswith("Patient/") and reference.count("/") == 1:
                owner = reference  # what `patient_reference` gives for a plain "Patient/<id>"
            else:
                owner = patient_reference(item, _NO_ALIASES)
            append = None if owner is None else writer.run(shard_of(owner, shards), owner)
        if append is None:
            unowned += 1
        else:
            append(line)
            routed += 1
    counts[Route.PATIENT] += routed
    counts[Route.SKIP] += skipped
    counts[Route.UNOWNED] += unowned
