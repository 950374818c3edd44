"""/v3/gateways through the client: CRUD with credentials masked, a blank or masked credential keeping the stored
one, the webhook URLs shown to managers, 400s naming the field, isolation and capabilities."""

import pytest

from smsportal.messaging.models import GatewayConnection
from tests.factories import AccountFactory, MemberFactory, SubaccountFactory, UserFactory


@pytest.fixture
def account(main_account):
    main_account.api_rate_limit = 1000
    main_account.save(update_fields=["api_rate_limit"])
    return main_account


@pytest.fixture
def api(api_for, account):
    return api_for(account)


def ok(response):
    body = response.json()
    assert response.status_code == 200, body
    assert body["http_code"] == 200 and body["response_code"] == "SUCCESS"
    return body["data"]


def refused(response, status, field=None):
    body = response.json()
    assert response.status_code == status, body
    assert body["http_code"] == status and body["data"] is None
    if field is not None:
        assert field in body["error"]["fields"], body["error"]
    return body


TWILIO = {
    "type": "twilio",
    "name": "Twilio AU",
    "credentials": {"account_sid": "AC0123456789abcdef", "auth_token": "secret-token-1234"},
    "config": {"default_sender": "+61400000000"},
    "countries": ["au"],
    "priority": 10,
    "throughput_cap": 30,
}


def test_create_shows_credentials_masked_and_webhook_urls(api, account, settings):
    data = ok(api.post("/v3/gateways", TWILIO, format="json"))
    connection = GatewayConnection.objects.get(pk=data["gateway_id"])
    assert connection.account == account and connection.kind == "twilio"
    assert connection.credentials == TWILIO["credentials"]  # stored whole
    assert data["credentials"] == {"account_sid": "••••cdef", "auth_token": "••••1234"}
    assert (data["name"], data["type"], data["countries"], data["priority"], data["throughput_cap"]) == (
        "Twilio AU", "twilio", ["AU"], 10, 30)
    assert data["enabled"] is True and data["failure_streak"] == 0 and data["skipped_until"] is None
    assert data["config"] == {"default_sender": "+61400000000"}
    base = f"{settings.PUBLIC_BASE_URL}/hooks/gateways/{connection.pk}"
    assert data["status_webhook_url"] == f"{base}/status?secret={connection.webhook_secret}"
    assert data["inbound_webhook_url"] == f"{base}/inbound?secret={connection.webhook_secret}"
    assert "secret-token-1234" not in str(api.get("/v3/gateways").json())


def test_blank_or_masked_credential_keeps_the_stored_one(api):
    created = ok(api.post("/v3/gateways", TWILIO, format="json"))
    url = f"/v3/gateways/{created['gateway_id']}"
    updated = ok(api.put(url, {"name": "Renamed", "credentials": {"account_sid": created["credentials"]["account_sid"],
                                                                   "auth_token": ""}}, format="json"))
    connection = GatewayConnection.objects.get(pk=created["gateway_id"])
    assert updated["name"] == "Renamed" and connection.credentials == TWILIO["credentials"]
    assert updated["priority"] == 10 and updated["countries"] == ["AU"]  # left out: kept

    patched = ok(api.patch(url, {"credentials": {"auth_token": "new-token-5678"}, "enabled": 0}, format="json"))
    connection.refresh_from_db()
    assert connection.credentials["auth_token"] == "new-token-5678"
    assert patched["credentials"]["auth_token"] == "••••5678"
    assert connection.credentials["account_sid"] == "AC0123456789abcdef" and patched["enabled"] is False


def test_list_retrieve_and_delete(api, account):
    first = ok(api.post("/v3/gateways", TWILIO, format="json"))
    second = ok(api.post("/v3/gateways", {"type": "sandbox", "priority": 5}, format="json"))
    assert second["name"] == "Sandbox"
    listed = ok(api.get("/v3/gateways"))
    assert listed["total"] == 2 and [g["gateway_id"] for g in listed["data"]] == [second["gateway_id"],
                                                                                first["gateway_id"]]  # by priority
    assert ok(api.get(f"/v3/gateways/{first['gateway_id']}"))["name"] == "Twilio AU"
    r = api.delete(f"/v3/gateways/{first['gateway_id']}")
    assert ok(r) is True
    assert not GatewayConnection.objects.filter(pk=first["gateway_id"]).exists()
    refused(api.get(f"/v3/gateways/{first['gateway_id']}"), 404, "gateway_id")


