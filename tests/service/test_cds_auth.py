"""CDS Hooks JWT authentication: real keys, the issuer's JWKS URL mocked with respx, a real Redis.

Redis (127.0.0.1:6379) backs the shared replay cache; when it cannot be reached those tests are
SKIPPED with a loud reason in the summary, never silently.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.adapters.cds_auth import AuthError, CdsAuthenticator
from service.adapters.replay_cache import InMemoryReplayCache, RedisReplayCache, ReplayCacheUnavailableError
from service.ports import ReplayCache

pytestmark = pytest.mark.anyio

ISS = "https://ehr.example.org/"
JWKS_URL = "https://ehr.example.org/.well-known/jwks.json"
AUD = "https://cds.example.org/cds-services/osteoalert-patient-view"
NOW = 1_768_478_400.0  # 2026-01-15T12:00Z
REDIS_URL = "redis://127.0.0.1:6379/0"
KID_EC = {"kid": "ec-1"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Keys:
    ec: ec.EllipticCurvePrivateKey
    rsa: rsa.RSAPrivateKey

    def jwks(self, *, ec_kid: str = "ec-1", rsa_kid: str = "rsa-1") -> dict[str, Any]:
        ec_jwk = ECAlgorithm.to_jwk(self.ec.public_key(), as_dict=True)
        rsa_jwk = RSAAlgorithm.to_jwk(self.rsa.public_key(), as_dict=True)
        return {
            "keys": [
                {**ec_jwk, "kid": ec_kid, "alg": "ES384", "use": "sig"},
                {**rsa_jwk, "kid": rsa_kid, "alg": "RS384", "use": "sig"},
            ]
        }


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(ec.generate_private_key(ec.SECP384R1()), rsa.generate_private_key(65537, 2048))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISS,
        "sub": "ehr-client",
        "aud": AUD,
        "iat": int(NOW),
        "exp": int(NOW) + 300,
        "jti": str(uuid.uuid4()),
        "tenant": "hospital-1",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def signed(keys: Keys, alg: str = "ES384", kid: str | None = None, **changes: Any) -> str:
    key = keys.ec if alg.startswith("ES") else keys.rsa
    kid = kid or ("ec-1" if alg.startswith("ES") else "rsa-1")
    return jwt.encode(claims(**changes), key, algorithm=alg, headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], payload: dict[str, Any], hmac_secret: bytes | None) -> str:
    """A token PyJWT refuses to make: `alg: none`, or HMAC keyed with our public key (confusion)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if hmac_secret is None:
        return signing_input + "."
    mac = hmac.new(hmac_secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def public_pem(keys: Keys) -> bytes:
    return keys.ec.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class Setup:
    auth: CdsAuthenticator
    jwks: respx.Route
    clock: Clock


@pytest.fixture
async def setup(keys: Keys) -> AsyncIterator[Setup]:
    clock = Clock()
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        route = mock.get(JWKS_URL).respond(json=keys.jwks())
        async with httpx.AsyncClient() as http:
            auth = CdsAuthenticator({ISS: JWKS_URL}, InMemoryReplayCache(clock), http, clock=clock)
            yield Setup(auth, route, clock)


def bearer(token: str) -> str:
    return f"Bearer {token}"


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
async def test_a_valid_token_signed_es384_or_rs384_is_accepted(setup: Setup, keys: Keys, alg: str) -> None:
    token = signed(keys, alg, jti="jti-1")
    got = await setup.auth.verify(bearer(token), AUD)
    assert (got.iss, got.aud, got.jti, got.alg, got.sub, got.tenant) == (
        ISS,
        AUD,
        "jti-1",
        alg,
        "ehr-client",
        "hospital-1",
    )


async def test_an_aud_array_holding_the_endpoint_is_accepted(setup: Setup, keys: Keys) -> None:
    token = signed(keys, aud=["https://other.example.org", AUD])
    assert (await setup.auth.verify(bearer(token), AUD)).aud == AUD


REJECTED: list[tuple[str, Callable[[Keys], str | None]]] = [
    ("no Authorization header", lambda _: None),
    ("an empty header", lambda _: ""),
    ("another scheme", lambda k: f"Basic {signed(k)}"),
    ("a bearer without token", lambda _: "Bearer "),
    ("garbage", lambda _: "Bearer not.a.jwt"),
    ("alg none", lambda _: bearer(forged({"alg": "none", "kid": "ec-1"}, claims(), None))),
    (
        "HS256 keyed with the public key (confusion)",
        lambda k: bearer(forged({"alg": "HS256", "typ": "JWT", "kid": "ec-1"}, claims(), public_pem(k))),
    ),
    ("HS384", lambda _: bearer(jwt.encode(claims(), secrets.token_bytes(48), "HS384", {"kid": "ec-1"}))),
    ("HS512", lambda _: bearer(jwt.encode(claims(), secrets.token_bytes(64), "HS512", {"kid": "ec-1"}))),
    ("RS256", lambda k: bearer(jwt.encode(claims(), k.rsa, "RS256", {"kid": "rsa-1"}))),
    ("ES256 header", lambda _: bearer(forged({"alg": "ES256", "kid": "ec-1"}, claims(), b"x"))),
    ("PS384", lambda k: bearer(jwt.encode(claims(), k.rsa, "PS384", {"kid": "rsa-1"}))),
    ("no kid", lambda k: bearer(jwt.encode(claims(), k.ec, "ES384"))),
    ("ES384 header naming the RSA key", lambda k: bearer(signed(k, "ES384", kid="rsa-1"))),
    ("RS384 header naming the EC key", lambda k: bearer(signed(k, "RS384", kid="ec-1"))),
    (
        "signed by a key the issuer never published",
        lambda _: bearer(
            jwt.encode(claims(), ec.generate_private_key(ec.SECP384R1()), "ES384", {"kid": "ec-1"})
        ),
    ),
    ("wrong aud", lambda k: bearer(signed(k, aud="https://cds.example.org/cds-services/other"))),
    ("aud with a trailing slash", lambda k: bearer(signed(k, aud=AUD + "/"))),
    ("aud array without the endpoint", lambda k: bearer(signed(k, aud=["https://other.example.org"]))),
    ("no aud", lambda k: bearer(signed(k, aud=None))),
    ("unknown issuer", lambda k: bearer(signed(k, iss="https://evil.example.org/"))),
    ("no issuer", lambda k: bearer(signed(k, iss=None))),
    ("expired beyond the leeway", lambda k: bearer(signed(k, iat=int(NOW) - 300, exp=int(NOW) - 31))),
    (
        "iat in the future beyond the leeway",
        lambda k: bearer(signed(k, iat=int(NOW) + 31, exp=int(NOW) + 300)),
    ),
    ("nbf in the future beyond the leeway", lambda k: bearer(signed(k, nbf=int(NOW) + 31))),
    ("no exp", lambda k: bearer(signed(k, exp=None))),
    ("no iat", lambda k: bearer(signed(k, iat=None))),
    ("exp as a string", lambda k: bearer(signed(k, exp=str(int(NOW) + 300)))),
    ("exp before iat", lambda k: bearer(signed(k, iat=int(NOW), exp=int(NOW) - 10))),
    ("valid for more than an hour", lambda k: bearer(signed(k, exp=int(NOW) + 3700))),
    ("no jti", lambda k: bearer(signed(k, jti=None))),
    ("empty jti", lambda k: bearer(signed(k, jti=""))),
]


@pytest.mark.parametrize("make", [m for _, m in REJECTED], ids=[name for name, _ in REJECTED])
async def test_an_invalid_call_is_refused_without_detail(
    setup: Setup, keys: Keys, make: Callable[[Keys], str | None]
) -> None:
    with pytest.raises(AuthError) as raised:
        await setup.auth.verify(make(keys), AUD)
    assert str(raised.value) == "unauthorized"
    assert raised.value.reason


@pytest.mark.parametrize(
    ("iat", "exp", "accepted"),
    [
        (NOW - 300, NOW - 29, True),
        (NOW - 300, NOW - 31, False),
        (NOW + 29, NOW + 300, True),
        (NOW + 31, NOW + 300, False),
    ],
    ids=["expired within leeway", "expired beyond leeway", "iat ahead within leeway", "iat ahead beyond"],
)
async def test_the_leeway_bounds_clock_skew_both_ways(
    setup: Setup, keys: Keys, iat: float, exp: float, accepted: bool
) -> None:
    verify = setup.auth.verify(bearer(signed(keys, iat=int(iat), exp=int(exp))), AUD)
    if accepted:
        await verify
    else:
        with pytest.raises(AuthError):
            await verify


async def test_a_replayed_jti_is_refused_until_the_token_has_expired(setup: Setup, keys: Keys) -> None:
    token = bearer(signed(keys))
    await setup.auth.verify(token, AUD)
    with pytest.raises(AuthError) as raised:
        await setup.auth.verify(token, AUD)
    assert raised.value.reason == "jti replayed"


async def test_a_token_replayed_to_another_endpoint_is_refused_by_its_aud(setup: Setup, keys: Keys) -> None:
    token = bearer(signed(keys))
    await setup.auth.verify(token, AUD)
    with pytest.raises(AuthError, match="unauthorized"):
        await setup.auth.verify(token, AUD.replace("patient-view", "order-sign"))


async def test_the_jwks_is_fetched_once_for_many_calls(setup: Setup, keys: Keys) -> None:
    for alg in ["ES384", "RS384"] * 10:
        await setup.auth.verify(bearer(signed(keys, alg)), AUD)
    assert setup.jwks.call_count == 1


async def test_an_unknown_kid_refreshes_the_jwks_once_then_is_refused(setup: Setup, keys: Keys) -> None:
    await setup.auth.verify(bearer(signed(keys)), AUD)
    for _ in range(20):  # a flood of unknown kids
        with pytest.raises(AuthError) as raised:
            await setup.auth.verify(bearer(signed(keys, kid=f"kid-{secrets.token_hex(4)}")), AUD)
        assert raised.value.reason == "unknown kid"
    assert setup.jwks.call_count == 2
    setup.clock.now += 61  # the refresh interval has passed: one more fetch is allowed
    with pytest.raises(AuthError):
        await setup.auth.verify(bearer(signed(keys, kid="still-unknown", iat=int(NOW) + 61)), AUD)
    assert setup.jwks.call_count == 3


async def test_concurrent_calls_with_unknown_kids_fetch_the_jwks_at_most_twice(
    setup: Setup, keys: Keys
) -> None:
    tokens = [bearer(signed(keys, kid=f"kid-{i}")) for i in range(10)]
    outcomes = await asyncio.gather(*(setup.auth.verify(t, AUD) for t in tokens), return_exceptions=True)
    assert all(isinstance(o, AuthError) for o in outcomes)
    assert setup.jwks.call_count == 2  # the first fetch, then the one refresh unknown kids are allowed


async def test_a_rotated_key_is_picked_up_on_its_first_use(setup: Setup, keys: Keys) -> None:
    await setup.auth.verify(bearer(signed(keys)), AUD)
    setup.jwks.respond(json=keys.jwks(ec_kid="ec-2"))
    await setup.auth.verify(bearer(signed(keys, kid="ec-2")), AUD)
    assert setup.jwks.call_count == 2


async def test_a_jku_header_is_ignored_keys_come_only_from_the_configured_url(
    setup: Setup, keys: Keys
) -> None:
    # respx refuses any request to an unmocked URL: fetching the jku would fail this test.
    token = jwt.encode(claims(), keys.ec, "ES384", {"kid": "ec-1", "jku": "https://evil.example.org/jwks"})
    await setup.auth.verify(bearer(token), AUD)
    assert setup.jwks.call_count == 1


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectTimeout("slow"), httpx.Response(503), httpx.Response(200, text="not json")],
    ids=["timeout", "HTTP 503", "not JSON"],
)
async def test_an_unavailable_jwks_refuses_the_call_and_is_not_hammered(
    setup: Setup, keys: Keys, failure: Exception | httpx.Response
) -> None:
    setup.jwks.mock(side_effect=[failure])
    for _ in range(5):
        with pytest.raises(AuthError):
            await setup.auth.verify(bearer(signed(keys)), AUD)
    assert setup.jwks.call_count == 1


