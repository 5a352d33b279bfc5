"""An OpenID provider for the tests, built from authlib's own server classes, on loopback HTTP.

`AuthorizationServer` with `AuthorizationCodeGrant`, `CodeChallenge(required=True)` (PKCE) and
`OpenIDCode(require_nonce=True)`, behind a small Falcon app: discovery, JWKS, authorize and
token. There is no login page: the authorize endpoint signs in `provider.user` at once, as a
browser with a provider session would. `running_provider()` serves it from a thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, make_server

import falcon
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, UserInfo
from authlib.oidc.core.models import AuthorizationCodeMixin
from joserfc.jwk import KeySet, RSAKey
from requests.structures import CaseInsensitiveDict

CLIENT_ID = "vid2mp3-test"
CLIENT_SECRET = "client-secret-" + "s" * 32
SCOPES = ("openid", "email", "profile")


@dataclasses.dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method == "client_secret_basic"

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclasses.dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return None


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

    def save_authorization_code(self, code, request):
        data = request.payload.data
        self.server.codes[code] = Code(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            user=request.user,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=int(time.time()),
        )

    def query_authorization_code(self, code, client):
        item = self.server.codes.get(code)
        return item if item is not None and item.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code):
        self.server.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code):
        return authorization_code.user


class IdToken(OpenIDCode):
    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce, request):
        return any(code.nonce == nonce for code in self.provider.codes.values())

    def resolve_client_private_key(self, client):
        return self.provider.key

    def get_client_algorithm(self, client):
        return "RS256"

    def get_client_claims(self, client):
        return {"iss": self.provider.issuer, "aud": [client.get_client_id()]}

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": self.provider.key.kid}

    def generate_user_info(self, user, scope):
        return UserInfo(user)


class FalconOAuth2Request(OAuth2Request):
    """authlib's request over a Falcon request: query and form in the payload."""

    def __init__(self, req: falcon.Request) -> None:
        super().__init__(req.method, req.url, headers=CaseInsensitiveDict(req.headers))
        self._args = dict(req.params)
        self._form = {}
        if req.method == "POST":
            self._form = dict(parse_qsl(req.bounded_stream.read().decode()))
        self.payload = BasicOAuth2Payload({**self._args, **self._form})

    @property
    def args(self):
        return self._args

    @property
    def form(self):
        return self._form


class Provider(AuthorizationServer):
    """The provider's state: one client, its codes, one signing key, the signed-in user."""

    def __init__(self) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.issuer = ""
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        self.key = RSAKey.generate_key(2048, auto_kid=True)
        self.user: dict = {}
        self.register_token_generator(
            "default", BearerTokenGenerator(lambda *args, **kwargs: secrets.token_urlsafe(32))
        )
        self.register_grant(CodeGrant, [CodeChallenge(required=True), IdToken(self)])

    def query_client(self, client_id):
        return self.clients.get(client_id)

    def save_token(self, token, request):
        pass

    def create_oauth2_request(self, request):
        return request if isinstance(request, OAuth2Request) else FalconOAuth2Request(request)

    def handle_response(self, status, body, headers):
        return status, body, headers

    def send_signal(self, name, *args, **kwargs):
        pass

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "scopes_supported": list(SCOPES),
        }


def _reply(resp: falcon.Response, status: int, body, headers) -> None:
    resp.status = status
    for name, value in headers:
        resp.set_header(name, value)
    if isinstance(body, dict):
        resp.media = body
    else:
        resp.text = body or ""


def _app(provider: Provider) -> falcon.App:
    app = falcon.App()

    class Discovery:
        def on_get(self, req, resp):
            resp.media = provider.discovery()

    class Keys:
        def on_get(self, req, resp):
            resp.media = KeySet([provider.key]).as_dict(private=False)

    class Authorize:
        def on_get(self, req, resp):
            try:
                grant = provider.get_consent_grant(req, end_user=provider.user)
            except OAuth2Error as error:
                _reply(resp, *error())
                return
            _reply(
                resp,
                *provider.create_authorization_response(
                    grant.request, grant_user=provider.user, grant=grant
                ),
            )

    class Token:
        def on_post(self, req, resp):
            _reply(resp, *provider.create_token_response(req))

    app.add_route("/.well-known/openid-configuration", Discovery())
    app.add_route("/jwks", Keys())
    app.add_route("/authorize", Authorize())
    app.add_route("/token", Token())
    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def running_provider(redirect_uri: str) -> Iterator[Provider]:
    """Serve a provider on 127.0.0.1 with one client allowed to return to `redirect_uri`."""
    provider = Provider()
    server = make_server("127.0.0.1", 0, _app(provider), handler_class=_Quiet)
    provider.issuer = f"http://127.0.0.1:{server.server_port}"
    provider.clients[CLIENT_ID] = Client(CLIENT_ID, CLIENT_SECRET, [redirect_uri])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
