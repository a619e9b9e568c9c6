"""Shared pieces of the background-path tests: the Backport IG examples, vignette patients on the FHIR
test double, settings built explicitly, and the store fixtures (SQLite and PostgreSQL) of the store
contract suite."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.adapters.codesets import load_codesets
from service.adapters.fhir_auth import FhirConnection, NoAuth
from service.adapters.fhir_context import ContextPlan
from service.adapters.store import SqlAlertStore, make_engine, upgrade_to_head
from service.evaluation import Background, Engine
from service.settings import Settings
from tests.builders import T
from tests.fhir_double import FhirDouble

# The store contract suite's fixtures: every test using `engine` runs on SQLite and PostgreSQL.
from tests.service.store.conftest import database_url, empty_engine, engine, postgres_url  # noqa: F401

Json = dict[str, Any]
FHIR_BASE = "http://fhir.test"
SAMPLES = Path(__file__).resolve().parents[3] / "service" / "samples"


def backport(shared_fixtures: Path, name: str) -> bytes:
    return (shared_fixtures / "subscriptions-backport" / name).read_bytes()


def vignette(name: str) -> Json:
    data: Json = json.loads((SAMPLES / f"{name}.json").read_text())
    return data


def make_settings(tmp_path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'osteoalert.db'}",
        "fhir_base_url": FHIR_BASE,
        "worker_retry_base_seconds": 0.01,
        "worker_retry_max_seconds": 0.05,
    } | changes
    return Settings(**values)


@pytest.fixture(scope="session")
def rule_engine() -> Engine:
    codesets = load_codesets()
    return Engine(codesets, Settings().parameters())


@pytest.fixture
def double() -> FhirDouble:
    fhir = FhirDouble(page_size=5)  # small pages: paging is followed in every test
    fhir.load(vignette("V01"), prefix="v01-")
    fhir.load(vignette("V04"), prefix="v04-")
    return fhir


@pytest.fixture
async def fhir_http(double: FhirDouble) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=double.app), base_url=FHIR_BASE) as http:
        yield http


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Any]:
    database = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade_to_head(database)
    yield database
    database.dispose()


@pytest.fixture
def background(rule_engine: Engine, fhir_http: httpx.AsyncClient, sqlite_engine: Any) -> Background:
    plan = ContextPlan.build(rule_engine.codesets)
    connection = FhirConnection(FHIR_BASE, fhir_http, NoAuth())
    return Background(rule_engine, connection, plan, SqlAlertStore(sqlite_engine), lambda: T)