async def test_known_keys_survive_a_failed_refresh(setup: Setup, keys: Keys) -> None:
    await setup.auth.verify(bearer(signed(keys)), AUD)
    setup.jwks.mock(side_effect=[httpx.ConnectError("down")])
    setup.clock.now += 3601  # the cached JWKS is stale: a refresh is tried and fails
    await setup.auth.verify(bearer(signed(keys, iat=int(NOW) + 3601, exp=int(NOW) + 3900)), AUD)
    assert setup.jwks.call_count == 2


async def test_the_jwks_is_fetched_with_a_bounded_timeout(setup: Setup, keys: Keys) -> None:
    await setup.auth.verify(bearer(signed(keys)), AUD)
    timeout = setup.jwks.calls.last.request.extensions["timeout"]
    assert 0 < timeout["read"] <= 10 and 0 < timeout["connect"] <= 10


async def test_no_token_reaches_the_logs(setup: Setup, keys: Keys, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    good, bad = signed(keys), signed(keys, aud="https://elsewhere.example.org")
    await setup.auth.verify(bearer(good), AUD)
    with pytest.raises(AuthError):
        await setup.auth.verify(bearer(bad), AUD)
    assert "aud is not this endpoint" in caplog.text
    for token in (good, bad):
        assert token not in caplog.text
        assert token.split(".")[1] not in caplog.text  # not even the payload


# --- replay caches -----------------------------------------------------------------------------------


async def test_the_in_memory_replay_cache_forgets_a_jti_once_its_token_has_expired() -> None:
    clock = Clock()
    cache = InMemoryReplayCache(clock)
    assert await cache.first_use("iss\x1fjti", 60)
    assert not await cache.first_use("iss\x1fjti", 60)
    clock.now += 61
    assert await cache.first_use("iss\x1fother", 60)
    assert len(cache) == 1  # the expired entry was purged
    assert await cache.first_use("iss\x1fjti", 60)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except RedisError as err:
        await client.aclose()
        pytest.skip(f"!!! REDIS NOT TESTED: cannot reach {REDIS_URL} ({err}). Start redis-server. !!!")
    prefix = f"osteoalert-test:{secrets.token_hex(8)}:"
    try:
        yield prefix
    finally:
        async for name in client.scan_iter(match=prefix + "*"):
            await client.delete(name)
        await client.aclose()


async def test_the_redis_replay_cache_sets_each_key_once_with_its_expiry(redis_prefix: str) -> None:
    cache = RedisReplayCache.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        assert await cache.first_use("iss\x1fjti-1", 120.2)
        assert not await cache.first_use("iss\x1fjti-1", 120.2)
        assert await cache.first_use("iss\x1fjti-2", 0.1)
        client = Redis.from_url(REDIS_URL)
        names = [name async for name in client.scan_iter(match=redis_prefix + "*")]
        ttls = sorted([await client.ttl(name) for name in names])
        await client.aclose()
        assert len(names) == 2 and ttls[0] in (0, 1) and 115 <= ttls[1] <= 121
        assert not any(b"jti" in name for name in names)  # hashed names
    finally:
        await cache.aclose()


async def test_a_token_replayed_to_another_replica_sharing_redis_is_refused(
    keys: Keys, redis_prefix: str
) -> None:
    token = bearer(signed(keys))
    caches: list[RedisReplayCache] = []
    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(JWKS_URL).respond(json=keys.jwks())
        async with httpx.AsyncClient() as http:

            def replica() -> CdsAuthenticator:
                caches.append(RedisReplayCache.from_url(REDIS_URL, prefix=redis_prefix))
                return CdsAuthenticator({ISS: JWKS_URL}, caches[-1], http, clock=Clock())

            first, second = replica(), replica()
            await first.verify(token, AUD)
            with pytest.raises(AuthError, match="unauthorized"):
                await second.verify(token, AUD)
    for cache in caches:
        await cache.aclose()


async def test_an_unreachable_redis_is_a_service_error_not_an_authentication_failure() -> None:
    cache: ReplayCache = RedisReplayCache.from_url("redis://127.0.0.1:1/0", timeout=0.5)
    with pytest.raises(ReplayCacheUnavailableError):
        await cache.first_use("iss\x1fjti", 60)
    assert isinstance(cache, RedisReplayCache)
    await cache.aclose()
