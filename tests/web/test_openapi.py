"""The OpenAPI document: every route of the app described, the served part true to the app.

Routes are found with `falcon.inspect` (Falcon's public view of its router: every route with its
responder methods, plus static routes and sinks), not by reading `create_app`, so a route added
anywhere (another module's `install`, a conditional route) is seen the moment the app has it.
"""

from __future__ import annotations

import dataclasses
import re

import falcon.inspect
import pytest

from conversion.options import ConversionOptions
from web.openapi import DOCUMENT, OUTSIDE_API, routed_operations

# Described, but routed only when a setting turns them on.
CONDITIONAL = {("/auth/oidc/login", "GET"), ("/auth/oidc/callback", "GET")}


def described_operations() -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method != "parameters"
    }


@pytest.fixture
def app(make_client):
    return make_client().app


def undescribed(app) -> list[tuple[str, str]]:
    """Return the routed operations neither described nor named outside the API."""
    described = described_operations()
    return sorted(
        (path, method)
        for path, method in routed_operations(app)
        if (path, method) not in described and path not in OUTSIDE_API
    )


def test_every_routed_operation_is_described_or_named_outside_the_api(app):
    assert undescribed(app) == []


def test_a_route_added_without_a_description_is_caught(app):
    class Resource:
        def on_get(self, req, resp, item_id):
            pass

        def on_post_note(self, req, resp, item_id):
            pass

    app.add_route("/things/{item_id:int}", Resource())
    app.add_route("/things/{item_id:int}/note", Resource(), suffix="note")
    app.add_route("/healthz/sneaky", Resource())
    assert undescribed(app) == [
        ("/healthz/sneaky", "GET"),
        ("/things/{item_id}", "GET"),
        ("/things/{item_id}/note", "POST"),
    ]


def test_static_routes_and_sinks_are_named_outside_the_api(app):
    prefixes = [route.prefix for route in falcon.inspect.inspect_static_routes(app)]
    prefixes += [sink.prefix for sink in falcon.inspect.inspect_sinks(app)]
    assert "/docs/static/" in prefixes
    assert [prefix for prefix in prefixes if prefix.rstrip("/") not in OUTSIDE_API] == []


def test_every_described_operation_is_routed_unless_conditional(app):
    routed = routed_operations(app)
    routed_paths = {path for path, _ in routed}
    assert {op for op in described_operations() if op not in routed} - CONDITIONAL == set()
    static = {route.prefix.rstrip("/") for route in falcon.inspect.inspect_static_routes(app)}
    static |= {sink.prefix for sink in falcon.inspect.inspect_sinks(app)}
    assert set(OUTSIDE_API) - routed_paths - static == set()


def test_the_served_document_describes_exactly_the_routed_operations(client, app):
    result = client.simulate_get("/openapi.json")
    assert result.status_code == 200
    assert result.headers["content-type"] == "application/json"
    served = result.json
    assert served["openapi"] == "3.0.3"
    operations = {
        (path, method.upper())
        for path, item in served["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert operations == {op for op in routed_operations(app) if op[0] not in OUTSIDE_API}
    for path, item in served["paths"].items():
        for key, operation in item.items():
            if key == "parameters":
                continue
            parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
            named = {p["name"] for p in parameters if p["in"] == "path"}
            assert named == set(re.findall(r"{(\w+)}", path)), f"{key} {path}"


def test_security_bearer_by_default_and_public_routes_without(client):
    served = client.simulate_get("/openapi.json").json
    schemes = served["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert served["security"] == [{"bearerAuth": []}]
    paths = served["paths"]
    assert paths["/d/{token}"]["get"]["security"] == []
    assert paths["/healthz"]["get"]["security"] == []
    assert {"basicAuth": []} in paths["/login"]["post"]["security"]
    assert "security" not in paths["/upload"]["post"]
    assert "401" in paths["/upload"]["post"]["responses"]


def test_the_upload_form_describes_the_file_and_every_option(client):
    form = client.simulate_get("/openapi.json").json["paths"]["/upload"]["post"]["requestBody"]
    schema = form["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"]
    assert schema["properties"]["file"] == {**schema["properties"]["file"], "format": "binary"}
    options = {field.name for field in dataclasses.fields(ConversionOptions)}
    assert set(schema["properties"]) == {"file", "keep_video", "webhook_url", *options}
    responses = client.simulate_get("/openapi.json").json["paths"]["/upload"]["post"]["responses"]
    assert set(responses) == {"202", "400", "401", "403", "413", "415", "422", "429", "503"}


def test_errors_are_problem_json_with_their_headers(client):
    served = client.simulate_get("/openapi.json").json
    responses = served["components"]["responses"]
    for response in responses.values():
        assert set(response["content"]) == {"application/problem+json"}
    assert "WWW-Authenticate" in responses["Unauthorized"]["headers"]
    assert "Retry-After" in responses["TooManyRequests"]["headers"]
    assert "Retry-After" in responses["ServiceUnavailable"]["headers"]
    codes = {
        code
        for item in served["paths"].values()
        for op in item.values()
        if "responses" in op
        for code in op["responses"]
    }
    assert {"400", "401", "404", "409", "413", "415", "422", "429", "503"} <= codes


def test_the_documented_page_bounds_are_the_enforced_ones(client, auth):
    # Schemathesis found a huge offset reaching MariaDB as a syntax error (a 500).
    parameters = DOCUMENT["paths"]["/jobs"]["get"]["parameters"]
    bounds = {p["name"]: p["schema"] for p in parameters if p["schema"]["type"] == "integer"}
    for name, schema in bounds.items():
        inside = client.simulate_get("/jobs", params={name: schema["maximum"]}, headers=auth)
        assert inside.status_code == 200, name
        beyond = client.simulate_get("/jobs", params={name: schema["maximum"] + 1}, headers=auth)
        assert beyond.status_code == 400, name
        assert beyond.headers["content-type"] == "application/problem+json"
    huge = client.simulate_get("/jobs", params={"offset": 10**40}, headers=auth)
    assert huge.status_code == 400
