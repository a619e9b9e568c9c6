"""What the routes need at run time, built at start-up by `service.main.create_app` (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy import Engine
from starlette.requests import Request

from service.adapters.cds_auth import CdsAuthenticator
from service.hooks import CdsHooks


@dataclass(frozen=True, slots=True)
class Runtime:
    hooks: CdsHooks
    auth: CdsAuthenticator | None  # None: the service is open (warned loudly at start-up)
    database: Engine
    redis: Redis | None
    public_base_url: str  # no trailing slash; the JWT audience is built from it, never from Host
    max_body_bytes: int
    discovery: bytes  # the discovery document, serialised once

    def audience(self, path: str) -> str:
        return f"{self.public_base_url}{path}"


def runtime(request: Request) -> Runtime:
    value = getattr(request.app.state, "runtime", None)
    if not isinstance(value, Runtime):
        raise RuntimeError("the app was not started through its lifespan (create_app)")
    return value
