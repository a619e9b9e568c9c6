"""The sweep use case: source → partition → evaluate shards in parallel → merge → outputs.

Shards are evaluated by a `ShardRunner`: `LocalPool` (a process pool on this machine: the
embedded default) or the Celery runner of `worker.sweeps` (a group on the configured workers,
chosen by the CLI when `OSTEOALERT_REDIS_URL` is set; the workers must see the work folder, e.g.
on a shared volume). Partitioning always runs here, in the local pool: one task per file, or per
piece of a large plain file (`piece_bytes`), largest first, so that the workers finish together.

Memory is bounded by the shard size, not the population: `auto_shards` picks enough shards for
~`SHARD_TARGET_BYTES` of NDJSON each.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson

from service.evaluation import Engine
from service.sweep.evaluate import ShardJob, evaluate_shard
from service.sweep.outputs import SweepOutputs, write_outputs
from service.sweep.partition import PartitionStats, partition_file, problems_dir, shard_dir, shared_dir
from service.sweep.reads import Reads
from service.sweep.sources import SPLIT_BYTES, NdjsonSource, SourceFile
from service.sweep.tally import SweepInfo, per_thousand

SHARD_TARGET_BYTES = 64 * 1024 * 1024
PIECES_PER_WORKER = 4
MIN_PIECE_BYTES = 4 * 1024 * 1024
T = TypeVar("T")


class Progress(Protocol):
    def __call__(self, stage: str, done: int, total: int) -> None: ...


def no_progress(stage: str, done: int, total: int) -> None:
    """The default progress sink: nothing shown."""


class ShardRunner(Protocol):
    """Evaluates shard jobs somewhere and returns their output paths (in any order)."""

    def run(self, jobs: Sequence[ShardJob], progress: Callable[[int], None]) -> list[Path]: ...


# One engine per pool process, set by the pool initializer (after fork/spawn, never at import).
_engine: Engine | None = None


def _init_process(engine: Engine) -> None:
    global _engine  # noqa: PLW0603 - per-process worker state, set once by the pool initializer
    _engine = engine


def _evaluate_in_process(job: ShardJob) -> Path:
    if _engine is None:
        raise RuntimeError("sweep pool process started without an engine")
    return evaluate_shard(_engine, job)


def _completed(
    executor: Executor | None, fn: Callable[..., T], calls: Sequence[tuple[Any, ...]]
) -> Iterator[T]:
    """Results as they complete; in this process when there is no executor (one worker)."""
    if executor is None:
        for args in calls:
            yield fn(*args)
        return
    futures = [executor.submit(fn, *args) for args in calls]
    for future in as_completed(futures):
        yield future.result()


def _pool_context() -> multiprocessing.context.BaseContext:
    """fork when this process runs one thread (workers start at once, modules already imported);
    forkserver otherwise, since forking a process with other threads can deadlock the child."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["service.sweep.run"])
    return context


class LocalPool:
    """A local process pool or, for one worker, this process."""

    def __init__(self, engine: Engine, workers: int) -> None:
        self.engine = engine
        self.workers = max(1, workers)
        self.executor: ProcessPoolExecutor | None = None
        if self.workers > 1:
            self.executor = ProcessPoolExecutor(
                self.workers, mp_context=_pool_context(), initializer=_init_process, initargs=(engine,)
            )
        else:
            _init_process(engine)

    def map(self, fn: Callable[..., T], calls: Sequence[tuple[Any, ...]]) -> Iterator[T]:
        return _completed(self.executor, fn, calls)

    def run(self, jobs: Sequence[ShardJob], progress: Callable[[int], None]) -> list[Path]:
        outputs = []
        for path in self.map(_evaluate_in_process, [(job,) for job in jobs]):
            outputs.append(path)
            progress(len(outputs))
        return outputs

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)


