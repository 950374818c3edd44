"""CSRF on every form: a logged-in browser's POST without the token is refused (403), on every UI URL that takes a
POST and on every /v3 endpoint reached with the session cookie; the same POST with the token goes through.

URLs come from the resolver (routes.py); the exclusions below say why each is left out.
"""

import pytest
from django.conf import settings
from django.test import Client

from .routes import all_routes
from .test_isolation import object_key

# Gateways' webhooks are csrf_exempt by design: the gateway is not a browser and has no session; each proves itself
# with the connection's secret or signature instead (test_webhooks.py).
EXCLUDED_PREFIXES = {
    "hooks/": "gateways' webhooks: csrf_exempt, authenticated by secret or signature",
    "admin/": "the operator's Django admin (staff only), not a workspace's UI",
}
# Parameters that name no object: any valid value reaches the view.
OTHER_PARAMS = {"name": "daily", "country": "US", "kind": "status"}
MUTATING = ("POST", "PUT", "PATCH", "DELETE")


def _excluded(route) -> bool:
    return any(route.pattern.startswith(prefix) for prefix in EXCLUDED_PREFIXES)


def ui_post_routes():
    return [r for r in all_routes() if not r.is_api and not _excluded(r) and "POST" in r.methods]


def api_mutating_routes():
    return [r for r in all_routes() if r.is_api and any(m in r.methods for m in MUTATING)]


def url_for(route, ids: dict) -> str:
    kwargs = {}
    for param in route.params:
        key = object_key(route, param)
        kwargs[param] = ids[key] if key else OTHER_PARAMS[param]
    return route.url(**kwargs)


def csrf_client(workspace) -> Client:
    return workspace.browser(enforce_csrf_checks=True)


def csrf_token(client) -> str:
    """The token a page the user opened would carry (the cookie is set by rendering any form)."""
    client.get("/settings/")
    return client.cookies[settings.CSRF_COOKIE_NAME].value


def test_the_matrices_cover_the_forms():
    assert len(ui_post_routes()) >= 80 and len(api_mutating_routes()) >= 50


@pytest.mark.parametrize("route", ui_post_routes(), ids=lambda r: r.name or r.pattern)
def test_a_post_without_the_token_is_refused(family, route):
    b = family["b"]
    r = csrf_client(b).post(url_for(route, b.ids), {"name": "x"})
    assert r.status_code == 403, f"POST {route.pattern} without a CSRF token answered {r.status_code}"
    assert b"CSRF" in r.content


@pytest.mark.parametrize("route", api_mutating_routes(), ids=lambda r: r.name)
def test_the_api_with_a_session_and_no_token_is_refused(family, route):
    """The browser's session works on /v3 too, so a cross-site page could aim a POST at it: DRF's session
    authentication demands the token. (An API key needs none: no browser sends it on its own.)"""
    b = family["b"]
    client = csrf_client(b)
    url = url_for(route, b.ids)
    for method in (m for m in route.methods if m in MUTATING):
        r = getattr(client, method.lower())(url, {}, content_type="application/json")
        assert r.status_code == 403, f"{method} {route.pattern} with a session and no token: {r.status_code}"
        body = r.json()
        assert body["response_code"] == "FORBIDDEN" and "CSRF" in body["error"]["description"], body


def _posted(client, url, data, token):
    return client.post(url, {**data, "csrfmiddlewaretoken": token})


@pytest.mark.parametrize("name, data, expected", [
    ("contacts:list-create", {"name": "Newcomers"}, 302),
    ("contacts:list-rename", {"name": "Renamed"}, 302),
    ("inbox:template-new", {"template_name": "Hello", "body": "Hello there"}, 302),
    ("inbox:note", {"body": "Called back"}, 302),
    ("settings-profile", {"name": "B Ltd", "email": "b@example.test", "default_region": "AU",
                          "timezone": "Australia/Sydney"}, 302),
    ("logout", {}, 302),
])
def test_the_same_post_with_the_token_goes_through(family, name, data, expected):
    """So the 403s above are the token's doing: these forms, posted with it, do their work."""
    b = family["b"]
    client = csrf_client(b)
    route = next(r for r in all_routes() if r.name == name)
    url = url_for(route, b.ids)
    assert client.post(url, data).status_code == 403
    r = _posted(client, url, data, csrf_token(client))
    assert r.status_code == expected, r.content[:500]


def test_the_api_with_a_session_and_the_token_goes_through(family):
    b = family["b"]
    client = csrf_client(b)
    token = csrf_token(client)
    r = client.post("/v3/lists", {"list_name": "From the browser"}, content_type="application/json",
                    HTTP_X_CSRFTOKEN=token)
    assert r.status_code == 200 and r.json()["data"]["list_name"] == "From the browser"


def test_an_api_key_needs_no_token(family):
    from tests.conftest import KeyClient

    b = family["b"]
    client = KeyClient(b.account, b.raw_key, enforce_csrf_checks=True)
    r = client.post("/v3/lists", {"list_name": "From a program"}, format="json")
    assert r.status_code == 200
