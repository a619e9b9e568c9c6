"""Population-sweep tasks (issue #5). Each task is a one-liner that calls a use case.

`osteoalert.sweep_shard(shard, options)` evaluates one shard of a sweep (paths and options only on
the broker, never patient data) and returns the shard's output path. The sweep sends one task per
shard as a group (`CeleryShardRunner`) and merges the outputs itself; adding workers (which must
see the sweep's work folder, e.g. a shared volume) is how a larger population is handled. A task
rewrites its output whole, so a redelivery after a worker died is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from celery import Celery, group
from celery.result import GroupResult

from service.sweep.evaluate import ShardJob, evaluate_shard
from worker.context import WorkerContext

SWEEP_SHARD = "osteoalert.sweep_shard"


def register(app: Celery, context: WorkerContext) -> None:
    """Register the sweep tasks on `app`."""

    # shared=False: a shared task is re-registered on every later app of the process (tests build several).
    @app.task(name=SWEEP_SHARD, ignore_result=False, acks_late=True, shared=False)
    def sweep_shard(shard: str, options: dict[str, Any]) -> str:
        started = time.perf_counter()
        try:
            path = str(evaluate_shard(context.engine, ShardJob.from_task(shard, options)))
        except Exception:
            context.telemetry.task_done(SWEEP_SHARD, "failed", time.perf_counter() - started)
            raise
        context.telemetry.task_done(SWEEP_SHARD, "succeeded", time.perf_counter() - started)
        return path


class CeleryShardRunner:
    """Evaluates a sweep's shards as one Celery group on the configured workers."""

    def __init__(
        self,
        app: Celery,
        *,
        queue: str | None = None,
        poll_seconds: float = 0.5,
        timeout: float | None = None,
    ) -> None:
        self.app = app
        self.queue = queue
        self.poll_seconds = poll_seconds
        self.timeout = timeout

    def run(self, jobs: Sequence[ShardJob], progress: Callable[[int], None]) -> list[Path]:
        tasks = group(self.app.signature(SWEEP_SHARD, args=job.task_args()) for job in jobs)
        sent = tasks.apply_async(queue=self.queue) if self.queue else tasks.apply_async()
        result = cast(GroupResult, sent)  # a group's apply_async gives a GroupResult
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        try:
            while not result.ready():
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"sweep shards not done after {self.timeout:.0f} s")
                progress(result.completed_count())
                time.sleep(self.poll_seconds)
            paths: list[str] = result.get(propagate=True)
        finally:
            result.forget()
        progress(len(jobs))
        return [Path(p) for p in paths]