def piece_bytes(files: Sequence[SourceFile], workers: int) -> int:
    """How large a piece of a plain file is partitioned by one task: small enough that every
    worker gets several tasks (the largest go first, so the workers finish together), at most
    `SPLIT_BYTES`, at least `MIN_PIECE_BYTES`."""
    if workers <= 1:
        return SPLIT_BYTES
    estimated = sum(f.estimated_bytes() for f in files)
    return max(MIN_PIECE_BYTES, min(SPLIT_BYTES, estimated // (PIECES_PER_WORKER * workers)))


def auto_shards(files: Sequence[SourceFile], workers: int) -> int:
    estimated = sum(f.estimated_bytes() for f in files)
    return max(2 * workers, math.ceil(estimated / SHARD_TARGET_BYTES), 1)


@dataclass(frozen=True, slots=True)
class SweepOptions:
    out: Path
    at: datetime
    shards: int | None = None  # None: `auto_shards`
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    strict: bool = False
    work: Path | None = None  # default: <out>/.sweep-work (must be shared with remote workers)
    keep_work: bool = False
    extra_problems: tuple[Path, ...] = ()  # e.g. the Bulk Data export's error file


@dataclass(frozen=True, slots=True)
class SweepResult:
    outputs: SweepOutputs
    files: int
    shards: int
    workers: int
    seconds: dict[str, float]
    partition: tuple[PartitionStats, ...]

    @property
    def patients_per_second(self) -> float:
        total = self.seconds["total"]
        return self.outputs.tally.patients / total if total else 0.0

    def summary_line(self) -> str:
        t = self.outputs.tally
        return (
            f"swept {t.patients:,} patients in {self.seconds['total']:.1f} s "
            f"({self.patients_per_second:,.0f}/s): {t.total_findings:,} findings for {t.with_findings:,} "
            f"patients ({per_thousand(t.with_findings, t.eligible):,.1f} per 1,000 eligible); "
            f"{self.outputs.problems:,} problems; outputs in {self.outputs.out}"
        )


def _partition_in_process(file: SourceFile, work: Path, shards: int, deleted: dict[str, int],
                          strict: bool) -> PartitionStats:  # fmt: skip
    """Partition one file (or piece) in a pool process. What the snapshot would not read is left out
    of the shards (`reads.Reads`), except in strict mode, where every resource of the rules' types is
    validated (and reported when invalid) as `evaluate --strict` does."""
    if _engine is None:
        raise RuntimeError("sweep pool process started without an engine")
    return partition_file(file, work, shards, deleted, None if strict else Reads.of(_engine.codesets))


def _partition(pool: LocalPool, files: list[SourceFile], work: Path, shards: int, deleted: dict[str, int],
               strict: bool, progress: Progress) -> list[PartitionStats]:  # fmt: skip
    stats = []
    progress("partition", 0, len(files))
    largest_first = sorted(files, key=lambda f: f.estimated_bytes(), reverse=True)
    calls = [(f, work, shards, deleted, strict) for f in largest_first]
    for done in pool.map(_partition_in_process, calls):
        stats.append(done)
        progress("partition", len(stats), len(files))
    return sorted(stats, key=lambda s: s.file)


class SweepError(ValueError):
    """The sweep cannot start (e.g. a work folder that is not ours)."""


WORK_MARKER = ".osteoalert-sweep-work"


def _fresh_work(work: Path) -> None:
    """An empty work folder: a previous, interrupted sweep's parts would otherwise be read twice.
    Only a folder this code made (it holds the marker) is ever emptied."""
    if work.exists():
        if any(work.iterdir()) and not (work / WORK_MARKER).exists():
            raise SweepError(f"{work}: work folder is not empty and was not made by a sweep")
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / WORK_MARKER).touch()


def _jobs(work: Path, shards: int, at: datetime, strict: bool) -> list[ShardJob]:
    results = work / "results"
    return [
        ShardJob(
            str(shard_dir(work, k)),
            str(shared_dir(work)),
            str(results / f"{k:05d}.ndjson"),
            at.isoformat(),
            strict,
        )
        for k in range(shards)
        if shard_dir(work, k).is_dir()
    ]


def sweep(
    engine: Engine,
    source: NdjsonSource,
    options: SweepOptions,
    *,
    runner: ShardRunner | None = None,
    progress: Progress = no_progress,
) -> SweepResult:
    """Run the batch rules over every patient of `source`; write the outputs to `options.out`."""
    start = time.perf_counter()
    at = options.at if options.at.tzinfo is not None else options.at.replace(tzinfo=UTC)
    files = [f for f in source.files() if f.read_by_rules]
    shards = options.shards or auto_shards(files, options.workers)
    work = options.work or options.out / ".sweep-work"
    _fresh_work(work)
    pool = LocalPool(engine, options.workers)
    try:
        size = piece_bytes(files, options.workers)
        pieces = [piece for f in files for piece in f.pieces(size)]  # large plain files in parallel
        stats = _partition(pool, pieces, work, shards, source.deleted(), options.strict, progress)
        partitioned = time.perf_counter()
        jobs = _jobs(work, shards, at, options.strict)
        progress("evaluate", 0, len(jobs))
        outputs = (runner or pool).run(jobs, lambda done: progress("evaluate", done, len(jobs)))
        evaluated = time.perf_counter()
    finally:
        pool.close()
    extra = tuple(sorted(problems_dir(work).glob("*.ndjson"))) if problems_dir(work).is_dir() else ()
    info = SweepInfo(at=at, source=source.describe(), strict=options.strict,
                     extra_problems=options.extra_problems + extra)  # fmt: skip
    written = write_outputs(sorted(outputs), options.out, info)
    end = time.perf_counter()
    seconds = {
        "partition": partitioned - start,
        "evaluate": evaluated - partitioned,
        "outputs": end - evaluated,
        "total": end - start,
    }
    result = SweepResult(written, len(files), shards, options.workers, seconds, tuple(stats))
    _write_summary(result)
    if not options.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _write_summary(result: SweepResult) -> None:
    summary = {
        "counts": result.outputs.tally.to_dict(),
        "problems": result.outputs.problems,
        "files": result.files,
        "shards": result.shards,
        "workers": result.workers,
        "seconds": result.seconds,
        "patients_per_second": result.patients_per_second,
        "partition": [dataclasses.asdict(s) for s in result.partition],
    }
    (result.outputs.out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
