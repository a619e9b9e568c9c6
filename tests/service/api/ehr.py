"""The EHR side of the HTTP tests: hook requests built from FHIR Bundles, and a FHIR server on respx.

`FhirServer` is the only thing mocked in these tests (the EHR's FHIR server is not ours): it serves a
patient's resources as paged searchsets with `next` links, checks the bearer token, and records
every query it answered. Everything of ours runs for real, through HTTP (httpx ASGITransport).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import respx
from fastapi import FastAPI

from service.main import create_app
from service.settings import Settings
from tests.builders import T

Json = dict[str, Any]

FHIR_BASE = "https://ehr.example.org/fhir/r4"
ACCESS_TOKEN = "opaque-access-token-1"
USER = "Practitioner/dr-1"

# Prefetch key (the discovery document's) → the resource type its template searches.
KEY_TYPES: dict[str, str] = {
    "patient": "Patient",
    "observations": "Observation",
    "conditions": "Condition",
    "medications": "MedicationRequest",
    "medicationStatements": "MedicationStatement",
    "medicationAdministrations": "MedicationAdministration",
    "procedures": "Procedure",
    "diagnosticReports": "DiagnosticReport",
}
KEYS = tuple(KEY_TYPES)


def settings(tmp_path: Path, **changes: Any) -> Settings:
    """Settings built explicitly (never from the environment), on a fresh SQLite file."""
    values: dict[str, Any] = {"database_url": f"sqlite:///{tmp_path / 'osteoalert.db'}"} | changes
    return Settings(**values)


@asynccontextmanager
async def serving(
    app_settings: Settings, *, clock: Callable[[], datetime] = lambda: T
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app started through its lifespan, and an HTTP client speaking to it in process."""
    app = create_app(app_settings, clock=clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://osteoalert.test"
        ) as client,
    ):
        yield app, client


def searchset(resources: Iterable[Json]) -> Json:
    entries = [{"fullUrl": f"{FHIR_BASE}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}


def by_type(bundle: Json) -> dict[str, list[Json]]:
    out: dict[str, list[Json]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        out.setdefault(resource["resourceType"], []).append(resource)
    return out


def is_draft(resource: Json) -> bool:
    return resource["resourceType"] == "MedicationRequest" and resource.get("status") == "draft"


def full_prefetch(bundle: Json) -> Json:
    """Every discovery key filled from a patient's Bundle (draft orders included, as EHR searches do)."""
    resources = by_type(bundle)
    prefetch: Json = {"patient": resources["Patient"][0]}
    for key, rtype in KEY_TYPES.items():
        if key != "patient":
            prefetch[key] = searchset(resources.get(rtype, []))
    return prefetch


def hook_request(
    hook: str,
    patient_id: str,
    *,
    prefetch: Json | None = None,
    fhir_server: str | None = None,
    draft_orders: Iterable[Json] = (),
    selections: Iterable[str] | None = None,
    hook_instance: str | None = None,
) -> Json:
    """A CDS Hooks 2.0 request; with `fhir_server`, a fhirAuthorization with ACCESS_TOKEN too."""
    context: Json = {"userId": USER, "patientId": patient_id}
    if hook in {"order-select", "order-sign"}:
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in draft_orders],
        }
    if selections is not None:
        context["selections"] = list(selections)
    request: Json = {"hook": hook, "hookInstance": hook_instance or str(uuid.uuid4()), "context": context}
    if fhir_server is not None:
        request["fhirServer"] = fhir_server
        request["fhirAuthorization"] = {
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Patient.read user/Observation.read",
            "subject": "osteoalert",
        }
    if prefetch is not None:
        request["prefetch"] = prefetch
    return request


def body(data: Json) -> bytes:
    return orjson.dumps(data)


@dataclass
class FhirServer:
    """One patient's FHIR server: reads, paged searchsets (`page_size` entries per page), bearer token."""

    patient_id: str
    resources: Mapping[str, list[Json]]  # by resource type; "Patient" holds the one Patient
    base: str = FHIR_BASE
    page_size: int = 2
    token: str = ACCESS_TOKEN
    queries: list[httpx.URL] = field(default_factory=list)

    def mount(self, router: respx.Router) -> respx.Route:
        return router.get(url__startswith=self.base).mock(side_effect=self.handle)

    @property
    def paged(self) -> list[httpx.URL]:
        """The page requests that followed a `next` link."""
        return [q for q in self.queries if "_page" in q.params]

    def resource_types(self) -> set[str]:
        """The resource types read or searched so far."""
        return {self._relative(q).partition("/")[0] for q in self.queries}

    def _relative(self, url: httpx.URL) -> str:
        return url.path.removeprefix(httpx.URL(self.base).path).strip("/")

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.queries.append(request.url)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return httpx.Response(401, json={"resourceType": "OperationOutcome", "issue": []})
        rtype, _, rid = self._relative(request.url).partition("/")
        if rid:
            found = [r for r in self.resources.get(rtype, []) if r.get("id") == rid]
            if not found:
                return httpx.Response(404, json={"resourceType": "OperationOutcome", "issue": []})
            return httpx.Response(200, json=found[0])
        if request.url.params.get("patient") != self.patient_id:
            return httpx.Response(200, json=searchset([]))
        return httpx.Response(200, json=self._page(rtype, int(request.url.params.get("_page", "1"))))

    def _page(self, rtype: str, page: int) -> Json:
        everything = self.resources.get(rtype, [])
        start = (page - 1) * self.page_size
        bundle = searchset(everything[start : start + self.page_size])
        bundle["total"] = len(everything)
        query = {"patient": self.patient_id}
        bundle["link"] = [{"relation": "self", "url": f"{self.base}/{rtype}?{urlencode(query)}"}]
        if start + self.page_size < len(everything):
            following = urlencode(query | {"_page": str(page + 1)})
            bundle["link"].append({"relation": "next", "url": f"{self.base}/{rtype}?{following}"})
        return bundle


def operation_outcome_of(response: httpx.Response) -> str:
    """The diagnostics of an OperationOutcome error response (after checking its media type)."""
    assert response.headers["content-type"] == "application/fhir+json"
    data = response.json()
    assert data["resourceType"] == "OperationOutcome"
    (issue,) = data["issue"]
    assert issue["severity"] == "error"
    diagnostics: str = issue["diagnostics"]
    return diagnostics
