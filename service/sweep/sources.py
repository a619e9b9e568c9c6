"""Bulk Data NDJSON folders as a sweep source: `<ResourceType>.ndjson` or `.ndjson.gz` per type.

A folder may hold several files per type (`Observation.ndjson`, `Observation.2.ndjson`, ... as
exports split them); the type is the file name's first dotted part. A source is one folder or
several *layers* (an incremental export on top of earlier ones): files of a later layer come
later in the stream, so their copy of a resource wins (`fhir_assemble` keeps the last copy).

Files are read in chunks that end at a line boundary: nothing reads a whole file into memory.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import msgspec

from service.adapters import fhir_model as fm

CHUNK_BYTES = 1024 * 1024  # larger chunks cost more in page faults (fresh memory each) than they save
SPLIT_BYTES = 64 * 1024 * 1024  # plain files larger than this are partitioned in pieces, in parallel
SUFFIXES = (".ndjson", ".ndjson.gz")
# Types the rules read; every other known FHIR type is skipped by file name, before decompression.
READ_TYPES = frozenset(fm.TYPES)
KNOWN_TYPES = READ_TYPES | frozenset(fm.OTHER_TYPES) | {"Bundle"}
_GZIP_RATIO = 8  # uncompressed/compressed estimate when the gzip trailer cannot tell


class SourceError(ValueError):
    """The source folder is missing or holds no NDJSON file."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: Path
    resource_type: str  # from the file name; "" when the name names no FHIR type
    layer: int = 0
    index: int = 0  # the file's place in its layer (name order)
    start: int = 0  # a piece of a large plain file: bytes [start, end), whole lines
    end: int | None = None
    piece: int | None = None

    @property
    def gzipped(self) -> bool:
        return self.path.name.endswith(".gz")

    @property
    def part_name(self) -> str:
        """The name of this file's (or piece's) part in a shard. Parts sort as the source reads:
        layer, then file, then piece; so the last copy of a resource is still the newest one."""
        stem = self.path.name.removesuffix(".gz").removesuffix(".ndjson")
        piece = "" if self.piece is None else f".p{self.piece:04d}"
        return f"{self.layer:03d}-{self.index:05d}-{stem}{piece}.ndjson"

    def pieces(self, size: int = SPLIT_BYTES) -> list[SourceFile]:
        """A plain file larger than `size` as pieces that start at line starts (partitioned in
        parallel); a gzip file cannot be entered in the middle: it stays whole."""
        total = self.path.stat().st_size
        if self.gzipped or total <= size:
            return [self]
        starts = [0]
        with self.path.open("rb") as fh:
            for k in range(1, math.ceil(total / size)):
                fh.seek(k * size - 1)
                fh.readline()  # to the start of the next line
                if starts[-1] < fh.tell() < total:
                    starts.append(fh.tell())
        ends = [*starts[1:], total]
        return [
            dataclasses.replace(self, start=a, end=b, piece=n)
            for n, (a, b) in enumerate(zip(starts, ends, strict=True))
        ]

    @property
    def read_by_rules(self) -> bool:
        return self.resource_type in READ_TYPES or self.resource_type not in KNOWN_TYPES

    def estimated_bytes(self) -> int:
        """Uncompressed size: exact for plain files (and pieces); from the gzip trailer (mod 4 GiB)
        otherwise."""
        if self.end is not None:
            return self.end - self.start
        size = self.path.stat().st_size
        if not self.gzipped or size < 18:
            return size
        with self.path.open("rb") as fh:
            fh.seek(-4, os.SEEK_END)
            trailer = int.from_bytes(fh.read(4), "little")
        return max(trailer, size * _GZIP_RATIO if trailer < size else trailer)


def _type_of(name: str) -> str:
    first = name.split(".", 1)[0]
    return first if first in KNOWN_TYPES else ""


def folder_files(folder: Path, layer: int = 0) -> list[SourceFile]:
    """The NDJSON files of one folder, in name order (deterministic), with their types."""
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a folder")
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.endswith(SUFFIXES) and not p.name.startswith(".")
    )
    return [SourceFile(p, _type_of(p.name), layer, index) for index, p in enumerate(files)]


@dataclass(frozen=True, slots=True)
class NdjsonSource:
    """One folder, or layers of folders (oldest first), of Bulk Data NDJSON files."""

    layers: tuple[Path, ...]

    @classmethod
    def of(cls, folders: Path | Sequence[Path]) -> NdjsonSource:
        return cls((folders,) if isinstance(folders, Path) else tuple(folders))

    def files(self) -> list[SourceFile]:
        out = [f for layer, folder in enumerate(self.layers) for f in folder_files(folder, layer)]
        if not out:
            names = ", ".join(str(p) for p in self.layers)
            raise SourceError(f"{names}: no *.ndjson or *.ndjson.gz file")
        return out

    def deleted(self) -> dict[str, int]:
        """ "Type/id" → the latest layer that deletes it: the `deleted` Bundles a Bulk Data export
        lists (kept in `<layer>/deleted/`); earlier layers' copies are left out of the sweep."""
        out: dict[str, int] = {}
        for layer, folder in enumerate(self.layers):
            for file in folder_files(folder / "deleted", layer) if (folder / "deleted").is_dir() else ():
                for chunk in read_chunks(file):
                    for line in chunk.splitlines():
                        for ref in deleted_references(line):
                            out[ref] = layer
        return out

    def describe(self) -> str:
        return (
            str(self.layers[-1]) if len(self.layers) == 1 else f"{self.layers[-1]} (+{len(self.layers) - 1})"
        )


class _Request(msgspec.Struct):
    method: str = ""
    url: str = ""


class _Entry(msgspec.Struct):
    request: _Request | None = None


class _Deletions(msgspec.Struct):
    entry: list[_Entry] = []


def deleted_references(line: bytes) -> list[str]:
    """The "Type/id" of each DELETE entry of one Bundle line (Bulk Data `deleted` output)."""
    if not line.strip():
        return []
    try:
        bundle = msgspec.json.decode(line, type=_Deletions)
    except msgspec.DecodeError:
        return []
    refs = []
    for e in bundle.entry:
        if e.request is not None and e.request.method.upper() == "DELETE":
            url = e.request.url.split("?", 1)[0].strip("/")
            if url.count("/") == 1:
                refs.append(url)
    return refs


def _open(file: SourceFile) -> BinaryIO:
    if file.gzipped:
        return gzip.open(file.path, "rb")  # type: ignore[return-value]
    return file.path.open("rb")


def read_chunks(file: SourceFile, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The file's (or piece's) bytes in chunks of whole lines (the last may lack its newline): `size`
    bytes, then the rest of the line they end in (one copy of a chunk, not two)."""
    with _open(file) as fh:
        left = None
        if file.end is not None:
            fh.seek(file.start)
            left = file.end - file.start  # a piece ends at a line start: its last line ends in it
        while left is None or left > 0:
            block = fh.read(size if left is None else min(size, left))
            if not block:
                break
            if block[-1] != 10:  # b"\n"
                block += fh.readline()
            if left is not None:
                left -= len(block)
            yield block