@pytest.mark.parametrize("payload, field", [
    ({**TWILIO, "credentials": {"account_sid": "AC1"}}, "credentials.auth_token"),
    ({k: v for k, v in TWILIO.items() if k != "type"}, "type"),
    ({**TWILIO, "type": "carrier-pigeon"}, "type"),
    ({**TWILIO, "priority": "10"}, "priority"),
    ({**TWILIO, "priority": -1}, "priority"),
    ({**TWILIO, "countries": ["Australia"]}, "countries"),
    ({**TWILIO, "countries": 61}, "countries"),
    ({**TWILIO, "credentials": "AC1:token"}, "credentials"),
    ({**TWILIO, "throughput_cap": 0}, "throughput_cap"),
    ({**TWILIO, "name": ""}, "name"),
    ({**TWILIO, "colour": "red"}, "colour"),
])
def test_bad_values_are_400_naming_the_field(api, payload, field):
    refused(api.post("/v3/gateways", payload, format="json"), 400, field)
    assert GatewayConnection.objects.count() == 0


def test_type_cannot_change(api):
    created = ok(api.post("/v3/gateways", TWILIO, format="json"))
    refused(api.put(f"/v3/gateways/{created['gateway_id']}", {"type": "sandbox"}, format="json"), 400, "type")
    assert ok(api.put(f"/v3/gateways/{created['gateway_id']}", {"type": "twilio"}, format="json"))["type"] == "twilio"


def test_another_workspaces_gateway_is_not_found(api, api_for):
    other = AccountFactory(api_rate_limit=1000)
    theirs = ok(api_for(other).post("/v3/gateways", TWILIO, format="json"))
    url = f"/v3/gateways/{theirs['gateway_id']}"
    refused(api.get(url), 404, "gateway_id")
    refused(api.put(url, {"name": "Mine now"}, format="json"), 404, "gateway_id")
    refused(api.delete(url), 404, "gateway_id")
    assert ok(api.get("/v3/gateways"))["total"] == 0
    assert GatewayConnection.objects.get(pk=theirs["gateway_id"]).name == "Twilio AU"


@pytest.mark.parametrize("role, can_read, can_write", [
    ("admin", True, True), ("marketer", True, False), ("agent", True, False), ("viewer", True, False),
])
def test_capabilities_by_role(client, api, account, role, can_read, can_write):
    created = ok(api.post("/v3/gateways", TWILIO, format="json"))
    connection = GatewayConnection.objects.get(pk=created["gateway_id"])
    client.force_login(MemberFactory(account=account, role=role, user=UserFactory()).user)
    listed = client.get("/v3/gateways")
    assert listed.status_code == (200 if can_read else 403)
    shown = listed.json()["data"]["data"][0]
    # The webhook secret lets a caller post reports as the upstream: only those who manage gateways see it.
    assert (connection.webhook_secret in shown["status_webhook_url"]) == can_write
    assert shown["credentials"]["auth_token"] == "••••1234"
    r = client.post("/v3/gateways", {**TWILIO, "name": "Another"}, content_type="application/json")
    assert r.status_code == (200 if can_write else 403)
    r = client.patch(f"/v3/gateways/{connection.pk}", {"name": "Changed"}, content_type="application/json")
    assert r.status_code == (200 if can_write else 403)
    assert client.delete(f"/v3/gateways/{connection.pk}").status_code == (200 if can_write else 403)


def test_subaccount_without_settings_access_cannot_change_gateways(api_for, account):
    sub = SubaccountFactory(parent=account, access_settings=False, api_rate_limit=1000)
    assert api_for(sub).get("/v3/gateways").status_code == 200
    r = api_for(sub).post("/v3/gateways", TWILIO, format="json")
    assert r.status_code == 403 and r.json()["response_code"] == "FORBIDDEN"
