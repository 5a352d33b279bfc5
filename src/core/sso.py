"""Single sign-on as an OpenID Connect relying party: authorization code + PKCE (S256) + nonce.

:class:`OidcClient` reads the provider's ``/.well-known/openid-configuration``, starts a sign-in
(:meth:`OidcClient.begin` returns the URL to send the browser to, and the state, nonce and code
verifier the caller keeps for this browser), and finishes it (:meth:`OidcClient.finish` swaps the
code for tokens with authlib's requests client, then checks the ID token with joserfc: signature
against the provider's JWKS, an asymmetric algorithm, ``iss``, ``aud``, ``azp``, ``exp``, ``iat``
and the ``nonce``). :func:`sign_in` links the identity to the account with the same verified
e-mail, or creates one. Every refusal is an :class:`SsoError` whose message can be shown.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from core.accounts import AccountError, create_user, get_user_by_email, normalize_email
from core.models import User
from core.settings import Settings

# Asymmetric only: an HS256 ID token would be signed with our own client secret, and "none" with
# nothing at all.
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
SCOPES = "openid email profile"
LEEWAY_SECONDS = 60
HTTP_TIMEOUT = 10
# Provider metadata and keys are fetched again after this long (keys rotate).
METADATA_TTL_SECONDS = 3600


class SsoError(Exception):
    """A sign-in was refused; the message says why and can be shown to the user."""


class ProviderUnavailable(SsoError):
    """The provider could not be reached or answered nonsense; worth trying again later."""


@dataclasses.dataclass(frozen=True)
class LoginStart:
    """What one browser's sign-in needs to keep until the provider sends it back."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who the provider vouches for, after every check passed."""

    subject: str
    email: str
    is_admin: bool
    claims: dict[str, Any]


