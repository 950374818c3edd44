"""Every /v3 response, success or error, carries the envelope with the right status, code and field."""

import base64

import pytest
from rest_framework.test import APIClient

from smsportal.accounts.models import Account, User
from tests.factories import AccountFactory, MemberFactory, SubaccountFactory, UserFactory, api_key_for


def assert_error(response, status, code, field=None):
    body = response.json()
    assert response.status_code == status, body
    assert body["http_code"] == status
    assert body["response_code"] == code
    assert body["data"] is None
    assert body["error"]["code"] == code
    assert body["error"]["description"] and body["response_msg"] == body["error"]["description"]
    if field is not None:
        assert field in body["error"]["fields"], body["error"]
    return body


def test_success_envelope(api_for, main_account):
    body = api_for(main_account).get("/v3/account").json()
    assert body["http_code"] == 200 and body["response_code"] == "SUCCESS"
    assert isinstance(body["response_msg"], str) and body["data"]["user_id"] == main_account.pk


def test_bearer_auth_is_accepted(main_account):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(main_account)}")
    assert client.get("/v3/account").json()["data"]["username"] == main_account.api_username


def test_400_malformed_json(api_for, main_account):
    r = api_for(main_account).generic("POST", "/v3/subaccounts", '{"api_username": ', content_type="application/json")
    body = assert_error(r, 400, "BAD_REQUEST")
    assert "Malformed" in body["error"]["description"]


def test_400_wrong_types_and_unknown_fields_name_every_field(api_for, main_account):
    r = api_for(main_account).post(
        "/v3/subaccounts", {"api_username": 42, "access_sms": 7, "colour": "red"}, format="json"
    )
    body = assert_error(r, 400, "BAD_REQUEST")
    assert set(body["error"]["fields"]) == {"api_username", "access_sms", "colour"}
    assert not Account.objects.filter(parent=main_account).exists()


def test_400_domain_error_names_field_and_writes_nothing(api_for, main_account):
    client = api_for(main_account)
    r = client.post(
        "/v3/subaccounts", {"api_username": "ok-name", "email": "x@example.test", "password": "123"}, format="json"
    )
    assert_error(r, 400, "BAD_REQUEST", field="password")
    r = client.post("/v3/subaccounts", {"api_username": "ok-name", "phone_number": "+1 555"}, format="json")
    assert_error(r, 400, "BAD_REQUEST", field="phone_number")
    r = client.post("/v3/subaccounts", {"api_username": main_account.api_username}, format="json")
    assert_error(r, 400, "BAD_REQUEST", field="api_username")
    assert not Account.objects.filter(parent=main_account).exists()
    assert not User.objects.filter(email="x@example.test").exists()


@pytest.mark.parametrize(
    "header",
    [None, "Basic " + base64.b64encode(b"nobody:wrong").decode(), "Bearer not-a-key", "Bearer"],
    ids=["none", "bad-basic", "bad-bearer", "malformed-bearer"],
)
def test_401_without_valid_credentials(db, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    r = client.get("/v3/account")
    assert_error(r, 401, "UNAUTHORIZED")
    assert r.headers["WWW-Authenticate"].startswith("Basic")


def test_401_right_key_wrong_username(main_account):
    other = AccountFactory()
    token = base64.b64encode(f"{other.api_username}:{api_key_for(main_account)}".encode()).decode()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    assert_error(client.get("/v3/account"), 401, "UNAUTHORIZED")


def test_403_suspended_account(api_for, main_account):
    client = api_for(main_account)
    Account.objects.filter(pk=main_account.pk).update(status=Account.Status.SUSPENDED)
    body = assert_error(client.get("/v3/account"), 403, "FORBIDDEN")
    assert "suspended" in body["error"]["description"]


def test_403_subaccount_of_suspended_parent(api_for, sub_account):
    client = api_for(sub_account)
    Account.objects.filter(pk=sub_account.parent_id).update(status=Account.Status.SUSPENDED)
    assert_error(client.get("/v3/account"), 403, "FORBIDDEN")


def test_403_access_flag_off(api_for, main_account):
    sub = SubaccountFactory(parent=main_account, access_settings=False)
    body = assert_error(api_for(sub).put("/v3/account", {"account_name": "x"}, format="json"), 403, "FORBIDDEN")
    assert "may not PUT" in body["error"]["description"]


def test_404_unknown_id_and_unknown_path(api_for, main_account):
    client = api_for(main_account)
    assert_error(client.get("/v3/subaccounts/999999"), 404, "NOT_FOUND", field="subaccount_id")
    assert_error(client.get("/v3/no-such-endpoint"), 404, "NOT_FOUND")
    assert_error(client.get("/v3/subaccounts/abc"), 404, "NOT_FOUND")


def test_405_method_not_allowed(api_for, main_account):
    r = api_for(main_account).delete("/v3/account")
    assert_error(r, 405, "METHOD_NOT_ALLOWED")


@pytest.mark.urls("tests.api.boom_urls")
def test_500_internal_error_hides_details(api_for, main_account):
    r = api_for(main_account).get("/v3/boom")
    body = assert_error(r, 500, "INTERNAL_ERROR")
    assert "kaboom" not in r.content.decode()
    assert body["error"]["fields"] == {}


def test_session_auth_works_and_enforces_csrf(main_account):
    user = MemberFactory(account=main_account, role="admin", user=UserFactory()).user
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/v3/account").json()["data"]["user_id"] == main_account.pk
    body = assert_error(client.put("/v3/account", {"account_name": "Hijack"}, format="json"), 403, "FORBIDDEN")
    assert "CSRF" in body["error"]["description"]
    main_account.refresh_from_db()
    assert main_account.name != "Hijack"


def test_schema_and_docs_are_served(db):
    client = APIClient()
    schema = client.get("/v3/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/v3/account", "/v3/subaccounts", "/v3/subaccounts/{subaccount_id}/regen-api-key"} <= set(paths)
    docs = client.get("/v3/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
