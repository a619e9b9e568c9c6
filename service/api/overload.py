"""Load shedding: at most N CDS Hooks calls in flight per process; the next one gets 503 at once.

A queue in front of a CPU-bound evaluation only turns overload into seconds of latency for every
caller, and an EHR waiting on a hook blocks a clinician. Refusing fast (with Retry-After) keeps the
calls that are served fast and lets the EHR or the load balancer go elsewhere. Health probes are
never shed. One event loop per process: a plain counter is enough (no await between test and set).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.errors import RETRY_AFTER_SECONDS, operation_outcome

LIMITED_PREFIX = "/cds-services"


class ConcurrencyLimit:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        if limit < 1:
            raise ValueError("the concurrency limit must be at least 1")
        self.app = app
        self.limit = limit
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limited = (
            scope["type"] == "http"
            and scope["method"] != "OPTIONS"
            and str(scope["path"]).startswith(LIMITED_PREFIX)
        )
        if not limited:
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            response = operation_outcome(
                503, "the service is at capacity; retry shortly", code="throttled",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )  # fmt: skip
            await response(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
