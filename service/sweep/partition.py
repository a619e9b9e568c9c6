"""Stream every NDJSON file once and write its lines into per-shard files on disk.

A line goes to shard `blake2b(patient reference) mod N`, so each patient's lines meet in one
shard however the export ordered them, and a shard is evaluated without the rest of the
population. Only the patient is read from each line (`routing.route_lines`: a small msgspec
Struct, one C call per chunk of lines; `fhir_assemble.patient_reference` names the patient); the
line itself is copied byte for byte. Medications name no patient: they go to a shared file every
shard reads (their number grows with the formulary, not the population). Lines of types the rules
never read, and Observations in no code set, are skipped (not in strict mode).

Each file writes its own part of every shard (`shards/<k>/<layer>-<file>.ndjson`, with an
`.owners` sidecar naming each line's patient, so that the shard is grouped without parsing its JSON
a second time), so files can be partitioned in parallel without locks. Memory: one chunk plus
bounded write buffers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from service.sweep.routing import Route, ref_of, route_lines, shard_of
from service.sweep.sources import SourceFile, read_chunks

FLUSH_BYTES = 8 * 1024 * 1024
MAX_RECORDED_PROBLEMS = 1000  # per file; the rest are counted


# ---- layout of the work folder --------------------------------------------------------------
def shard_dir(work: Path, shard: int) -> Path:
    return work / "shards" / f"{shard:05d}"


def shared_dir(work: Path) -> Path:
    return work / "shared"


def problems_dir(work: Path) -> Path:
    return work / "problems"


def owners_path(part: Path) -> Path:
    """The sidecar of a shard part: the patient of each of its lines, one per line, so that the
    shard is grouped without reading its JSON again."""
    return part.with_name(part.name + ".owners")


class _Writer:
    """Per-shard write buffers; the caller flushes them (append, close) between chunks, once they
    hold `FLUSH_BYTES` in all."""

    def __init__(self, work: Path, part: str) -> None:
        self.work = work
        self.part = part
        self.buffers: dict[int, tuple[list[bytes], list[str]]] = {}
        self.shared: list[bytes] = []
        self.size = 0

    def add(self, shard: int, line: bytes, owner: str) -> None:
        buffer = self.buffers.get(shard)
        if buffer is None:
            self.buffers[shard] = ([line], [owner])
        else:
            buffer[0].append(line)
            buffer[1].append(owner)

    def flush(self) -> None:
        for shard, (lines, owners) in self.buffers.items():
            part = shard_dir(self.work, shard) / self.part
            _append(part, lines)
            _append(owners_path(part), [o.encode() for o in owners])
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
    observation_codes: frozenset[str] | None = None,
) -> PartitionStats:
    """Write `file`'s lines into the shards of `work`; `deleted` maps "Type/id" to the layer that
    deletes it (a line of an earlier layer is left out); with `observation_codes`, Observations
    the snapshot would not read are left out (`route_lines`)."""
    start = time.perf_counter()
    counts = dict.fromkeys(Route.ALL, 0)
    writer = _Writer(work, file.part_name)
    problems = _Problems(work, file)
    removed = seen = routed = 0  # seen: non-blank lines so far, for problem line numbers
    lines: list[bytes]
    owners: list[str]
    for chunk in read_chunks(file):
        buffers = writer.buffers
        last_owner, lines, owners = "", [], []
        for route, line, owner in route_lines(chunk, observation_codes):
            seen += 1
            if route == Route.PATIENT and not deleted:  # the hot path, inlined
                if owner != last_owner:  # a patient's lines usually come together
                    shard = shard_of(owner, shards)
                    if shard not in buffers:
                        buffers[shard] = ([], [])
                    last_owner, (lines, owners) = owner, buffers[shard]
                lines.append(line)
                owners.append(owner)
                routed += 1
                continue
            if deleted and route in (Route.PATIENT, Route.SHARED) and _is_deleted(line, file, deleted):
                removed += 1
                continue
            counts[route] += 1
            if route == Route.PATIENT:
                writer.add(shard_of(owner, shards), line, owner)
            elif route == Route.SHARED:
                writer.shared.append(line)
            elif route == Route.BAD:
                problems.add("bad-line", owner, seen)
        writer.size += len(chunk)
        if writer.size >= FLUSH_BYTES:  # between chunks only: `buffers` above must stay current
            writer.flush()
    writer.flush()
    problems.close(counts[Route.UNOWNED])
    piece = "" if file.piece is None else f" [bytes {file.start}-{file.end}]"
    return PartitionStats(
        file=f"{file.path}{piece}",
        lines=seen,
        routed=routed + counts[Route.PATIENT],
        shared=counts[Route.SHARED],
        skipped=counts[Route.SKIP],
        unowned=counts[Route.UNOWNED],
        deleted=removed,
        bad=counts[Route.BAD],
        seconds=time.perf_counter() - start,
    )
