"""Worker tests: the FHIR test double on a real socket, a migrated SQLite store, the worker context
with the evaluation instant pinned to T (the vignettes are dated against it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.adapters.store import make_engine, upgrade_to_head
from service.settings import Settings
from tests.builders import T
from tests.fhir_double import FhirDouble, serve_in_thread
from tests.service.notifications.conftest import make_settings, vignette
from worker.context import WorkerContext


@pytest.fixture
def ehr() -> Iterator[tuple[FhirDouble, str]]:
    double = FhirDouble(page_size=5)
    double.load(vignette("V01"), prefix="v01-")
    double.load(vignette("V04"), prefix="v04-")
    with serve_in_thread(double) as base_url:
        yield double, base_url


@pytest.fixture
def worker_settings(tmp_path: Path, ehr: tuple[FhirDouble, str]) -> Settings:
    settings = make_settings(tmp_path, fhir_base_url=ehr[1], worker_max_retries=4)
    database = make_engine(settings.database_url)
    upgrade_to_head(database)  # the service migrates at start-up; workers never do
    database.dispose()
    return settings


@pytest.fixture
def context(worker_settings: Settings) -> Iterator[WorkerContext]:
    ctx = WorkerContext(worker_settings, clock=lambda: T)
    yield ctx
    ctx.close()
