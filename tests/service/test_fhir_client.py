"""The FHIR client against a respx-mocked FHIR server: paging, bearer token, timeouts, errors."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from service.adapters.fhir_client import FhirClient, FhirClientError

BASE = "https://ehr.example.org/fhir"


def page(n: int, next_url: str | None) -> dict[str, object]:
    links = [{"relation": "self", "url": f"{BASE}/Observation?page={n}"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": []}


async def test_search_follows_next_links_and_sends_the_bearer_token() -> None:
    with respx.mock(assert_all_called=True) as mock:
        first = mock.get(f"{BASE}/Observation", params={"patient": "p1"}).respond(
            json=page(1, f"{BASE}/Observation?page=2")
        )
        second = mock.get(f"{BASE}/Observation", params={"page": "2"}).respond(json=page(2, None))
        async with httpx.AsyncClient() as http:
            client = FhirClient(BASE, http, token="secret")
            pages = await client.search("Observation?patient=p1")
    assert [json.loads(p)["link"][0]["url"] for p in pages] == [
        f"{BASE}/Observation?page=1",
        f"{BASE}/Observation?page=2",
    ]
    assert first.calls.last.request.headers["Authorization"] == "Bearer secret"
    assert second.calls.last.request.headers["Authorization"] == "Bearer secret"


async def test_a_next_link_to_another_host_is_refused_so_the_token_never_leaves() -> None:
    with respx.mock(assert_all_called=True) as mock:
        mock.get(f"{BASE}/Condition").respond(json=page(1, "https://evil.example.com/steal"))
        async with httpx.AsyncClient() as http:
            with pytest.raises(FhirClientError, match="outside"):
                await FhirClient(BASE, http, token="secret").search("Condition")


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(404), "404"),
        (httpx.Response(503), "503"),
        (httpx.ConnectError("refused"), "unreachable"),
        (httpx.ReadTimeout("slow"), "timed out"),
    ],
)
async def test_server_failures_become_one_clear_error(
    response: httpx.Response | Exception, message: str
) -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get(f"{BASE}/Patient/p1")
        if isinstance(response, Exception):
            route.side_effect = response
        else:
            route.return_value = response
        async with httpx.AsyncClient() as http:
            with pytest.raises(FhirClientError, match=message):
                await FhirClient(BASE, http).get("Patient/p1")


async def test_paging_is_bounded() -> None:
    with respx.mock() as mock:
        mock.get(f"{BASE}/Observation").respond(json=page(1, f"{BASE}/Observation"))
        async with httpx.AsyncClient() as http:
            with pytest.raises(FhirClientError, match="more than 3 pages"):
                await FhirClient(BASE, http, max_pages=3).search("Observation")


async def test_a_relative_search_whose_query_holds_a_system_url_stays_on_the_server() -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get(f"{BASE}/Observation").respond(json=page(1, None))
        async with httpx.AsyncClient() as http:
            await FhirClient(BASE, http).search("Observation?code=http://loinc.org|2731-8")
    assert route.calls.last.request.url.params["code"] == "http://loinc.org|2731-8"
