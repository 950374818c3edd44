"""Gateways' webhooks through the client: a Twilio status callback signed with the real algorithm (the `twilio`
package's RequestValidator over the public URL) is stored and later applied; a tampered one, a wrong secret or an
unknown connection stores nothing."""

from urllib.parse import urlencode, urlsplit

import pytest
from twilio.request_validator import RequestValidator

from smsportal.messaging import reports, statuses, webhooks
from smsportal.messaging.models import DeliveryReport, GatewayConnection, Message
from smsportal.messaging.selectors import webhook_urls
from smsportal.messaging.services import SmsRequest, messages_send

TOKEN = "twilio-auth-token-0001"
SID = "AC" + "0123456789abcdef" * 2
RECEIVED = []


def record_inbound(*, connection, messages):
    RECEIVED.append((connection, list(messages)))


@pytest.fixture(autouse=True)
def _public_url_and_fresh_cache(settings):
    settings.PUBLIC_BASE_URL = "https://portal.example"  # what the upstream calls, not the test client's host
    webhooks._connections.clear()  # the view caches connections by id; ids repeat across tests
    yield
    webhooks._connections.clear()


@pytest.fixture
def twilio(funded):
    return GatewayConnection.objects.create(
        account=funded, name="Twilio", kind="twilio", credentials={"account_sid": SID, "auth_token": TOKEN},
        config={"default_sender": "+61400000000"},
    )


@pytest.fixture
def sent(funded, twilio):
    """A message Twilio accepted as SM0001, waiting for its delivery report."""
    outcome = messages_send(account=funded, requests=[SmsRequest(to="+61412345678", body="Hi")]).outcomes[0]
    Message.objects.filter(pk=outcome.message_id).update(status=statuses.SENT, gateway=twilio,
                                                         gateway_message_id="SM0001")
    return Message.objects.get(pk=outcome.message_id)


def post_signed(client, public_url, params, *, token=TOKEN, signature=None, **headers):
    """POST form `params` to the path of `public_url`, signed as Twilio signs it."""
    parts = urlsplit(public_url)
    signature = signature or RequestValidator(token).compute_signature(public_url, params)
    return client.post(f"{parts.path}?{parts.query}", data=urlencode(params),
                       content_type="application/x-www-form-urlencoded", HTTP_X_TWILIO_SIGNATURE=signature, **headers)


def delivered(message_sid="SM0001", status="delivered"):
    return {"MessageSid": message_sid, "SmsSid": message_sid, "AccountSid": SID, "From": "+61400000000",
            "To": "+61412345678", "ApiVersion": "2010-04-01", "MessageStatus": status, "RawDlrDoneDate": "2611230612"}


def test_signed_status_callback_is_stored_then_applied(client, twilio, sent):
    url = webhook_urls(twilio)["status_webhook_url"]
    assert url.startswith("https://portal.example/hooks/gateways/")
    r = post_signed(client, url, delivered())
    assert r.status_code == 200 and r["Content-Type"].startswith("text/xml") and b"<Response>" in r.content
    report = DeliveryReport.objects.get()
    assert (report.gateway_id, report.gateway_message_id, report.status) == (twilio.pk, "SM0001", "delivered")
    assert report.raw["MessageStatus"] == "delivered" and report.applied_at is None
    assert Message.objects.get(pk=sent.pk).status == statuses.SENT  # the webhook only stores

    assert reports.reports_apply() == {"applied": 1}
    message = Message.objects.get(pk=sent.pk)
    assert message.status == statuses.DELIVERED and message.final_at is not None
    assert list(message.events.values_list("status", "via"))[-1] == ("delivered", "report")


def test_a_repeated_callback_changes_nothing_twice(client, twilio, sent):
    url = webhook_urls(twilio)["status_webhook_url"]
    for _ in range(2):
        assert post_signed(client, url, delivered()).status_code == 200
    assert reports.reports_apply() == {"applied": 1, "ignored": 1}
    assert Message.objects.get(pk=sent.pk).events.filter(status=statuses.DELIVERED).count() == 1


