"""Authentication to the FHIR server: none, static bearer, SMART Backend Services (respx plays the
token endpoint and the FHIR server)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from service.adapters.fhir_auth import (
    ASSERTION_TYPE,
    FhirConnection,
    NoAuth,
    SmartBackendAuth,
    StaticBearer,
    auth_from_settings,
)
from service.adapters.fhir_client import FhirClientError
from service.settings import Settings

BASE = "https://ehr.example.org/fhir"
TOKEN_URL = "https://ehr.example.org/auth/token"


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _smart(key: bytes, clock: Clock, alg: str = "RS384") -> SmartBackendAuth:
    return SmartBackendAuth(
        client_id="osteoalert", token_url=TOKEN_URL, private_key=key, alg=alg, key_id="key-1",
        scope="system/*.read", clock=clock,
    )  # fmt: skip


def _token_route(mock: respx.MockRouter, expires_in: int = 300) -> respx.Route:
    counter = iter(range(1, 100))
    return mock.post(TOKEN_URL).mock(
        side_effect=lambda _: httpx.Response(
            200,
            json={"access_token": f"token-{next(counter)}", "expires_in": expires_in, "token_type": "bearer"},
        )
    )


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
async def test_the_client_assertion_is_a_signed_jwt_the_token_endpoint_can_verify(
    rsa_key: rsa.RSAPrivateKey, alg: str
) -> None:
    key = rsa_key if alg == "RS384" else ec.generate_private_key(ec.SECP384R1())
    auth = _smart(_pem(key), Clock(), alg)
    with respx.mock(assert_all_called=True) as mock:
        route = _token_route(mock)
        async with httpx.AsyncClient() as http:
            assert await auth.token(http) == "token-1"
    form = parse_qs(route.calls.last.request.content.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_assertion_type"] == [ASSERTION_TYPE]
    assert form["scope"] == ["system/*.read"]
    assertion = form["client_assertion"][0]
    assert jwt.get_unverified_header(assertion) == {"alg": alg, "typ": "JWT", "kid": "key-1"}
    claims = jwt.decode(
        assertion, key.public_key(), algorithms=[alg], audience=TOKEN_URL,
        options={"verify_exp": False, "verify_iat": False},
    )  # fmt: skip
    assert claims["iss"] == claims["sub"] == "osteoalert"
    assert claims["exp"] - claims["iat"] <= 300
    assert len(claims["jti"]) >= 16


async def test_each_assertion_has_its_own_jti(rsa_key: rsa.RSAPrivateKey) -> None:
    auth = _smart(_pem(rsa_key), Clock())
    first, second = auth.assertion(1.0), auth.assertion(1.0)
    assert (
        jwt.decode(first, options={"verify_signature": False})["jti"]
        != jwt.decode(second, options={"verify_signature": False})["jti"]
    )


async def test_the_token_is_cached_until_shortly_before_it_expires(rsa_key: rsa.RSAPrivateKey) -> None:
    clock = Clock()
    auth = _smart(_pem(rsa_key), clock)
    with respx.mock() as mock:
        route = _token_route(mock, expires_in=300)
        async with httpx.AsyncClient() as http:
            assert await auth.token(http) == "token-1"
            clock.now += 269  # 300 s minus a 30 s margin (10 %): still cached
            assert await auth.token(http) == "token-1"
            clock.now += 2
            assert await auth.token(http) == "token-2"
    assert route.call_count == 2


async def test_concurrent_tasks_share_one_token_request(rsa_key: rsa.RSAPrivateKey) -> None:
    auth = _smart(_pem(rsa_key), Clock())
    with respx.mock() as mock:
        route = _token_route(mock)
        async with httpx.AsyncClient() as http:
            tokens = await asyncio.gather(*(auth.token(http) for _ in range(10)))
    assert set(tokens) == {"token-1"}
    assert route.call_count == 1


@pytest.mark.parametrize(("status", "transient"), [(400, False), (401, False), (503, True), (429, True)])
async def test_token_endpoint_failures_say_whether_to_retry(
    rsa_key: rsa.RSAPrivateKey, status: int, transient: bool
) -> None:
    auth = _smart(_pem(rsa_key), Clock())
    with respx.mock() as mock:
        mock.post(TOKEN_URL).respond(status, json={"error": "invalid_client"})
        async with httpx.AsyncClient() as http:
            with pytest.raises(FhirClientError) as caught:
                await auth.token(http)
    assert caught.value.transient is transient
    assert "invalid_client" not in str(caught.value)  # the server's words are not echoed into logs


async def test_a_401_from_the_fhir_server_drops_the_token_and_is_retried_with_a_new_one(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    auth = _smart(_pem(rsa_key), Clock())
    with respx.mock() as mock:
        _token_route(mock)
        patient = mock.get(f"{BASE}/Patient/p1")
        patient.side_effect = [httpx.Response(401), httpx.Response(200, json={"resourceType": "Patient"})]
        async with httpx.AsyncClient() as http:
            connection = FhirConnection(BASE, http, auth)
            with pytest.raises(FhirClientError) as caught:
                async with connection.session() as client:
                    await client.get("Patient/p1")
            assert caught.value.transient
            async with connection.session() as client:
                await client.get("Patient/p1")
    assert [c.request.headers["Authorization"] for c in patient.calls] == ["Bearer token-1", "Bearer token-2"]


async def test_a_401_with_a_static_token_is_permanent() -> None:
    with respx.mock() as mock:
        route = mock.get(f"{BASE}/Patient/p1").respond(401)
        async with httpx.AsyncClient() as http:
            with pytest.raises(FhirClientError) as caught:
                async with FhirConnection(BASE, http, StaticBearer("static")).session() as client:
                    await client.get("Patient/p1")
    assert not caught.value.transient
    assert route.calls.last.request.headers["Authorization"] == "Bearer static"


async def test_without_authentication_no_header_is_sent() -> None:
    with respx.mock() as mock:
        route = mock.get(f"{BASE}/Patient/p1").respond(json={"resourceType": "Patient"})
        async with httpx.AsyncClient() as http, FhirConnection(BASE, http, NoAuth()).session() as client:
            await client.get("Patient/p1")
    assert "Authorization" not in route.calls.last.request.headers


def test_the_mode_comes_from_the_settings(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(_pem(rsa_key))
    assert isinstance(auth_from_settings(Settings()), NoAuth)
    assert isinstance(
        auth_from_settings(Settings(fhir_auth_mode="bearer", fhir_auth_token="t")), StaticBearer
    )
    smart = Settings(
        fhir_auth_mode="smart-backend", fhir_auth_client_id="c", fhir_auth_token_url=TOKEN_URL,
        fhir_auth_private_key_path=key, fhir_auth_alg="RS384",
    )  # fmt: skip
    assert isinstance(auth_from_settings(smart), SmartBackendAuth)


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({"fhir_auth_mode": "bearer"}, "fhir_auth_token"),
        ({"fhir_auth_mode": "smart-backend", "fhir_auth_client_id": "c"}, "fhir_auth_token_url"),
        ({"fhir_base_url": "not a url"}, "absolute"),
    ],
)
def test_an_incomplete_fhir_configuration_fails_at_start_up(changes: dict[str, str], missing: str) -> None:
    with pytest.raises(ValidationError, match=missing):
        Settings(**changes)  # type: ignore[arg-type]
