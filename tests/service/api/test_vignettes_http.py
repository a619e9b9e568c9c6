"""The 45 vignettes of RULES.md section 9 through real HTTP calls, three ways.

1. full prefetch, no fhirServer at all (so nothing can be fetched);
2. no prefetch: the service fetches every key from the EHR's FHIR server (respx), searchsets split in
   pages of 2 entries followed through their `next` links;
3. full prefetch with one key null (a different key per vignette): only that key is fetched.

Each way must give exactly the (rule id, indicator) pairs `rules.evaluate` gives on the vignette's
snapshot (what `osteoalert evaluate` gives, tests/test_vignettes.py), every response must pass the
CDS Hooks card-shape check, and every card's `source.topic.code` is its rule id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from rules import evaluate
from rules.scope import ALL_RULE_IDS
from service.adapters.cds_cards import RULE_CODE_SYSTEM
from tests.service.api.ehr import (
    FHIR_BASE,
    KEY_TYPES,
    KEYS,
    FhirServer,
    body,
    by_type,
    full_prefetch,
    hook_request,
    is_draft,
    serving,
    settings,
)
from tests.service.cds.card_shape import assert_osteoalert_cards, assert_valid_cds_response
from tests.vignettes import VIGNETTES, Vignette

WAYS = ("full-prefetch", "no-prefetch", "one-key-null")
CASES = [pytest.param(v, way, id=f"{v.id}-{way}") for v in VIGNETTES for way in WAYS]
SERVICES = {
    "patient-view": "osteoalert-patient-view",
    "order-select": "osteoalert-order-select",
    "order-sign": "osteoalert-order-sign",
}


def null_key(v: Vignette) -> str:
    """A different key for each vignette, so that every key's fetch path is exercised."""
    return KEYS[VIGNETTES.index(v) % len(KEYS)]


def request_for(v: Vignette, way: str) -> dict[str, Any]:
    bundle = v.bundle()
    drafts = [r for rs in by_type(bundle).values() for r in rs if is_draft(r)]
    prefetch: dict[str, Any] | None = full_prefetch(bundle)
    server: str | None = None
    if way == "no-prefetch":
        prefetch, server = None, FHIR_BASE
    elif way == "one-key-null":
        assert prefetch is not None
        prefetch[null_key(v)] = None
        server = FHIR_BASE
    return hook_request(
        v.hook.value,
        v.id.lower(),
        prefetch=prefetch,
        fhir_server=server,
        draft_orders=drafts,
        selections=v.selections,
    )


def fired(cards: list[dict[str, Any]]) -> frozenset[tuple[str, str]]:
    return frozenset((c["source"]["topic"]["code"], c["indicator"]) for c in cards)


@pytest.mark.parametrize(("v", "way"), CASES)
async def test_a_vignette_through_http_fires_what_the_engine_fires_on_its_snapshot(
    v: Vignette, way: str, tmp_path: Path
) -> None:
    server = FhirServer(v.id.lower(), by_type(v.bundle()))
    with respx.mock(assert_all_called=False) as ehr:
        route = server.mount(ehr)
        async with serving(settings(tmp_path)) as (_, client):
            response = await client.post(
                f"/cds-services/{SERVICES[v.hook.value]}", content=body(request_for(v, way))
            )

    assert response.status_code == httpx.codes.OK, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert_valid_cds_response(answer)
    assert_osteoalert_cards(answer, RULE_CODE_SYSTEM)
    expected = frozenset((f.rule_id, f.indicator.value) for f in evaluate(v.snapshot()).findings)
    assert fired(answer["cards"]) == expected == v.expected
    for card in answer["cards"]:
        assert card["source"]["topic"]["code"] in ALL_RULE_IDS

    if way == "full-prefetch":
        assert not route.called
    elif way == "one-key-null":
        assert server.resource_types() == {KEY_TYPES[null_key(v)]}
    else:
        assert server.resource_types() == set(KEY_TYPES.values())
        longest = max((len(rs) for t, rs in server.resources.items() if t != "Patient"), default=0)
        assert bool(server.paged) is (longest > server.page_size)  # next links were followed


def test_most_vignettes_have_searchsets_long_enough_to_be_paged() -> None:
    paged = [v for v in VIGNETTES if len(by_type(v.bundle()).get("Observation", [])) > 2]
    assert len(paged) >= len(VIGNETTES) // 2


async def test_the_fhir_server_is_followed_through_every_page(tmp_path: Path) -> None:
    v = next(v for v in VIGNETTES if len(by_type(v.bundle()).get("Observation", [])) >= 5)
    server = FhirServer(v.id.lower(), by_type(v.bundle()), page_size=2)
    with respx.mock as ehr:
        server.mount(ehr)
        async with serving(settings(tmp_path)) as (_, client):
            response = await client.post(
                f"/cds-services/{SERVICES[v.hook.value]}", content=body(request_for(v, "no-prefetch"))
            )
    assert response.status_code == httpx.codes.OK, response.text
    pages = [q for q in server.paged if q.path.endswith("/Observation")]
    observations = len(by_type(v.bundle())["Observation"])
    assert len(pages) == (observations + 1) // 2 - 1  # every page after the first came from a next link
    assert fired(response.json()["cards"]) == v.expected
