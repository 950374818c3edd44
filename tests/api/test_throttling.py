import base64
import time

from rest_framework.test import APIClient

from smsportal.accounts.models import Account


def test_sixteenth_request_in_a_second_gets_429(api_for, main_account):
    client = api_for(main_account)
    responses = [client.get("/v3/account") for _ in range(16)]
    assert [r.status_code for r in responses[:15]] == [200] * 15
    refused = responses[15]
    body = refused.json()
    assert refused.status_code == 429
    assert body["http_code"] == 429 and body["data"] is None
    assert body["response_code"] == "OVER_LIMIT" and body["error"]["code"] == "OVER_LIMIT"
    assert int(refused.headers["Retry-After"]) >= 1


def test_limit_is_per_account_and_configurable(api_for, main_account):
    Account.objects.filter(pk=main_account.pk).update(api_rate_limit=3)
    main_account.refresh_from_db()
    slow = api_for(main_account)
    other = api_for(Account.objects.create(name="Other", api_username="other-co"))
    assert [slow.get("/v3/account").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert other.get("/v3/account").status_code == 200  # another account's budget is untouched


def test_window_slides_and_requests_pass_again(api_for, main_account):
    Account.objects.filter(pk=main_account.pk).update(api_rate_limit=2)
    main_account.refresh_from_db()
    client = api_for(main_account)
    assert [client.get("/v3/account").status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(1.05)
    assert client.get("/v3/account").status_code == 200


def test_wrong_api_keys_lock_out_the_address_not_the_account(api_for, main_account, settings):
    settings.API_KEY_FAILURE_LIMIT = 3
    right = api_for(main_account)
    wrong = APIClient()
    token = base64.b64encode(f"{main_account.api_username}:not-the-key".encode()).decode()
    wrong.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    assert [wrong.get("/v3/account").status_code for _ in range(3)] == [401] * 3
    locked = wrong.get("/v3/account")  # refused before the key is looked at
    assert locked.status_code == 429 and locked.json()["response_code"] == "OVER_LIMIT"
    assert "wrong API keys" in locked.json()["response_msg"]
    assert right.get("/v3/account").status_code == 429  # the same address, even with the right key
    assert right.get("/v3/account", REMOTE_ADDR="203.0.113.9").status_code == 200  # another address is not locked
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION="Bearer not-the-key")
    assert bearer.get("/v3/account", REMOTE_ADDR="203.0.113.7").status_code == 401