def test_undelivered_callback_keeps_twilios_error_code(client, twilio, sent):
    params = {**delivered(status="undelivered"), "ErrorCode": "30003"}
    assert post_signed(client, webhook_urls(twilio)["status_webhook_url"], params).status_code == 200
    reports.reports_apply()
    message = Message.objects.get(pk=sent.pk)
    assert message.status == statuses.UNDELIVERED and message.events.last().code == "30003"


@pytest.mark.parametrize("tamper", [
    lambda p: {**p, "MessageStatus": "undelivered"},  # a field changed after signing
    lambda p: {**p, "ErrorCode": "30003"},  # a field added
    lambda p: {k: v for k, v in p.items() if k != "RawDlrDoneDate"},  # a field removed
])
def test_tampered_callback_is_403_and_nothing_is_stored(client, twilio, sent, tamper):
    url = webhook_urls(twilio)["status_webhook_url"]
    params = delivered()
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    r = post_signed(client, url, tamper(params), signature=signature)
    assert r.status_code == 403
    assert DeliveryReport.objects.count() == 0
    reports.reports_apply()
    assert Message.objects.get(pk=sent.pk).status == statuses.SENT


def test_signature_over_another_url_or_token_or_none_is_403(client, twilio, sent):
    url = webhook_urls(twilio)["status_webhook_url"]
    internal = "http://testserver" + url.removeprefix("https://portal.example")
    wrong_url = RequestValidator(TOKEN).compute_signature(internal, delivered())
    assert post_signed(client, url, delivered(), signature=wrong_url).status_code == 403
    assert post_signed(client, url, delivered(), token="another-token").status_code == 403
    parts = urlsplit(url)
    unsigned = client.post(f"{parts.path}?{parts.query}", data=urlencode(delivered()),
                           content_type="application/x-www-form-urlencoded")
    assert unsigned.status_code == 403
    assert DeliveryReport.objects.count() == 0


def test_signed_inbound_reaches_the_inbox_handler(client, twilio, settings):
    settings.SMS_INBOUND_HANDLER = "tests.messaging.test_webhooks.record_inbound"
    RECEIVED.clear()
    params = {"MessageSid": "SM9", "AccountSid": SID, "From": "+61412345678", "To": "+61400000000",
              "Body": "STOP", "NumMedia": "0", "NumSegments": "1"}
    r = post_signed(client, webhook_urls(twilio)["inbound_webhook_url"], params)
    assert r.status_code == 200
    [(connection, [message])] = RECEIVED
    assert connection.pk == twilio.pk and (message.sender, message.to, message.body) == ("+61412345678",
                                                                                        "+61400000000", "STOP")
    RECEIVED.clear()


@pytest.mark.parametrize("kind, config", [
    ("sandbox", {}),
    ("http", {"url": "http://127.0.0.1:9/send"}),
])
def test_wrong_secret_on_a_secret_url_connection_is_403(client, funded, kind, config):
    connection = GatewayConnection.objects.create(account=funded, name=kind, kind=kind, config=config)
    path = f"/hooks/gateways/{connection.pk}/status"
    body = {"id": "X1", "status": "delivered"}
    for query in ("?secret=wrong", "", f"?secret={connection.webhook_secret[:-1]}"):
        r = client.post(path + query, body, content_type="application/json")
        assert r.status_code == 403, query
    assert DeliveryReport.objects.count() == 0
    # The right secret passes verification (the sandbox then says it sends no reports).
    if kind == "sandbox":
        r = client.post(f"{path}?secret={connection.webhook_secret}", body, content_type="application/json")
        assert r.status_code == 400


def test_unknown_connection_or_kind_is_404_and_get_is_405(client, twilio):
    assert client.post("/hooks/gateways/999999/status?secret=x", {}).status_code == 404
    assert client.post(f"/hooks/gateways/{twilio.pk}/other?secret=x", {}).status_code == 404
    assert client.get(f"/hooks/gateways/{twilio.pk}/status").status_code == 405
    assert DeliveryReport.objects.count() == 0


def test_webhooks_answer_before_the_rest_of_the_stack(client, twilio, sent):
    """No session, CSRF or message machinery on a webhook: just its answer, with a Content-Length."""
    response = post_signed(client, webhook_urls(twilio)["status_webhook_url"], delivered())
    assert response.status_code == 200 and response["Content-Length"] == str(len(response.content))
    assert not response.cookies and "Vary" not in response
