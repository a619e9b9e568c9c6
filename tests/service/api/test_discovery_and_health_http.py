"""Discovery over HTTP, and the probes: /healthz (process up) and /readyz (database, Redis)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from service.adapters.store.engine import writer
from tests.service.api.ehr import KEYS, operation_outcome_of, serving, settings
from tests.service.cds.card_shape import assert_valid_discovery

REDIS_URL = "redis://127.0.0.1:6379/0"
SERVICES = {
    "osteoalert-patient-view": "patient-view",
    "osteoalert-order-select": "order-select",
    "osteoalert-order-sign": "order-sign",
}


async def test_discovery_lists_the_three_services_with_every_prefetch_key(tmp_path: Path) -> None:
    async with serving(settings(tmp_path)) as (_, client):
        response = await client.get("/cds-services")
    assert response.status_code == httpx.codes.OK
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert_valid_discovery(document)
    assert {s["id"]: s["hook"] for s in document["services"]} == SERVICES
    for service in document["services"]:
        assert tuple(service["prefetch"]) == KEYS
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert service["prefetch"]["observations"].startswith(
            "Observation?patient={{context.patientId}}&code="
        )
        assert "http://loinc.org|2731-8" in service["prefetch"]["observations"]  # PTH
        assert service["prefetch"]["medications"] == "MedicationRequest?patient={{context.patientId}}"


async def test_healthz_says_the_process_is_up(tmp_path: Path) -> None:
    async with serving(settings(tmp_path)) as (_, client):
        response = await client.get("/healthz")
    assert response.status_code == httpx.codes.OK
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_with_a_migrated_database_and_no_redis_configured(tmp_path: Path) -> None:
    async with serving(settings(tmp_path)) as (_, client):
        response = await client.get("/readyz")
    assert response.status_code == httpx.codes.OK
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "not configured"}}


async def test_readyz_is_503_when_the_migrations_are_not_at_head(tmp_path: Path) -> None:
    async with serving(settings(tmp_path)) as (app, client):
        with writer(app.state.runtime.database).begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        response = await client.get("/readyz")
    assert response.status_code == httpx.codes.SERVICE_UNAVAILABLE
    assert operation_outcome_of(response) == "not ready: database: migrations not at head"
    assert response.headers["retry-after"] == "1"


async def test_readyz_is_503_naming_redis_when_it_does_not_answer(tmp_path: Path) -> None:
    async with serving(settings(tmp_path, redis_url="redis://127.0.0.1:1/0")) as (_, client):
        response = await client.get("/readyz")
    assert response.status_code == httpx.codes.SERVICE_UNAVAILABLE
    assert operation_outcome_of(response) == "not ready: redis: unreachable"


async def test_the_store_is_migrated_at_start_up(tmp_path: Path) -> None:
    async with serving(settings(tmp_path)) as (app, _):
        with app.state.runtime.database.connect() as connection:
            tables = {row[0] for row in connection.execute(text("SELECT name FROM sqlite_master"))}
    assert {"cds_feedback", "alerts", "cds_cards"} <= tables


async def test_readyz_pings_a_configured_redis(tmp_path: Path) -> None:
    redis = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await redis.ping()
    except (RedisError, OSError) as err:
        pytest.skip(reason=f"!!! REDIS NOT TESTED: cannot reach {REDIS_URL} ({err}) !!!")
    finally:
        await redis.aclose()
    async with serving(settings(tmp_path, redis_url=REDIS_URL)) as (_, client):
        response = await client.get("/readyz")
    assert response.status_code == httpx.codes.OK
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}
