"""The FHIR test double (tests.fhir_double) as a real process, for the e2e suite and the benchmark.

On top of the double's own control routes (/_double/load, /_double/failures, /_double/events,
/_double/requests, ...), what a separate process needs:

* an index by patient and by identifier, so a search by `patient=` or a conditional create costs
  the same with 5 or 5,000 patients loaded (the double scans every resource of a type; the
  benchmark loads thousands). The double's own matching still runs on the narrowed candidates;
* `POST /_e2e/delay {"match": "/Patient/p1", "seconds": 30, "count": 1}`: the next `count` requests
  whose path?query contains `match` wait `seconds` before being served (a task that is mid-flight
  when its worker is killed; workers kept busy while Redis stops); `GET /_e2e/delay` says how many
  requests each delay has held so far, and `POST /_e2e/release` lets them all go (answered 503
  without reaching the double: a test's held request never lands in the next test);
* `GET /_e2e/writes?since=N`: the DetectedIssue writes from index N, lean (no resources);
* `GET /_e2e/failures`: injected failures and how many are left.

    python -m tests.e2e.ehr_server --port 8090
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response

from service.adapters.notifications import patient_of
from tests.fhir_double import FhirDouble, Json

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# What the request in flight narrows its candidates to: ("patient", id) or ("identifier", "sys|value").
NARROW: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("narrow", default=None)


class IndexedDouble(FhirDouble):
    """`FhirDouble` whose `of_type` answers from an index when the request names a patient or an
    identifier (a superset of the matches: the double filters them as before)."""

    def __init__(self, **kwargs: Any) -> None:
        self.by_patient: dict[tuple[str, str], dict[str, None]] = {}
        self.by_identifier: dict[tuple[str, str], dict[str, None]] = {}
        super().__init__(**kwargs)

    def put(self, resource: Json) -> Json:
        stored = super().put(resource)
        rtype, rid = stored["resourceType"], stored["id"]
        patient = patient_of(stored)
        if patient is not None:
            self.by_patient.setdefault((patient, rtype), {})[rid] = None
        for identifier in stored.get("identifier") or ():
            if isinstance(identifier, dict) and identifier.get("value"):
                token = f"{identifier.get('system') or ''}|{identifier['value']}"
                self.by_identifier.setdefault((rtype, token), {})[rid] = None
        return stored

    def of_type(self, resource_type: str) -> list[Json]:
        narrow = NARROW.get()
        if narrow is None:
            return super().of_type(resource_type)
        kind, value = narrow
        index = self.by_patient if kind == "patient" else self.by_identifier
        key = (value, resource_type) if kind == "patient" else (resource_type, value)
        stored = self.store.get(resource_type, {})
        return [stored[rid] for rid in index.get(key, {}) if rid in stored]

    def reset(self) -> None:
        super().reset()
        self.by_patient.clear()
        self.by_identifier.clear()


def _narrowing(scope: Scope) -> tuple[str, str] | None:
    if scope["method"] == "GET":
        params = parse_qsl(scope["query_string"].decode("latin-1"))
        patients = [v for k, v in params if k in ("patient", "subject")]
        if len(patients) == 1 and "," not in patients[0]:
            return "patient", patients[0].removeprefix("Patient/")
    elif scope["method"] == "POST":
        for name, value in scope["headers"]:
            if name == b"if-none-exist":
                params = parse_qsl(value.decode("latin-1").lstrip("?"))
                if len(params) == 1 and params[0][0] == "identifier" and "," not in params[0][1]:
                    return "identifier", params[0][1]
    return None


@dataclass
class Delay:
    match: str
    seconds: float
    count: int
    held: int = 0  # requests held so far (the double records a request only once it is let through)
    released: asyncio.Event = field(default_factory=asyncio.Event)


async def _plain(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class E2eServer:
    """ASGI: /_e2e/* control routes, delays, then the double."""

    def __init__(self, double: IndexedDouble) -> None:
        self.double = double
        self.delays: list[Delay] = []
        self.control = self._control_app()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.double.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/_e2e/"):
            await self.control(scope, receive, send)
            return
        query = scope["query_string"].decode("latin-1")
        target = f"{path}?{query}" if query else path
        for delay in self.delays:
            if delay.count > 0 and delay.match in target:
                delay.count -= 1
                delay.held += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(delay.released.wait(), delay.seconds)
                if delay.released.is_set():  # its test is over: answer it away from the double
                    await _plain(send, 503, b"released")
                    return
                break
        token = NARROW.set(_narrowing(scope))
        try:
            await self.double.app(scope, receive, send)
        finally:
            NARROW.reset(token)

    def _control_app(self) -> FastAPI:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        double = self.double

        @app.post("/_e2e/delay")
        async def delay(request: Request) -> Response:
            spec = orjson.loads(await request.body())
            self.delays.append(Delay(str(spec["match"]), float(spec["seconds"]), int(spec.get("count", 1))))
            return Response(orjson.dumps({"ok": True}), media_type="application/json")

        @app.get("/_e2e/delay")
        async def delays() -> Response:
            body = {"delays": [{"match": d.match, "count": d.count, "held": d.held} for d in self.delays]}
            return Response(orjson.dumps(body), media_type="application/json")

        @app.post("/_e2e/release")
        async def release() -> Response:
            """Let every held request go, answered 503 without reaching the double (nor its
            recorded requests and injected failures); later matches are no longer held."""
            for d in self.delays:
                d.count = 0
                d.released.set()
            return Response(orjson.dumps({"ok": True}), media_type="application/json")

        @app.get("/_e2e/writes")
        async def writes(since: int = 0) -> Response:
            out = []
            for index, w in enumerate(double.writes[since:], start=since):
                if w.resource_type != "DetectedIssue":
                    continue
                resource = w.resource or {}
                codings = (resource.get("code") or {}).get("coding") or [{}]
                out.append(
                    {"index": index, "method": w.method, "status": w.status, "at": w.at, "id": w.id,
                     "identifier": (w.if_none_exist or "").rpartition("|")[2] or None,
                     "patient": (resource.get("patient") or {}).get("reference"),
                     "code": codings[0].get("code")}
                )  # fmt: skip
            body = {"writes": out, "next": len(double.writes)}
            return Response(orjson.dumps(body), media_type="application/json")

        @app.get("/_e2e/failures")
        async def failures() -> Response:
            body = {"failures": [f.__dict__ for f in double.failures]}
            return Response(orjson.dumps(body), media_type="application/json")

        return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the FHIR test double, as an e2e server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--page-size", type=int, default=50)
    args = parser.parse_args(argv)
    server = E2eServer(IndexedDouble(page_size=args.page_size))
    config = uvicorn.Config(
        server, host=args.host, port=args.port, log_level="warning", lifespan="off", access_log=False,
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
