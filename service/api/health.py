"""Probes: /healthz (the process answers) and /readyz (its dependencies answer).

Ready means the database is reachable with its migrations at head, and Redis answers a PING when
one is configured. Each failing check is named in the 503 OperationOutcome; nothing else is said.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from fastapi import APIRouter
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from service.adapters.store import migrations_current
from service.api.errors import RETRY_AFTER_SECONDS, operation_outcome
from service.api.state import Runtime, runtime

logger = logging.getLogger(__name__)
router = APIRouter()

PROBE_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> Response:
    return Response(orjson.dumps({"status": "ok"}), media_type="application/json")


async def _database(rt: Runtime) -> str:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            current = await asyncio.to_thread(migrations_current, rt.database)
    except (SQLAlchemyError, TimeoutError) as exc:
        logger.warning("readiness: database unreachable (%s)", type(exc).__name__)
        return "unreachable"
    return "ok" if current else "migrations not at head"


async def _redis(rt: Runtime) -> str:
    if rt.redis is None:
        return "not configured"
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            await rt.redis.ping()
    except (RedisError, OSError, TimeoutError) as exc:
        logger.warning("readiness: redis unreachable (%s)", type(exc).__name__)
        return "unreachable"
    return "ok"


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    rt = runtime(request)
    checks = {"database": await _database(rt), "redis": await _redis(rt)}
    failing = {name: state for name, state in checks.items() if state not in {"ok", "not configured"}}
    if failing:
        what = "; ".join(f"{name}: {state}" for name, state in failing.items())
        return operation_outcome(503, f"not ready: {what}", headers={"Retry-After": RETRY_AFTER_SECONDS})
    return Response(orjson.dumps({"status": "ready", "checks": checks}), media_type="application/json")