class OidcClient:
    """The relying party for the provider named by OIDC_ISSUER."""

    def __init__(
        self,
        settings: Settings,
        *,
        http: Callable[[], requests.Session] = requests.Session,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not settings.oidc_issuer or not settings.oidc_client_id:
            raise ValueError("single sign-on needs OIDC_ISSUER and OIDC_CLIENT_ID")
        self._settings = settings
        self._http = http
        self._clock = clock
        self.redirect_uri = f"{settings.public_url}/auth/oidc/callback"
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._fetched_at = 0.0

    def metadata(self) -> dict[str, Any]:
        """Return the provider's discovery document (cached), checked against OIDC_ISSUER."""
        if self._metadata is None or self._clock() - self._fetched_at > METADATA_TTL_SECONDS:
            document = self._get_json(
                f"{self._settings.oidc_issuer}/.well-known/openid-configuration"
            )
            if document.get("issuer", "").rstrip("/") != self._settings.oidc_issuer:
                raise SsoError("the provider's discovery document names another issuer")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(document.get(key), str):
                    raise SsoError(f"the provider's discovery document has no {key}")
            self._metadata, self._keys, self._fetched_at = document, None, self._clock()
        return self._metadata

    def begin(self) -> LoginStart:
        """Return the provider URL to send the browser to, with fresh state, nonce and verifier."""
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        with self._session() as client:
            url, _ = client.create_authorization_url(
                self.metadata()["authorization_endpoint"],
                state=state,
                code_verifier=verifier,
                nonce=nonce,
            )
        return LoginStart(url, state, nonce, verifier)

    def finish(self, code: str, state: str, started: LoginStart) -> Identity:
        """Swap the provider's code for tokens and return the identity its ID token proves."""
        if not code or not secrets.compare_digest(state or "", started.state):
            raise SsoError("the sign-in does not match the one this browser started; try again")
        with self._session() as client:
            try:
                token = client.fetch_token(
                    self.metadata()["token_endpoint"],
                    code=code,
                    code_verifier=started.code_verifier,
                    timeout=HTTP_TIMEOUT,
                )
            except OAuthError as error:
                raise SsoError(f"the provider refused the sign-in code: {error.error}") from None
            except (requests.RequestException, ValueError):
                raise ProviderUnavailable("the sign-in provider did not answer properly") from None
        if not isinstance(token.get("id_token"), str):
            raise SsoError("the provider sent no ID token")
        claims = self.verify_id_token(token["id_token"], started.nonce)
        return self._identity(claims)

    def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """Return the claims of a valid ID token for us and this nonce, else raise SsoError."""
        try:
            decoded = self._decode(id_token, refresh=False)
        except (JoseError, ValueError):
            decoded = None
        if decoded is None:  # a key the provider rotated in since we fetched its set
            try:
                decoded = self._decode(id_token, refresh=True)
            except JoseError as error:
                raise SsoError(f"the ID token is not valid: {error.error}") from None
            except ValueError:
                raise SsoError("the ID token is not valid: malformed") from None
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=LEEWAY_SECONDS,
            # The issuer exactly as the provider spells it (Authentik's ends in a slash, which
            # the setting drops); metadata() checked it names OIDC_ISSUER.
            iss={"essential": True, "value": self.metadata()["issuer"]},
            aud={"essential": True, "value": self._settings.oidc_client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise SsoError("the ID token has expired") from None
        except (MissingClaimError, InvalidClaimError) as error:
            raise SsoError(f"the ID token's {error.claim} claim is missing or wrong") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self._settings.oidc_client_id:
            raise SsoError("the ID token's azp claim is missing or wrong")
        return claims

    def _decode(self, id_token: str, refresh: bool):
        if self._keys is None or refresh:
            self._keys = KeySet.import_key_set(self._get_json(self.metadata()["jwks_uri"]))
        return jwt.decode(id_token, self._keys, algorithms=list(ID_TOKEN_ALGORITHMS))

    def _identity(self, claims: dict[str, Any]) -> Identity:
        email = normalize_email(claims.get("email") or "")
        if not email:
            raise SsoError("the provider sent no e-mail address (is the email scope allowed?)")
        if claims.get("email_verified") is not True:
            raise SsoError("the provider has not verified this e-mail address")
        domain = email.rpartition("@")[2]
        allowed = self._settings.oidc_allowed_domains
        if allowed and domain not in allowed:
            raise SsoError(f"accounts from {domain} may not sign in here")
        return Identity(str(claims["sub"]), email, self._is_admin(claims), claims)

    def _is_admin(self, claims: dict[str, Any]) -> bool:
        wanted = self._settings.oidc_admin_value
        if not wanted:
            return False
        value = claims.get(self._settings.oidc_admin_claim)
        if isinstance(value, list):
            return wanted in value
        return value == wanted or (value is True and wanted.lower() == "true")

    def _session(self) -> OAuth2Session:
        client = OAuth2Session(
            client_id=self._settings.oidc_client_id,
            client_secret=self._settings.oidc_client_secret,
            token_endpoint_auth_method=(
                "client_secret_basic" if self._settings.oidc_client_secret else "none"
            ),
            scope=SCOPES,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
        )
        return client

    def _get_json(self, url: str) -> dict[str, Any]:
        with self._http() as http:
            try:
                response = http.get(url, timeout=HTTP_TIMEOUT)
                response.raise_for_status()
                document = response.json()
            except (requests.RequestException, ValueError):
                raise ProviderUnavailable(f"the sign-in provider did not answer at {url}") from None
        if not isinstance(document, dict):
            raise ProviderUnavailable(f"the sign-in provider did not answer properly at {url}")
        return document


def sign_in(session: Session, identity: Identity) -> User:
    """Return the active account for a verified identity, creating it at first sign-in.

    The account is found by e-mail. A provider's admin claim promotes the account; losing it
    later does not demote (an operator does, with the users command). Flushes, never commits.
    """
    user = get_user_by_email(session, identity.email)
    if user is None:
        # Nobody knows this password: the account signs in through the provider (or a reset).
        try:
            user = create_user(
                session, identity.email, secrets.token_urlsafe(32), is_admin=identity.is_admin
            )
        except AccountError as error:
            raise SsoError(str(error)) from None
    elif not user.is_active:
        raise SsoError("this account is disabled")
    elif identity.is_admin and not user.is_admin:
        user.is_admin = True
        session.flush()
    return user
