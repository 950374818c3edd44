"""Isolation matrix: every URL that names an object, requested by a sibling workspace with the other's ids.

The URLs come from the resolver (routes.py), so a new URL with an id joins the matrix by itself, or fails
`test_every_id_in_every_url_is_covered_or_excluded` until someone says which object its parameters name or why it
is excluded. Sibling A (an admin: every capability, so only the workspace boundary can refuse) asks for sibling
B's objects with each method the view accepts: the UI by session, /v3 by HTTP Basic with A's API key. Every answer
must be 404 (/v3: 404 in ClickSend's envelope), and B's rows must be exactly as they were.
"""

import pytest

from tests.conftest import KeyClient

from .conftest import snapshot
from .routes import all_routes

# Patterns whose parameters name no object of a workspace, or that no session or API key reaches. Each says why.
EXCLUDED = {
    # Gateways' webhooks are authenticated by the connection's secret or Twilio's signature, not by a session or
    # an API key (no workspace is "logged in" to refuse); test_webhooks.py holds their rejection matrix.
    "messaging:gateway-webhook": "authenticated by signature or per-connection secret; see test_webhooks.py",
    # A report's name (summary, daily, countries, …) picks a chart, not an object; every report reads the caller's
    # own workspace, and an unknown name is a 404 of its own.
    "api:report": "the name of a report, not an object id",
    "reports:csv": "the name of a report table, not an object id",
    # An ISO country on the caller's own rate card (its main account's): no other workspace's row is reachable.
    "api:rate-card-rate": "a country code on the caller's own rate card",
    "settings-rates-remove": "a country code on the caller's own rate card",
}
# Django's admin is for the operator's staff (is_staff), not for workspaces; tests/test_admin.py covers it.
EXCLUDED_PREFIXES = {"admin/": "the operator's Django admin (staff only), not a workspace's UI"}

# Which of a workspace's objects a URL parameter names (the keys of Workspace.ids).
PARAM_OBJECTS = {
    "contact_id": "contact_id",
    "list_id": "list_id",
    "to_list_id": "spare_list_id",
    "opt_out_list_id": "spare_list_id",
    "field_id": "field_id",
    "segment_id": "segment_id",
    "job_id": "job_id",
    "campaign_id": "campaign_id",
    "sms_campaign_id": "campaign_id",
    "template_id": "template_id",
    "conversation_id": "conversation_id",
    "message_id": "message_id",  # the delivered one, with a receipt and a reply
    "original_message_id": "message_id",  # /v3/sms/inbound/{id}: the outbound a reply answers
    "connection_id": "connection_id",
    "gateway_id": "connection_id",
    "rule_id": "receipt_rule_id",
    "receipt_rule_id": "receipt_rule_id",
    "inbound_rule_id": "inbound_rule_id",
    "member_id": "member_id",
    "subaccount_id": "subaccount_id",
}
# Where the parameter's name alone does not say which object it is.
ROUTE_PARAM_OBJECTS = {
    ("api:sms-inbound-read-one", "message_id"): "inbound_id",
    ("api:sms-cancel", "message_id"): "scheduled_message_id",  # one that could still be cancelled
    ("messaging:cancel", "message_id"): "scheduled_message_id",
}

# Refused for a subaccount's workspace before any id is read, whatever the id: rates belong to the main account.
# The sibling gets the same 403 for B's id as for an id that exists nowhere (so it learns nothing), and the
# cousin test below, run by a main account's admin, reaches the lookup itself and gets its 404.
REFUSED_WHATEVER_THE_ID = {"settings-rates-markup": 403}
NO_SUCH_ID = 2_000_000_000

# Sent with every POST/PUT/PATCH: plausible values for the fields the forms and serializers take, so that a view
# which did let A through would really change B's row (and the snapshot would show it), not just fail validation.
UI_BODY = {
    "name": "Taken over", "first_name": "Mallory", "last_name": "Mallory", "phone_number": "+61412000999",
    "email": "mallory@example.test", "body": "Taken over", "label": "Taken", "status": "suspended",
    "role": "viewer", "amount": "5", "direction": "to_parent", "memo": "x", "markup_percent": "50",
    "enabled": "", "url": "http://127.0.0.1:9/taken", "to": "+61412000999", "schedule_mode": "now",
    "match": "all", "default_country": "AU", "col_0": "phone_number", "has_header": "on",
}
# Ids a form or serializer takes in its body are the caller's own, so that only the URL's id is foreign.
BODY_IDS = {"contact_list": "list_id", "list_id": "list_id", "user_id": "user_id"}
API_BODY = {
    "list_name": "Taken over", "first_name": "Mallory", "phone_number": "+61412000999", "name": "Taken over",
    "body": "Taken over", "template_name": "Taken over", "enabled": 0, "url": "http://127.0.0.1:9/taken",
    "to": "+61412000999", "account_name": "Taken over", "notes": "taken",
}


