"""Issue and verify the service's JSON Web Tokens (HS256 only) with joserfc.

Every token carries iss, sub, aud, iat, nbf, exp and jti, and `verify` insists on all of them.
The header's `alg` must be exactly HS256, checked before and by joserfc, so `none`, RS*/ES*
(key confusion) and HS384/HS512 are refused. One secret serves several audiences: API tokens
("vid2mp3-api") and download links ("vid2mp3-download") cannot stand in for each other.
Every failure is an `InvalidToken` whose `reason` is short and safe to show to the client.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExceededSizeError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import OctKey

if TYPE_CHECKING:
    from core.settings import Settings

ALGORITHM = "HS256"
# The audience of e-mailed download links; the API's own audience comes from settings.
DOWNLOAD_AUDIENCE = "vid2mp3-download"
MIN_SECRET_LENGTH = 32
MAX_TOKEN_LENGTH = 8192
REQUIRED_CLAIMS = ("iss", "sub", "aud", "iat", "nbf", "exp", "jti")
_TIME_CLAIMS = ("iat", "nbf", "exp")
_STRING_CLAIMS = ("iss", "sub", "aud", "jti")
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class InvalidToken(Exception):
    """A token was refused; `reason` says why in a few words (the web layer answers 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenService:
    """Sign and check tokens for one issuer with one shared secret."""

    def __init__(
        self,
        secret: str,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        leeway_seconds: int = 30,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"the JWT secret must be at least {MIN_SECRET_LENGTH} characters long")
        if not issuer or not audience:
            raise ValueError("issuer and audience must not be empty")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        if leeway_seconds < 0:
            raise ValueError("leeway_seconds must not be negative")
        # OctKey refuses PEM/SSH public keys as HMAC secrets (the classic confusion trap).
        self._key = OctKey.import_key(secret)
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        self.leeway_seconds = leeway_seconds
        self._clock = clock

    def issue(
        self,
        subject: str,
        *,
        audience: str | None = None,
        ttl_seconds: int | None = None,
        claims: dict[str, Any] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Return a signed token for `subject` and the claims it carries."""
        if not isinstance(subject, str) or not subject:
            raise ValueError("subject must be a non-empty string")
        ttl = self.ttl_seconds if ttl_seconds is None else ttl_seconds
        if ttl <= 0:
            raise ValueError("ttl_seconds must be positive")
        extra = dict(claims or {})
        clash = sorted(set(extra) & set(REQUIRED_CLAIMS))
        if clash:
            raise ValueError(f"reserved claims cannot be overridden: {', '.join(clash)}")
        now = int(self._clock())
        payload: dict[str, Any] = {
            **extra,
            "iss": self.issuer,
            "sub": subject,
            "aud": audience or self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + int(ttl),
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode({"alg": ALGORITHM, "typ": "JWT"}, payload, self._key, [ALGORITHM])
        return token, dict(payload)

    def verify(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        """Return the claims of a valid token for `audience` (default: ours), else InvalidToken."""
        expected_audience = audience or self.audience
        self._check_header(token)
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM]).claims
        except BadSignatureError:
            raise InvalidToken("bad signature") from None
        except UnsupportedAlgorithmError:
            raise InvalidToken("algorithm not allowed") from None
        except ExceededSizeError:
            raise InvalidToken("token too large") from None
        except (JoseError, ValueError, TypeError, UnicodeError):
            raise InvalidToken("malformed token") from None
        self._check_claims(claims, expected_audience)
        return claims

    @staticmethod
    def _check_header(token: object) -> None:
        """Refuse anything that is not a compact HS256 JWS before joserfc looks at it."""
        if not isinstance(token, str) or not token:
            raise InvalidToken("malformed token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("token too large")
        if not _COMPACT_JWS.fullmatch(token):
            raise InvalidToken("malformed token")
        header = _b64_json(token.split(".", 1)[0])
        if not isinstance(header, dict):
            raise InvalidToken("malformed token")
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("algorithm not allowed")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise InvalidToken("wrong token type")
        if "crit" in header:
            raise InvalidToken("unsupported header")

    def _check_claims(self, claims: dict[str, Any], audience: str) -> None:
        missing = [name for name in REQUIRED_CLAIMS if claims.get(name) in (None, "")]
        if missing:
            raise InvalidToken(f"missing claim: {', '.join(missing)}")
        for name in _TIME_CLAIMS:
            value = claims[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidToken(f"invalid claim: {name}")
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidToken(f"invalid claim: {name}")
        for name in _STRING_CLAIMS:
            # A list audience is legal JWT, but we only issue one audience per token.
            if not isinstance(claims[name], str):
                raise InvalidToken(f"invalid claim: {name}")
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=self.leeway_seconds,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": audience},
            sub={"essential": True},
            jti={"essential": True},
            iat={"essential": True},
            nbf={"essential": True},
            exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise InvalidToken("token expired") from None
        except MissingClaimError as error:
            raise InvalidToken(f"missing claim: {error.claim}") from None
        except InvalidClaimError as error:
            reason = _CLAIM_REASONS.get(error.claim, f"invalid claim: {error.claim}")
            raise InvalidToken(reason) from None
        if claims["exp"] <= claims["iat"]:
            raise InvalidToken("invalid claim: exp")


_CLAIM_REASONS = {
    "iss": "wrong issuer",
    "aud": "wrong audience",
    "nbf": "token not yet valid",
    "iat": "token issued in the future",
}


def _b64_json(segment: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, UnicodeError):
        raise InvalidToken("malformed token") from None


def bearer_token(header_value: str | None) -> str:
    """Return the token of an `Authorization: Bearer <token>` header or raise InvalidToken."""
    if header_value is None or not header_value.strip():
        raise InvalidToken("missing bearer token")
    parts = header_value.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise InvalidToken("malformed Authorization header")
    return parts[1]


def token_service(settings: Settings) -> TokenService:
    """Return the service that signs and checks this deployment's tokens and download links."""
    return TokenService(
        settings.signing_secret(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.jwt_ttl_seconds,
    )
