"""JWTs: what a valid token carries, and the attacks `verify` must refuse with a clear reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from core.tokens import REQUIRED_CLAIMS, InvalidToken, TokenService, bearer_token

SECRET = "s3cret-" + "k" * 40
ISSUER = "vid2mp3"
API = "vid2mp3-api"
DOWNLOAD = "vid2mp3-download"
NOW = 1_800_000_000
TTL = 3600
LEEWAY = 30


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(clock) -> TokenService:
    return TokenService(SECRET, ISSUER, API, TTL, LEEWAY, clock=clock)


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def good_claims(**changes):
    claims = {
        "iss": ISSUER,
        "sub": "42",
        "aud": API,
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + TTL,
        "jti": "0" * 32,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def hs256(claims, header=None, secret: bytes | str = SECRET) -> str:
    """Sign by hand, so any header and payload can be tried with the right secret."""
    secret = secret.encode() if isinstance(secret, str) else secret
    head = b64json(header or {"alg": "HS256", "typ": "JWT"})
    body = claims if isinstance(claims, str) else b64json(claims)
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def refused(service: TokenService, token, reason: str, **kwargs) -> None:
    with pytest.raises(InvalidToken) as caught:
        service.verify(token, **kwargs)
    assert caught.value.reason == reason
    assert str(caught.value) == reason


# --- valid tokens ---------------------------------------------------------------------------


def test_issue_and_verify(service):
    token, claims = service.issue("42", claims={"adm": True})
    assert set(REQUIRED_CLAIMS) <= set(claims)
    assert claims["iss"] == ISSUER and claims["sub"] == "42" and claims["aud"] == API
    assert claims["iat"] == claims["nbf"] == NOW and claims["exp"] == NOW + TTL
    assert re.fullmatch(r"[0-9a-f]{32}", claims["jti"])
    assert service.issue("42")[1]["jti"] != claims["jti"]  # a fresh id for every token
    assert claims["adm"] is True
    assert service.verify(token) == claims
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}


def test_each_token_has_its_own_jti(service):
    assert service.issue("42")[1]["jti"] != service.issue("42")[1]["jti"]


def test_hand_signed_token_with_good_claims_passes(service):
    # Guards the attack tests below: they fail for the reason they name, not for the helper.
    assert service.verify(hs256(good_claims()))["sub"] == "42"


def test_download_and_api_audiences_do_not_mix(service):
    link, _ = service.issue("job-1", audience=DOWNLOAD, ttl_seconds=7 * 86400)
    api, _ = service.issue("42")
    assert service.verify(link, audience=DOWNLOAD)["sub"] == "job-1"
    refused(service, link, "wrong audience")
    refused(service, api, "wrong audience", audience=DOWNLOAD)


def test_ttl_override(service, clock):
    token, claims = service.issue("42", ttl_seconds=60)
    assert claims["exp"] == NOW + 60
    clock.now = NOW + 60 + LEEWAY + 1
    refused(service, token, "token expired")


def test_leeway_tolerates_small_clock_skew(service, clock):
    token, _ = service.issue("42")
    clock.now = NOW + TTL + LEEWAY - 1
    assert service.verify(token)["sub"] == "42"
    clock.now = NOW - LEEWAY  # a verifier whose clock is a little behind
    assert service.verify(token)["sub"] == "42"


@pytest.mark.parametrize("secret", ["", "short", "x" * 31])
def test_short_secret_is_refused(secret):
    with pytest.raises(ValueError, match="at least 32"):
        TokenService(secret, ISSUER, API, TTL)


def test_reserved_claims_cannot_be_overridden(service):
    with pytest.raises(ValueError, match="reserved claims"):
        service.issue("42", claims={"aud": DOWNLOAD, "exp": NOW + 10**9})


@pytest.mark.parametrize("kwargs", [{"ttl_seconds": 0}, {"ttl_seconds": -5}])
def test_issue_refuses_bad_ttl(service, kwargs):
    with pytest.raises(ValueError):
        service.issue("42", **kwargs)


# --- algorithm attacks ----------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
def test_alg_none_is_refused(service, alg):
    unsigned = f"{b64json({'alg': alg, 'typ': 'JWT'})}.{b64json(good_claims())}."
    refused(service, unsigned, "algorithm not allowed")
    # The same, keeping a valid HS256 signature of the real header.
    signature = hs256(good_claims()).split(".")[2]
    refused(service, unsigned + signature, "algorithm not allowed")


def test_missing_alg_is_refused(service):
    refused(service, hs256(good_claims(), header={"typ": "JWT"}), "algorithm not allowed")


def test_wrong_key_is_refused(service, clock):
    other = TokenService("another-secret-" + "z" * 40, ISSUER, API, TTL, clock=clock)
    token, _ = other.issue("42")
    refused(service, token, "bad signature")


def test_rs256_token_is_refused(service, rsa_key):
    token = jwt.encode({"alg": "RS256"}, good_claims(), rsa_key, algorithms=["RS256"])
    refused(service, token, "algorithm not allowed")


def test_public_key_as_hmac_secret_is_refused(service, rsa_key):
    public_pem = rsa_key.as_pem(private=False)
    # Key confusion: HS256 "signed" with the RSA public key an attacker can read.
    forged = hs256(good_claims(), secret=public_pem)
    refused(service, forged, "bad signature")
    # And the service itself will not take a public key as its HMAC secret.
    with pytest.raises(ValueError):
        TokenService(public_pem.decode(), ISSUER, API, TTL)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_with_the_right_secret_are_refused(service, alg):
    token = jwt.encode({"alg": alg}, good_claims(), OctKey.import_key(SECRET), algorithms=[alg])
    refused(service, token, "algorithm not allowed")


def test_wrong_typ_is_refused(service):
    token = hs256(good_claims(), header={"alg": "HS256", "typ": "at+jwe"})
    refused(service, token, "wrong token type")


def test_crit_header_is_refused(service):
    token = hs256(good_claims(), header={"alg": "HS256", "crit": ["exp"], "exp": 1})
    refused(service, token, "unsupported header")


# --- claims ---------------------------------------------------------------------------------


def test_expired(service, clock):
    token, _ = service.issue("42")
    clock.now = NOW + TTL + LEEWAY
    refused(service, token, "token expired")


def test_not_yet_valid(service):
    refused(service, hs256(good_claims(nbf=NOW + LEEWAY + 60)), "token not yet valid")


def test_issued_in_the_future(service):
    token = hs256(good_claims(iat=NOW + LEEWAY + 60, exp=NOW + TTL + 60))
    refused(service, token, "token issued in the future")


def test_wrong_issuer(service, clock):
    other = TokenService(SECRET, "someone-else", API, TTL, clock=clock)
    refused(service, other.issue("42")[0], "wrong issuer")


def test_list_audience_is_refused(service):
    refused(service, hs256(good_claims(aud=[API, DOWNLOAD])), "invalid claim: aud")


def test_tampered_payload(service):
    token, claims = service.issue("42")
    head, _, signature = token.split(".")
    body = b64json({**claims, "sub": "1"})
    refused(service, f"{head}.{body}.{signature}", "bad signature")


def test_tampered_signature(service):
    token, _ = service.issue("42")
    last = "A" if token[-1] != "A" else "B"
    refused(service, token[:-1] + last, "bad signature")


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_missing_claim(service, claim):
    refused(service, hs256(good_claims(**{claim: None})), f"missing claim: {claim}")


@pytest.mark.parametrize(
    ("claim", "value"),
    [("exp", "never"), ("exp", True), ("iat", [1]), ("nbf", {}), ("sub", 42), ("jti", 1)],
)
def test_claim_of_the_wrong_type(service, claim, value):
    refused(service, hs256(good_claims(**{claim: value})), f"invalid claim: {claim}")


def test_exp_before_iat(service):
    refused(service, hs256(good_claims(iat=NOW, exp=NOW)), "invalid claim: exp")


# --- garbage --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "a.b.c.d.e",
        "....",
        "!!!.@@@.###",
        "eyJhbGciOiJIUzI1NiJ9..sig",
        "eyJhbGciOiJIUzI1NiJ9.e30",
        " " + "eyJhbGciOiJIUzI1NiJ9.e30.e30",
        "ÿÿÿ.ÿÿÿ.ÿÿÿ",
        None,
        b"a.b.c",
        123,
    ],
)
def test_garbled_token(service, token):
    refused(service, token, "malformed token")


def test_header_that_is_not_an_object(service):
    refused(service, f"{b64json(['HS256'])}.{b64json(good_claims())}.x", "malformed token")


def test_signed_payload_that_is_not_json(service):
    refused(service, hs256(b64(b"not json")), "malformed token")
    refused(service, hs256(b64json([1, 2])), "malformed token")


def test_oversized_token(service):
    refused(service, hs256(good_claims(pad="x" * 10_000)), "token too large")


# --- Authorization header -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["Bearer abc.def.ghi", "bearer abc.def.ghi", "BEARER  abc.def.ghi ", "\tBearer abc.def.ghi"],
)
def test_bearer_token(value):
    assert bearer_token(value) == "abc.def.ghi"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_bearer_token(value):
    with pytest.raises(InvalidToken) as caught:
        bearer_token(value)
    assert caught.value.reason == "missing bearer token"


@pytest.mark.parametrize(
    "value", ["Bearer", "Bearer ", "abc.def.ghi", "Basic dXNlcjpwYXNz", "Bearer a b", "Token abc"]
)
def test_malformed_authorization_header(value):
    with pytest.raises(InvalidToken) as caught:
        bearer_token(value)
    assert caught.value.reason == "malformed Authorization header"