def _route_id(route) -> str:
    return route.name or route.pattern


def _excluded(route) -> str | None:
    for prefix, reason in EXCLUDED_PREFIXES.items():
        if route.pattern.startswith(prefix):
            return reason
    return EXCLUDED.get(route.name)


def object_key(route, param: str) -> str | None:
    return ROUTE_PARAM_OBJECTS.get((route.name, param)) or PARAM_OBJECTS.get(param)


def id_routes():
    return [r for r in all_routes() if r.params and not _excluded(r)]


def variants(route, victim: dict, own: dict) -> list[dict]:
    """Every way to fill the URL with at least one foreign id: all of them the victim's, then (for URLs naming
    several objects) each one alone the victim's among the caller's own; optional parts filled and left out."""
    required = [p for p in route.params if p not in route.optional]
    full = {p: victim[object_key(route, p)] for p in route.params}
    found = [full]
    if len(route.params) > 1:
        for foreign in route.params:
            found.append({p: (victim if p == foreign else own)[object_key(route, p)] for p in route.params})
    if route.optional:
        found.append({p: victim[object_key(route, p)] for p in required})
    unique = []
    for kwargs in found:
        if kwargs not in unique:
            unique.append(kwargs)
    return unique


def test_every_id_in_every_url_is_covered_or_excluded():
    """A URL with a parameter the matrix cannot fill fails here: add its object to PARAM_OBJECTS (and to
    conftest.populate) or add it to EXCLUDED with the reason."""
    uncovered = [
        f"{route.pattern} ({route.name}): {param}"
        for route in id_routes()
        for param in route.params
        if object_key(route, param) is None
    ]
    assert not uncovered, "URL parameters no isolation test fills:\n" + "\n".join(uncovered)
    nameless = [route.pattern for route in id_routes() if not route.name]
    assert not nameless, f"name these URL patterns so the matrix can reverse them: {nameless}"
    stale = set(EXCLUDED) - {route.name for route in all_routes()}
    assert not stale, f"exclusions for URLs that no longer exist: {stale}"


def test_the_matrix_is_not_empty():
    routes = id_routes()
    assert sum(r.is_api for r in routes) >= 35 and sum(not r.is_api for r in routes) >= 50


def _send(client, method: str, url: str, *, api: bool, own: dict):
    if method in ("GET", "DELETE"):
        return getattr(client, method.lower())(url)
    body_ids = {name: own[key] for name, key in BODY_IDS.items()}
    if api:
        return getattr(client, method.lower())(url, {**API_BODY, **body_ids}, format="json")
    return client.post(url, {**UI_BODY, **body_ids})


def assert_not_found(response, *, api: bool, what: str):
    assert response.status_code == 404, f"{what} answered {response.status_code}: {response.content[:300]!r}"
    if api:
        body = response.json()
        assert (body["http_code"], body["response_code"]) == (404, "NOT_FOUND"), f"{what}: {body}"


def client_for(workspace, *, api: bool):
    if api:
        return KeyClient(workspace.account, workspace.raw_key)
    return workspace.browser()


@pytest.mark.parametrize("route", id_routes(), ids=_route_id)
def test_a_sibling_gets_404_for_every_object_and_method(family, route):
    a, b = family["a"], family["b"]
    client = client_for(a, api=route.is_api)
    before = snapshot(b.account)
    for kwargs in variants(route, b.ids, a.ids):
        url = route.url(**kwargs)
        for method in route.methods:
            response = _send(client, method, url, api=route.is_api, own=a.ids)
            if route.name in REFUSED_WHATEVER_THE_ID:
                nowhere = _send(client, method, route.url(**{p: NO_SUCH_ID for p in kwargs}), api=route.is_api,
                                own=a.ids)
                expected = REFUSED_WHATEVER_THE_ID[route.name]
                assert response.status_code == nowhere.status_code == expected, f"{method} {url}"
            else:
                assert_not_found(response, api=route.is_api, what=f"{method} {url}")
    assert snapshot(b.account) == before, f"{route.pattern} changed the sibling's rows"


