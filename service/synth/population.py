"""Write a synthetic population as Bulk Data NDJSON, one file per resource type, plus a manifest.

Patients are generated one at a time and their lines written at once, so memory does not grow
with N. Patient i is drawn from its own `random.Random(seed · 2^40 + i)`: the output depends only
on (N, seed, T), byte for byte, and any range of patients can be regenerated on its own. Gzip
output uses mtime 0 so that it is reproducible too.
"""

from __future__ import annotations

import bisect
import gzip
import io
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

# Importing the archetype modules registers them, in a fixed order.
from service.synth import archetypes_bone, archetypes_mineral, archetypes_plain  # noqa: F401
from service.synth.background import add_background
from service.synth.chart import Chart
from service.synth.record import TYPES, Clock
from service.synth.registry import ARCHETYPES, Archetype
from service.synth.report import manifest

MANIFEST = "synth-manifest.json"
_SEED_STRIDE = 1 << 40
_BUFFER = 1 << 20


@dataclass(frozen=True, slots=True)
class SynthOptions:
    patients: int
    out: Path
    at: datetime
    seed: int = 0
    gzip: bool = False
    compresslevel: int = 3


@dataclass(slots=True)
class SynthSummary:
    patients: int
    resources: Counter[str] = field(default_factory=Counter)
    archetypes: Counter[str] = field(default_factory=Counter)
    files: list[Path] = field(default_factory=list)
    manifest: Path | None = None


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Picker:
    """Archetype by weight, from one uniform draw."""

    def __init__(self, archetypes: list[Archetype]) -> None:
        self.archetypes = archetypes
        self.bounds: list[float] = []
        total = 0.0
        for a in archetypes:
            total += a.weight
            self.bounds.append(total)
        self.total = total

    def pick(self, rng: random.Random) -> Archetype:
        return self.archetypes[bisect.bisect_right(self.bounds, rng.random() * self.total)]


def patient_charts(seed: int, at: datetime, start: int, stop: int) -> Iterator[tuple[Archetype, Chart]]:
    """Patients `start` to `stop - 1` of the population of `seed`, one filled chart at a time."""
    if seed < 0:
        raise ValueError("the seed must be a non-negative integer")
    clock = Clock(at)
    picker = _Picker(ARCHETYPES)
    for i in range(start, stop):
        rng = random.Random(seed * _SEED_STRIDE + i)  # noqa: S311 (synthetic data, not secrets)
        chosen = picker.pick(rng)
        chart = Chart(rng, clock, _uuid(rng), chosen.name)
        chosen.build(chart)
        add_background(chart)
        yield chosen, chart


def _open(path: Path, gz: bool, level: int, stack: ExitStack) -> IO[bytes]:
    raw = stack.enter_context(open(path, "wb", buffering=_BUFFER))  # noqa: SIM115
    if not gz:
        return raw
    zipped = stack.enter_context(
        gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw, compresslevel=level, mtime=0)
    )
    return stack.enter_context(io.BufferedWriter(zipped, buffer_size=_BUFFER))


def generate_population(options: SynthOptions) -> SynthSummary:
    """Write `options.patients` patients to `options.out` and the manifest next to them."""
    if options.patients < 0:
        raise ValueError("the number of patients must be ≥ 0")
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    suffix, other = (".ndjson.gz", ".ndjson") if options.gzip else (".ndjson", ".ndjson.gz")
    for name in TYPES:  # a previous run's files in the other format would be read twice
        (out / f"{name}{other}").unlink(missing_ok=True)
    summary = SynthSummary(options.patients)
    with ExitStack() as stack:
        handles = []
        for name in TYPES:
            path = out / f"{name}{suffix}"
            summary.files.append(path)
            handles.append(_open(path, options.gzip, options.compresslevel, stack))
        counts = [0] * len(TYPES)
        for chosen, chart in patient_charts(options.seed, options.at, 0, options.patients):
            summary.archetypes[chosen.name] += 1
            for k, lines in enumerate(chart.lines):
                if lines:
                    counts[k] += len(lines)
                    handles[k].write(b"".join(lines))
    summary.resources.update(dict(zip(TYPES, counts, strict=True)))
    summary.manifest = out / MANIFEST
    data: dict[str, Any] = manifest(
        patients=options.patients, seed=options.seed, at=options.at, gz=options.gzip,
        archetypes=summary.archetypes, resources=summary.resources, suffix=suffix,
    )  # fmt: skip
    summary.manifest.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    return summary
