"""Sweep shards on Celery: a real worker on the machine's real Redis gives the very same outputs as
the local process pool. Skipped LOUDLY when Redis (127.0.0.1:6379) is not reachable."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from celery.contrib.testing.worker import start_worker

from service.settings import Settings
from service.sweep.evaluate import ShardJob
from service.sweep.run import SweepOptions, sweep
from service.sweep.sources import NdjsonSource
from tests.service.sweep.population import SAMPLES_AT, default_engine, samples_folder
from worker.celery_app import make_celery
from worker.sweeps import SWEEP_SHARD, CeleryShardRunner

REDIS_URL = "redis://127.0.0.1:6379/0"
# worker/tasks.py (issue 4) registers its tasks as *shared* Celery tasks, so every app built after the
# first in one process re-registers the earlier apps' closures and warns. Not this module's tasks
# (they are not shared): only those names are let through.
# Celery's Redis result backend still calls redis-py's deprecated `setex` when it stores a result.
pytestmark = [
    pytest.mark.filterwarnings(
        r"ignore:Task name 'osteoalert\.(evaluate_patient|recover_events|check_subscriptions)'"
        ":celery.exceptions.DuplicateTaskNameWarning"
    ),
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]
OUTPUTS = ("worklist.csv", "findings.ndjson", "problems.ndjson", "measure_report.json", "report.html")


@pytest.fixture(scope="module")
def queue() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(
            reason=f"LOUD SKIP: Redis not reachable at {REDIS_URL}; the Celery sweep path is untested"
        )
    return f"osteoalert-test-sweeps-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def app(queue: str) -> Iterator[Celery]:
    app = make_celery(Settings(redis_url=REDIS_URL, celery_queue=queue))
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, queues=[queue]):
        yield app


def test_the_sweep_task_is_registered_under_its_stable_name() -> None:
    app = make_celery(Settings())
    assert SWEEP_SHARD in app.tasks


def test_a_shard_task_carries_paths_and_options_only() -> None:
    job = ShardJob("/w/shards/00001", "/w/shared", "/w/results/00001.ndjson", "2026-01-15T12:00:00+00:00")
    shard, options = job.task_args()
    assert json.loads(json.dumps([shard, options])) == [shard, options]
    assert ShardJob.from_task(shard, options) == job


@pytest.mark.slow
def test_shards_swept_by_a_celery_worker_on_redis_give_the_local_pools_outputs(
    app: Celery, queue: str, tmp_path: Path
) -> None:
    folder = samples_folder(tmp_path / "in")
    engine = default_engine()
    local = sweep(
        engine, NdjsonSource.of(folder), SweepOptions(out=tmp_path / "local", at=SAMPLES_AT, workers=2)
    )
    runner = CeleryShardRunner(app, queue=queue, poll_seconds=0.05, timeout=60)
    seen: list[tuple[str, int, int]] = []
    remote = sweep(
        engine,
        NdjsonSource.of(folder),
        SweepOptions(out=tmp_path / "celery", at=SAMPLES_AT, workers=1, shards=5),
        runner=runner,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    assert remote.outputs.tally.to_dict() | {"seconds": 0} == local.outputs.tally.to_dict() | {"seconds": 0}
    for name in OUTPUTS:
        assert (tmp_path / "celery" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    assert ("evaluate", 5, 5) in seen