def _methods_in_safe_order(route) -> list[str]:
    """Reads first and deletes last, so every method still finds its object."""
    order = ("GET", "POST", "PUT", "PATCH", "DELETE")
    return sorted(route.methods, key=order.index)


@pytest.mark.parametrize("route", id_routes(), ids=_route_id)
def test_the_owner_reaches_every_object(family, route):
    """The control that makes the 404s above mean something: with its own ids, the owner is let through (the ids
    name real objects the view can find). Subaccounts are their parent's to manage, so its admin is the owner."""
    owner = family["parent_ws"] if "subaccount_id" in route.params else family["b"]
    ids = {**family["b"].ids}
    client = client_for(owner, api=route.is_api)
    url = route.url(**{p: ids[object_key(route, p)] for p in route.params})
    for method in _methods_in_safe_order(route):
        response = _send(client, method, url, api=route.is_api, own=ids)
        assert response.status_code not in (401, 403, 404, 405) and response.status_code < 500, (
            f"{method} {url} as its owner answered {response.status_code}: {response.content[:300]!r}")


def subaccount_routes():
    return [r for r in id_routes() if "subaccount_id" in r.params]


@pytest.mark.parametrize("route", subaccount_routes(), ids=_route_id)
def test_another_main_accounts_admin_gets_404_for_the_subaccounts(family, route):
    """A sibling never reaches a subaccount lookup (it has no subaccounts); a main account's admin does. The
    cousin asks for B (and B's members), also through its own child's URL, and gets 404 each time."""
    cousin, b = family["cousin"], family["b"]
    client = client_for(cousin, api=route.is_api)
    before, parent_before = snapshot(b.account), snapshot(family["parent"])
    for kwargs in variants(route, b.ids, cousin.ids):
        url = route.url(**kwargs)
        for method in route.methods:
            # These forms take no list or user id in their bodies; any workspace's filler would do.
            response = _send(client, method, url, api=route.is_api, own=family["a"].ids)
            assert_not_found(response, api=route.is_api, what=f"{method} {url}")
    assert snapshot(b.account) == before and snapshot(family["parent"]) == parent_before


@pytest.mark.parametrize("method, path, data", [
    ("put", "/v3/rate-cards", {"fallback_rate": "0.0001"}),
    ("put", "/v3/rate-cards/rates/AU", {"per_segment": "0.0001"}),
    ("delete", "/v3/rate-cards/rates/AU", None),
    ("post", "/settings/rates/set/", {"country": "AU", "per_segment": "0.0001"}),
    ("post", "/settings/rates/fallback/", {"fallback_rate": "0.0001"}),
    ("post", "/settings/rates/AU/remove/", {}),
])
def test_a_subaccount_cannot_edit_the_rate_card_its_siblings_pay(family, method, path, data):
    """The rate card is the main account's and prices every sibling: the URLs above name a country, not an object
    (so they are excluded from the matrix), and this is what keeps a subaccount off them."""
    from smsportal.accounts import services as accounts

    parent, a, b = family["parent"], family["a"], family["b"]
    accounts.rate_set(account=parent, country="AU", per_segment="0.0550")
    before, b_before = snapshot(parent), snapshot(b.account)
    api = path.startswith("/v3/")
    client = client_for(a, api=api)
    kwargs = {"format": "json"} if api and data is not None else {}
    response = getattr(client, method)(path, data, **kwargs) if data is not None else getattr(client, method)(path)
    assert response.status_code == 403, response.content[:300]
    if api:
        assert response.json()["response_code"] == "FORBIDDEN"
    assert snapshot(parent) == before and snapshot(b.account) == b_before
    # The control: the parent's own admin edits it.
    owner = client_for(family["parent_ws"], api=api)
    response = getattr(owner, method)(path, data, **kwargs) if data is not None else getattr(owner, method)(path)
    assert response.status_code in (200, 302) and snapshot(parent) != before
