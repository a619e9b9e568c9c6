"""A small FHIR R4 server of our own, standing in for the EHR: unit tests, the e2e suite, benchmarks.

It serves patients loaded from Bundles and records every write. What osteoalert uses is implemented
for real: reads; searches by patient/subject, code tokens, date / _lastUpdated prefixes, identifier,
url, with `_include=<Type>:medication` and paging (`_count`, absolute `next` links); conditional
create (`If-None-Exist`, atomic: 200 when one matches, 412 when several, else 201); PUT, DELETE; the
Subscriptions Backport operations `Subscription/{id}/$status` and `$events` (switchable off: 404).

Fault injection: `fail_next(3, status=503, retry_after="1")` answers the next 3 matching requests with
that status. Optional bearer token check. `notification(...)` builds what the EHR would POST to
/fhir/notify for a recorded event (handshake, heartbeat, empty, id-only, full-resource).

In-process: `httpx.AsyncClient(transport=httpx.ASGITransport(app=double.app), base_url=...)`, or a real
socket with `serve_in_thread(double)`. Another process:

    python -m tests.fhir_double --port 8090 [--bundle V01.json ...] [--shift-to-now 2026-01-15T12:00:00Z]

and drive it over HTTP: POST /_double/load (a Bundle), POST /_double/failures {"count": 3, "status":
503, "retryAfter": "1"}, POST /_double/events {"subscription": "s1", "focus": "Observation/o1"},
GET /_double/writes (with arrival times, epoch seconds), GET /_double/requests, POST /_double/reset.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response

from service.adapters.fhir_shift import shift_dates

Json = dict[str, Any]
FHIR_JSON = "application/fhir+json"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
_DATE_FIELDS = ("effectiveDateTime", "issued", "authoredOn", "recordedDate", "performedDateTime", "date")
_PREFIX = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb)?(.+)$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _instant(text: str) -> datetime:
    """A FHIR date / dateTime / instant as an aware datetime (partial dates: their first instant)."""
    text = text.strip()
    if len(text) == 4:
        text += "-01-01"
    elif len(text) == 7:
        text += "-01"
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class Failure:
    count: int
    status: int = 503
    retry_after: str | None = None
    method: str | None = None  # None: any
    path: str = ""  # a path prefix, e.g. "/DetectedIssue"; "" matches every path


@dataclass
class Write:
    method: str
    resource_type: str
    id: str | None
    status: int
    at: float  # time.time() when answered (the benchmark compares it with accept times)
    if_none_exist: str | None = None
    resource: Json | None = None


@dataclass
class SubscriptionLog:
    status: str = "active"
    topic: str = "http://example.org/topic/observations"
    events: list[str] = field(default_factory=list)  # focus reference of event n at index n-1


class FhirDouble:
    """The server state; `app` is its ASGI application."""

    def __init__(
        self, *, token: str | None = None, page_size: int = 50, events_supported: bool = True
    ) -> None:
        self.token = token
        self.page_size = page_size
        self.events_supported = events_supported
        self.store: dict[str, dict[str, Json]] = {}
        self.writes: list[Write] = []
        self.requests: list[tuple[str, str]] = []  # (method, path?query)
        self.headers: list[dict[str, str]] = []
        self.failures: list[Failure] = []
        self.subscriptions: dict[str, SubscriptionLog] = {}
        self.app = _build_app(self)

    # --- data -------------------------------------------------------------------------------------------

    def put(self, resource: Json) -> Json:
        stored = copy.deepcopy(resource)
        stored.setdefault("id", uuid.uuid4().hex[:16])
        previous = self.get(f"{stored['resourceType']}/{stored['id']}")
        meta = stored.setdefault("meta", {})
        if previous is not None:  # an update: a new version, updated now
            meta["versionId"] = str(int((previous.get("meta") or {}).get("versionId", "1")) + 1)
            meta["lastUpdated"] = _now()
        else:
            meta.setdefault("versionId", "1")
            meta.setdefault("lastUpdated", _now())
        self.store.setdefault(stored["resourceType"], {})[stored["id"]] = stored
        return stored

    def load(self, bundle: Json, *, shift: timedelta | None = None, prefix: str | None = None) -> list[str]:
        """Every resource of a Bundle (any type) or a single resource; returns their references.

        `prefix` renames every resource but the Patient ("obs1" → "<prefix>obs1", references
        rewritten): vignette Bundles reuse ids, and several of them share one server.
        """
        entries = (
            bundle.get("entry") or [] if bundle.get("resourceType") == "Bundle" else [{"resource": bundle}]
        )
        resources = [e["resource"] for e in entries if isinstance(e.get("resource"), dict)]
        if prefix:
            resources = _renamed(entries, prefix)
        refs = []
        for resource in resources:
            stored = self.put(shift_dates(resource, shift) if shift else resource)
            refs.append(f"{stored['resourceType']}/{stored['id']}")
        return refs

    def get(self, reference: str) -> Json | None:
        rtype, _, rid = reference.partition("/")
        return self.store.get(rtype, {}).get(rid)

    def of_type(self, resource_type: str) -> list[Json]:
        return list(self.store.get(resource_type, {}).values())

    def fail_next(
        self, count: int, *, status: int = 503, retry_after: str | None = None, method: str | None = None,
        path: str = "",
    ) -> None:  # fmt: skip
        self.failures.append(Failure(count, status, retry_after, method, path))

    def reset(self) -> None:
        self.store.clear()
        self.writes.clear()
        self.requests.clear()
        self.headers.clear()
        self.failures.clear()
        self.subscriptions.clear()

    # --- the EHR side of subscriptions --------------------------------------------------------------

    def add_event(self, subscription: str, focus: str) -> int:
        """Record an event of `subscription` about `focus`; its event number."""
        log = self.subscriptions.setdefault(subscription, SubscriptionLog())
        log.events.append(focus)
        return len(log.events)

    def notification(
        self, subscription: str, *, kind: str = "event-notification", numbers: tuple[int, ...] = (),
        content: str = "id-only", base: str = "http://ehr.example.org/fhir",
    ) -> Json:  # fmt: skip
        """The Backport R4 notification Bundle the EHR would send (Parameters SubscriptionStatus)."""
        log = self.subscriptions.setdefault(subscription, SubscriptionLog())
        status = status_parameters(subscription, log, kind=kind, numbers=numbers, content=content, base=base)
        entries: list[Json] = [
            _history_entry(f"urn:uuid:{uuid.uuid4()}", status, "GET", f"Subscription/{subscription}/$status")
        ]
        if content != "empty":
            for n in numbers:
                focus = log.events[n - 1]
                entry: Json = {"fullUrl": f"{base}/{focus}"}
                if content == "full-resource" and self.get(focus) is not None:
                    entry["resource"] = self.get(focus)
                entries.append(
                    entry | {"request": {"method": "PUT", "url": focus}, "response": {"status": "200"}}
                )
        return {"resourceType": "Bundle", "type": "history", "timestamp": _now(), "entry": entries}


def _rewrite(value: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: renames.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, renames)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, renames) for v in value]
    return value


def _renamed(entries: list[Json], prefix: str) -> list[Json]:
    renames: dict[str, str] = {}
    for entry in entries:
        r = entry.get("resource")
        if isinstance(r, dict) and r.get("resourceType") != "Patient" and r.get("id"):
            new = f"{r['resourceType']}/{prefix}{r['id']}"
            renames[f"{r['resourceType']}/{r['id']}"] = new
            if entry.get("fullUrl"):
                renames[entry["fullUrl"]] = new
    out = []
    for entry in entries:
        r = entry.get("resource")
        if isinstance(r, dict):
            copy_ = _rewrite(r, renames)
            if r.get("resourceType") != "Patient" and r.get("id"):
                copy_["id"] = f"{prefix}{r['id']}"
            out.append(copy_)
    return out


def _history_entry(full_url: str, resource: Json, method: str, url: str) -> Json:
    return {"fullUrl": full_url, "resource": resource, "request": {"method": method, "url": url},
            "response": {"status": "200"}}  # fmt: skip


def status_parameters(
    subscription: str, log: SubscriptionLog, *, kind: str, numbers: tuple[int, ...] = (),
    content: str = "id-only", base: str = "http://ehr.example.org/fhir",
) -> Json:  # fmt: skip
    params: list[Json] = [
        {"name": "subscription", "valueReference": {"reference": f"{base}/Subscription/{subscription}"}},
        {"name": "topic", "valueCanonical": log.topic},
        {"name": "status", "valueCode": "requested" if kind == "handshake" else log.status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(len(log.events))},
    ]
    for n in numbers:
        parts: list[Json] = [
            {"name": "event-number", "valueString": str(n)},
            {"name": "timestamp", "valueInstant": _now()},
        ]
        if content != "empty":
            parts.append({"name": "focus", "valueReference": {"reference": f"{base}/{log.events[n - 1]}"}})
        params.append({"name": "notification-event", "part": parts})
    return {
        "resourceType": "Parameters",
        "meta": {"profile": [f"{BACKPORT}backport-subscription-status-r4"]},
        "parameter": params,
    }


# --- search -------------------------------------------------------------------------------------------


def _refers_to(value: Any, target: str) -> bool:
    reference = value.get("reference") if isinstance(value, dict) else None
    return isinstance(reference, str) and (reference == target or reference.endswith(f"/{target}"))


def _codings(resource: Json, name: str) -> list[Json]:
    concept = resource.get(name)
    concepts = concept if isinstance(concept, list) else [concept]
    return [
        c for cc in concepts if isinstance(cc, dict) for c in cc.get("coding") or () if isinstance(c, dict)
    ]


def _token_match(codings: list[Json], tokens: str) -> bool:
    for token in tokens.split(","):
        system, bar, code = token.rpartition("|")
        for c in codings:
            if c.get("code") == code and (not bar or (c.get("system") or "") == system):
                return True
    return False


def _identifier_match(resource: Json, tokens: str) -> bool:
    ids = [i for i in resource.get("identifier") or () if isinstance(i, dict)]
    for token in tokens.split(","):
        system, bar, value = token.partition("|") if "|" in token else ("", "", token)
        if any(i.get("value") == value and (not bar or i.get("system") == system) for i in ids):
            return True
    return False


def _resource_date(resource: Json) -> datetime | None:
    for name in _DATE_FIELDS:
        if isinstance(resource.get(name), str):
            return _instant(resource[name])
    period = resource.get("effectivePeriod") or resource.get("performedPeriod")
    if isinstance(period, dict) and isinstance(period.get("start"), str):
        return _instant(period["start"])
    return None


def _compare(value: datetime | None, expression: str) -> bool:
    if value is None:
        return False
    match = _PREFIX.match(expression)
    prefix, text = (match.group(1) or "eq", match.group(2)) if match else ("eq", expression)
    bound = _instant(text)
    return {
        "eq": value == bound, "ne": value != bound, "gt": value > bound, "sa": value > bound,
        "lt": value < bound, "eb": value < bound, "ge": value >= bound, "le": value <= bound,
    }[prefix]  # fmt: skip


def _matches_one(resource: Json, name: str, value: str) -> bool:
    if name in ("patient", "subject"):
        target = value if "/" in value else f"Patient/{value}"
        return _refers_to(resource.get("subject"), target) or _refers_to(resource.get("patient"), target)
    if name == "code":
        return _token_match(_codings(resource, "code"), value)
    if name == "date":
        return _compare(_resource_date(resource), value)
    if name == "_lastUpdated":
        return _compare(_instant((resource.get("meta") or {}).get("lastUpdated", "1970")), value)
    if name == "identifier":
        return _identifier_match(resource, value)
    if name == "url":
        return bool((resource.get("channel") or {}).get("endpoint") == value)
    if name == "_id":
        return resource.get("id") in value.split(",")
    return True  # parameters the double does not know are ignored, as lenient servers do


def matches(resource: Json, params: Mapping[str, list[str]]) -> bool:
    return all(_matches_one(resource, name, value) for name, values in params.items() for value in values)


_CONTROL = frozenset({"_count", "_offset", "_include", "_sort", "_format", "_summary"})


def _query(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        out.setdefault(key, []).append(value)
    return out


def _bundle(kind: str, entries: list[Json], **extra: Any) -> Json:
    return {"resourceType": "Bundle", "type": kind, **extra, "entry": entries}


def _json(body: Json, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


def _outcome(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    issue = {"severity": "error", "code": "processing", "diagnostics": text}
    return _json({"resourceType": "OperationOutcome", "issue": [issue]}, status, headers)


def _search(double: FhirDouble, request: Request, resource_type: str) -> Response:
    params = _query(request)
    filters = {k: v for k, v in params.items() if k not in _CONTROL}
    found = [r for r in double.of_type(resource_type) if matches(r, filters)]
    count = int(params.get("_count", [str(double.page_size)])[0])
    offset = int(params.get("_offset", ["0"])[0])
    page = found[offset : offset + count]
    base = str(request.base_url).rstrip("/")
    entries = [
        {"fullUrl": f"{base}/{resource_type}/{r['id']}", "resource": r, "search": {"mode": "match"}}
        for r in page
    ]
    for include in params.get("_include", []):
        if include.endswith(":medication"):
            for r in page:
                target = (r.get("medicationReference") or {}).get("reference")
                med = double.get(target) if isinstance(target, str) else None
                if med is not None:
                    entries.append(
                        {"fullUrl": f"{base}/{target}", "resource": med, "search": {"mode": "include"}}
                    )
    links = [{"relation": "self", "url": str(request.url)}]
    if offset + count < len(found):
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "_offset"]
        query = urlencode([*rest, ("_offset", str(offset + count))], safe="|,:/")
        links.append({"relation": "next", "url": f"{base}/{resource_type}?{query}"})
    return _json(_bundle("searchset", entries, total=len(found), link=links))


def _create(double: FhirDouble, request: Request, resource_type: str, body: bytes) -> Response:
    resource = orjson.loads(body)
    if not isinstance(resource, dict) or resource.get("resourceType") != resource_type:
        return _outcome(400, f"expected a {resource_type}")
    condition = request.headers.get("if-none-exist")
    if condition:
        params: dict[str, list[str]] = {}
        for pair in condition.lstrip("?").split("&"):
            key, _, value = pair.partition("=")
            params.setdefault(key, []).append(value)
        existing = [r for r in double.of_type(resource_type) if matches(r, params)]
        if len(existing) > 1:
            double.writes.append(Write("POST", resource_type, None, 412, time.time(), condition, resource))
            return _outcome(412, "several resources match If-None-Exist")
        if existing:
            double.writes.append(
                Write("POST", resource_type, existing[0]["id"], 200, time.time(), condition, resource)
            )
            return _json(existing[0], 200, {"Location": f"{resource_type}/{existing[0]['id']}/_history/1"})
    resource.pop("id", None)
    stored = double.put(resource)
    double.writes.append(Write("POST", resource_type, stored["id"], 201, time.time(), condition, stored))
    location = f"{str(request.base_url).rstrip('/')}/{resource_type}/{stored['id']}/_history/1"
    return _json(stored, 201, {"Location": location})


def _status_bundle(double: FhirDouble, sid: str, kind: str, numbers: tuple[int, ...]) -> Json:
    log = double.subscriptions.get(sid)
    if log is None:
        raise KeyError(sid)
    status = status_parameters(sid, log, kind=kind, numbers=numbers)
    entries = [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": status}]
    for n in numbers:
        entries.append({"fullUrl": f"http://ehr.example.org/fhir/{log.events[n - 1]}"})
    return _bundle("searchset" if kind == "query-status" else "history", entries)


def _build_app(double: FhirDouble) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    def gate(request: Request) -> Response | None:
        double.requests.append(
            (request.method, request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        )
        double.headers.append(dict(request.headers))
        for failure in double.failures:
            if (
                failure.count > 0
                and request.url.path.startswith(failure.path)
                and failure.method in (None, request.method)
            ):
                failure.count -= 1
                headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else None
                return _outcome(failure.status, "injected failure", headers)
        if double.token is not None and request.headers.get("authorization") != f"Bearer {double.token}":
            return _outcome(401, "bearer token required", {"WWW-Authenticate": "Bearer"})
        return None

    @app.post("/_double/load")
    async def load(request: Request) -> Response:
        shift = request.query_params.get("shift_seconds")
        refs = double.load(
            orjson.loads(await request.body()), shift=timedelta(seconds=float(shift)) if shift else None
        )
        return _json({"loaded": refs})

    @app.post("/_double/failures")
    async def failures(request: Request) -> Response:
        spec = orjson.loads(await request.body())
        double.fail_next(
            int(spec.get("count", 1)),
            status=int(spec.get("status", 503)),
            retry_after=spec.get("retryAfter"),
            method=spec.get("method"),
            path=spec.get("path", ""),
        )
        return _json({"ok": True})

    @app.post("/_double/events")
    async def events(request: Request) -> Response:
        spec = orjson.loads(await request.body())
        number = double.add_event(str(spec["subscription"]), str(spec["focus"]))
        content = str(spec.get("content", "id-only"))
        return _json(
            {
                "number": number,
                "notification": double.notification(
                    str(spec["subscription"]), numbers=(number,), content=content
                ),
            }
        )

    @app.get("/_double/writes")
    async def writes() -> Response:
        return _json({"writes": [w.__dict__ for w in double.writes]})

    @app.get("/_double/requests")
    async def requests() -> Response:
        return _json({"requests": [list(r) for r in double.requests]})

    @app.post("/_double/reset")
    async def reset() -> Response:
        double.reset()
        return _json({"ok": True})

    @app.get("/Subscription/{sid}/$status")
    async def status(request: Request, sid: str) -> Response:
        if (refused := gate(request)) is not None:
            return refused
        if sid not in double.subscriptions:
            return _outcome(404, f"no Subscription/{sid}")
        return _json(_status_bundle(double, sid, "query-status", ()))

    @app.get("/Subscription/{sid}/$events")
    async def events_op(request: Request, sid: str) -> Response:
        if (refused := gate(request)) is not None:
            return refused
        if not double.events_supported:
            return _outcome(404, "$events is not supported")
        log = double.subscriptions.get(sid)
        if log is None:
            return _outcome(404, f"no Subscription/{sid}")
        first = int(request.query_params.get("eventsSinceNumber", "1"))
        last = int(request.query_params.get("eventsUntilNumber", str(len(log.events))))
        numbers = tuple(n for n in range(max(first, 1), min(last, len(log.events)) + 1))
        return _json(_status_bundle(double, sid, "query-event", numbers))

    @app.get("/{resource_type}")
    async def search(request: Request, resource_type: str) -> Response:
        return gate(request) or _search(double, request, resource_type)

    @app.get("/{resource_type}/{rid}")
    async def read(request: Request, resource_type: str, rid: str) -> Response:
        if (refused := gate(request)) is not None:
            return refused
        found = double.store.get(resource_type, {}).get(rid)
        return _json(found) if found is not None else _outcome(404, f"no {resource_type}/{rid}")

    @app.post("/{resource_type}")
    async def create(request: Request, resource_type: str) -> Response:
        body = await request.body()
        return gate(request) or _create(double, request, resource_type, body)

    @app.put("/{resource_type}/{rid}")
    async def update(request: Request, resource_type: str, rid: str) -> Response:
        body = await request.body()
        if (refused := gate(request)) is not None:
            return refused
        stored = double.put(orjson.loads(body) | {"id": rid})
        double.writes.append(Write("PUT", resource_type, rid, 200, time.time(), None, stored))
        return _json(stored)

    @app.delete("/{resource_type}/{rid}")
    async def remove(request: Request, resource_type: str, rid: str) -> Response:
        if (refused := gate(request)) is not None:
            return refused
        gone = double.store.get(resource_type, {}).pop(rid, None)
        double.writes.append(Write("DELETE", resource_type, rid, 204 if gone else 404, time.time()))
        return Response(status_code=204) if gone else _outcome(404, f"no {resource_type}/{rid}")

    return app


# --- serving ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve_in_thread(double: FhirDouble, *, port: int | None = None) -> Iterator[str]:
    """Serve the double on a real socket (127.0.0.1) from a thread; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(double.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the FHIR double did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="osteoalert's FHIR server test double")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--bundle", type=Path, action="append", default=[], help="a Bundle to serve")
    parser.add_argument("--token", help="require this bearer token")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--no-events", action="store_true", help="answer $events with 404")
    parser.add_argument("--shift-to-now", help="shift the bundles' dates so that this instant becomes now")
    args = parser.parse_args(argv)
    double = FhirDouble(token=args.token, page_size=args.page_size, events_supported=not args.no_events)
    shift = datetime.now(UTC) - _instant(args.shift_to_now) if args.shift_to_now else None
    for path in args.bundle:
        double.load(orjson.loads(path.read_bytes()), shift=shift)
    asyncio.run(
        uvicorn.Server(
            uvicorn.Config(double.app, host=args.host, port=args.port, log_level="warning")
        ).serve()
    )


if __name__ == "__main__":
    main()
