"""The composition root of the HTTP service: `create_app(settings)` builds every adapter, once.

At creation: the rule engine (code sets + parameters) and the discovery document, so that a bad
configuration fails before the server listens. At start-up (lifespan): the store (migrated to head),
Redis when configured, ONE shared httpx.AsyncClient (FHIR servers and JWKS URLs), the JWT
authenticator when issuers are configured (else a loud warning: the service is open), and a
`gc.freeze()` so that the long-lived start-up objects leave the collector's young generations.
At shutdown: the client, Redis and the database pool are closed. No module-level app or settings.

    uvicorn --factory 'service.main:create_app_from_environment'   (or: osteoalert serve)
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import orjson
from fastapi import FastAPI
from redis.asyncio import Redis
from starlette.middleware.cors import CORSMiddleware

from service.adapters.cds_auth import CdsAuthenticator
from service.adapters.cds_discovery import discovery_document, prefetch_templates
from service.adapters.codesets import load_codesets
from service.adapters.replay_cache import InMemoryReplayCache, RedisReplayCache
from service.adapters.store import (
    SqlAlertStore,
    SqlCardIndex,
    SqlFeedbackStore,
    make_engine,
    upgrade_to_head,
)
from service.api import cds_hooks, health, notifications
from service.api.errors import install_error_handlers
from service.api.overload import ConcurrencyLimit
from service.api.state import Runtime
from service.background import open_background
from service.evaluation import Engine
from service.hooks import CdsHooks
from service.observability.http import RequestTelemetry, metrics_endpoint
from service.observability.logging import configure_logging
from service.observability.metrics import Metrics
from service.settings import Settings

logger = logging.getLogger("osteoalert")

OPEN_SERVICE_WARNING = (
    "!!! CDS Hooks authentication is OFF: OSTEOALERT_CDS_JWT_ISSUERS is empty, so ANY caller can "
    "query this service. Set it to the EHRs' issuer -> JWKS URL allow-list outside demos. !!!"
)
REDIS_TIMEOUT_SECONDS = 2.0
# FHIR servers and JWKS URLs: bounded pool; per-call deadlines are set by the callers.
HTTP_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(settings: Settings, *, clock: Callable[[], datetime] = _utc_now) -> FastAPI:
    """The FastAPI app for `settings`; `clock` gives the evaluation instant (tests pin it)."""
    codesets = load_codesets(settings.codesets_dir)
    engine = Engine(codesets, settings.parameters())
    discovery = orjson.dumps(discovery_document(codesets))
    templates = prefetch_templates(codesets)
    metrics = Metrics()  # this app's own registry (GET /metrics), never the process-global default

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = make_engine(settings.database_url)
        await asyncio.to_thread(upgrade_to_head, database)
        redis = (
            Redis.from_url(
                settings.redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            if settings.redis_url
            else None
        )
        http = httpx.AsyncClient(limits=HTTP_LIMITS, follow_redirects=False)
        auth = None
        if settings.cds_jwt_issuers:
            replay = RedisReplayCache(redis) if redis is not None else InMemoryReplayCache()
            auth = CdsAuthenticator(settings.cds_jwt_issuers, replay, http)
        else:
            logger.warning(OPEN_SERVICE_WARNING)
        hooks = CdsHooks(
            engine=engine,
            templates=templates,
            alerts=SqlAlertStore(database),
            cards=SqlCardIndex(database),
            feedback=SqlFeedbackStore(database),
            http=http,
            fetch_deadline=settings.cds_fetch_timeout_seconds,
            clock=clock,
            metrics=metrics,
            local_store=database.dialect.name == "sqlite",
        )
        app.state.runtime = Runtime(
            hooks=hooks,
            auth=auth,
            database=database,
            redis=redis,
            public_base_url=settings.public_base_url,
            max_body_bytes=settings.cds_max_body_bytes,
            discovery=discovery,
        )
        # Background path (issue 4): notification intake, and the outbox dispatcher when embedded.
        app.state.notify = await open_background(
            settings, engine, database=database, http=http, clock=clock, metrics=metrics
        )
        # Everything built so far lives as long as the process: keep it out of every GC pass.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state.notify.aclose()
            await http.aclose()
            if redis is not None:
                await redis.aclose()
            database.dispose()

    app = FastAPI(
        title="osteoalert CDS Hooks service",
        lifespan=lifespan,
        openapi_url=None,  # the contract is CDS Hooks 2.0 (GET /cds-services), not an OpenAPI document
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    app.state.metrics = metrics
    app.add_route("/metrics", metrics_endpoint(metrics), methods=["GET"], include_in_schema=False)
    app.include_router(cds_hooks.router)
    app.include_router(health.router)
    app.include_router(notifications.router)
    app.add_middleware(ConcurrencyLimit, limit=settings.cds_max_concurrency)
    # Outside the limit: shed calls (503) are counted and logged too; one event per request.
    app.add_middleware(RequestTelemetry, metrics=metrics)
    if settings.cors_origins:  # added last: outermost, so that shed (503) responses carry CORS too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    return app


def create_app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory`: the settings come from the OSTEOALERT_* environment."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)  # a process entry point: it owns logging
    return create_app(settings)
