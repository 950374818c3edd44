import base64
import json
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from smsportal.messaging import statuses
from smsportal.messaging.gateways.base import (
    ACCEPTED,
    PERMANENT,
    TEMPORARY,
    OutboundSms,
    WebhookRejected,
    WebhookRequest,
)
from smsportal.messaging.gateways.clicksend import ClickSendGateway

from .fakes import Canned, FakeUpstream, closed_port_url


@pytest.fixture
def fake():
    with FakeUpstream("clicksend") as upstream:
        yield upstream


def gateway(base_url, **config):
    return ClickSendGateway(
        config={"base_url": base_url, **config},
        credentials={"username": "user@example.com", "api_key": "API-KEY-1"},
        webhook_secret="s3cret",
    )


def sms(n=1, sender="", **kwargs):
    body = kwargs.pop("body", f'Hi {n} "quoted" \\ back')
    return OutboundSms(
        message_id=n, idempotency_key=f"key-{n}", to=f"+6141100{n:04d}", sender=sender, body=body, **kwargs
    )


def form_hook(form, url="https://portal.example/hooks/clicksend/status/3?secret=s3cret"):
    return WebhookRequest(
        url=url,
        method="POST",
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=urlencode(form).encode(),
        form={k: str(v) for k, v in form.items()},
        query={"secret": "s3cret"},
    )


def json_hook(data):
    return WebhookRequest(
        url="https://portal.example/hooks/clicksend/status/3",
        method="POST",
        headers={"content-type": "application/json"},
        body=json.dumps(data).encode(),
    )


# Submitting


def test_accepted_sends_one_json_request_for_the_batch(fake):
    results = gateway(fake.url, default_sender="SMSPortal").send_batch([sms(1), sms(2, sender="+61400000000")])

    assert [(r.message_id, r.outcome) for r in results] == [(1, ACCEPTED), (2, ACCEPTED)]
    assert [r.gateway_message_id for r in results] == ["CS-00000001", "CS-00000002"]
    assert results[0].raw["custom_string"] == "key-1"
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v3/sms/send")
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"user@example.com:API-KEY-1").decode()
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "messages": [
            {
                "source": "smsportal",
                "from": "SMSPortal",
                "to": "+61411000001",
                "body": 'Hi 1 "quoted" \\ back',
                "custom_string": "key-1",
            },
            {
                "source": "smsportal",
                "from": "+61400000000",
                "to": "+61411000002",
                "body": 'Hi 2 "quoted" \\ back',
                "custom_string": "key-2",
            },
        ]
    }


def test_no_sender_lets_clicksend_choose(fake):
    gateway(fake.url).send_batch([sms(1)])
    assert "from" not in fake.requests[0].json()["messages"][0]


def test_per_message_statuses(fake):
    fake.statuses.update(
        {"+61411000002": "INVALID_RECIPIENT", "+61411000003": "INSUFFICIENT_CREDIT", "+61411000004": "RATE_LIMITED"}
    )
    results = gateway(fake.url).send_batch([sms(n) for n in range(1, 5)])
    assert [(r.outcome, r.error_code) for r in results] == [
        (ACCEPTED, ""),
        (PERMANENT, "INVALID_RECIPIENT"),
        (PERMANENT, "INSUFFICIENT_CREDIT"),
        (TEMPORARY, "RATE_LIMITED"),
    ]
    assert results[1].error_text == "Invalid recipient"


def test_results_matched_by_custom_string_not_position(fake):
    def reversed_answer(request):
        answer = fake._default_clicksend(request)
        answer.body["data"]["messages"].reverse()
        return answer

    fake.handler = reversed_answer
    results = gateway(fake.url).send_batch([sms(1), sms(2), sms(3)])
    assert [r.message_id for r in results] == [1, 2, 3]
    assert [r.raw["to"] for r in results] == ["+61411000001", "+61411000002", "+61411000003"]


def test_falls_back_to_position_without_custom_string(fake):
    def without_custom_string(request):
        answer = fake._default_clicksend(request)
        for item in answer.body["data"]["messages"]:
            item["custom_string"] = None
        return answer

    fake.handler = without_custom_string
    results = gateway(fake.url).send_batch([sms(1), sms(2)])
    assert [(r.outcome, r.raw["to"]) for r in results] == [(ACCEPTED, "+61411000001"), (ACCEPTED, "+61411000002")]


def test_unmatched_message_is_bad_response(fake):
    def one_missing(request):
        answer = fake._default_clicksend(request)
        del answer.body["data"]["messages"][0]
        for item in answer.body["data"]["messages"]:
            item["custom_string"] = None
        return answer

    fake.handler = one_missing
    results = gateway(fake.url).send_batch([sms(1), sms(2)])
    assert [(r.outcome, r.error_code) for r in results] == [(PERMANENT, "bad_response"), (PERMANENT, "bad_response")]


def test_chunks_beyond_max_batch_in_order(fake):
    gw = gateway(fake.url)
    gw.max_batch = 2
    results = gw.send_batch([sms(n) for n in range(1, 6)])
    assert [len(r.json()["messages"]) for r in fake.requests] == [2, 2, 1]
    assert [r.message_id for r in results] == [1, 2, 3, 4, 5]
    assert all(r.outcome == ACCEPTED for r in results)


def test_429_makes_every_message_temporary_with_retry_after(fake):
    fake.enqueue(Canned(429, {"http_code": 429, "response_code": "TOO_MANY_REQUESTS"}, headers={"Retry-After": "3"}))
    results = gateway(fake.url).send_batch([sms(1), sms(2)])
    assert [(r.message_id, r.outcome, r.error_code, r.retry_after) for r in results] == [
        (1, TEMPORARY, "TOO_MANY_REQUESTS", 3.0),
        (2, TEMPORARY, "TOO_MANY_REQUESTS", 3.0),
    ]


def test_500_is_temporary(fake):
    fake.enqueue(Canned(503, "<html>busy</html>"))
    results = gateway(fake.url).send_batch([sms(1), sms(2)])
    assert {(r.outcome, r.error_code, r.retry_after) for r in results} == {(TEMPORARY, "503", None)}


def test_timeout_is_temporary(fake):
    fake.enqueue(Canned(200, {}, delay=1.0))
    started = time.monotonic()
    results = gateway(fake.url, read_timeout="0.2").send_batch([sms(1), sms(2)])
    assert {(r.outcome, r.error_code) for r in results} == {(TEMPORARY, "timeout")}
    assert time.monotonic() - started < 0.9


def test_connection_refused_is_temporary():
    results = gateway(closed_port_url()).send_batch([sms(1)])
    assert (results[0].outcome, results[0].error_code) == (TEMPORARY, "connection_error")


@pytest.mark.parametrize("body", ["not json", {"http_code": 200, "data": None}, {"data": {"messages": "x"}}])
def test_unreadable_success_is_permanent_never_retried(fake, body):
    fake.enqueue(Canned(200, body))
    results = gateway(fake.url).send_batch([sms(1), sms(2)])
    assert {(r.outcome, r.error_code) for r in results} == {(PERMANENT, "bad_response")}


def test_success_without_message_id_is_bad_response(fake):
    fake.enqueue(Canned(200, {"data": {"messages": [{"status": "SUCCESS", "custom_string": "key-1"}]}}))
    [result] = gateway(fake.url).send_batch([sms(1)])
    assert (result.outcome, result.error_code) == (PERMANENT, "bad_response")


def test_4xx_is_permanent_with_clicksend_code(fake):
    envelope = {"http_code": 401, "response_code": "UNAUTHORIZED", "response_msg": "Invalid credentials.", "data": None}
    fake.enqueue(Canned(401, envelope))
    [result] = gateway(fake.url).send_batch([sms(1)])
    assert (result.outcome, result.error_code, result.error_text) == (PERMANENT, "UNAUTHORIZED", "Invalid credentials.")


def test_validate():
    assert ClickSendGateway.validate(config={}, credentials={"username": "u", "api_key": "k"}) == {}
    problems = ClickSendGateway.validate(config={"base_url": "rest.clicksend.com", "read_timeout": "x"}, credentials={})
    assert set(problems) == {"username", "api_key", "base_url", "read_timeout"}


# Webhooks

RECEIPT = {
    "timestamp_send": "1722565400",
    "timestamp": "1722565411",
    "message_id": "2336751A-BBBE-4887-9D7C-CB7558F00208",
    "status_code": "201",
    "status_text": "Success: Message received on handset.",
    "error_code": "",
    "error_text": "",
    "custom_string": "key-1",
    "subaccount_id": "563840",
    "message_type": "sms",
}


def test_verify_uses_the_secret():
    gw = gateway("http://unused")
    gw.verify(form_hook(RECEIPT))
    with pytest.raises(WebhookRejected) as caught:
        gw.verify(json_hook(RECEIPT))
    assert caught.value.status == 403


def test_parse_status_form_delivered():
    [report] = gateway("http://unused").parse_status(form_hook(RECEIPT))
    assert report.gateway_message_id == RECEIPT["message_id"]
    assert report.status == statuses.DELIVERED
    assert report.at == datetime.fromtimestamp(1722565411, UTC)
    assert report.text == "Success: Message received on handset."
    assert report.raw == RECEIPT


@pytest.mark.parametrize(
    "code,expected",
    [
        (200, statuses.SENT),
        (201, statuses.DELIVERED),
        (300, statuses.UNDELIVERED),
        (301, statuses.UNDELIVERED),
        (302, statuses.UNDELIVERED),
    ],
)
def test_parse_status_json_codes(code, expected):
    receipt = {**RECEIPT, "status_code": code, "timestamp": 1722565411, "error_code": 301, "error_text": "Expired"}
    [report] = gateway("http://unused").parse_status(json_hook(receipt))
    assert report.status == expected
    assert (report.code, report.text) == ("301", "Expired")


def test_parse_status_json_list_skips_unknown_codes():
    receipts = [
        {**RECEIPT, "message_id": "A"},
        {**RECEIPT, "message_id": "B", "status_code": 999},
        {"status_code": 201},
    ]
    reports = gateway("http://unused").parse_status(json_hook(receipts))
    assert [r.gateway_message_id for r in reports] == ["A"]


def test_parse_status_bad_json_is_400():
    request = WebhookRequest(url="https://x", method="POST", headers={"content-type": "application/json"}, body=b"{")
    with pytest.raises(WebhookRejected) as caught:
        gateway("http://unused").parse_status(request)
    assert caught.value.status == 400


def test_parse_inbound_form_and_json():
    inbound = {
        "timestamp": "1436174407",
        "from": "+61411111111",
        "to": "+61422222222",
        "body": "Yes please",
        "original_body": "Want more?",
        "original_message_id": "C557B56E-83C0-4070-A74C-9BF05474B418",
        "custom_string": "",
        "message_id": "IN-1",
    }
    for request in (form_hook(inbound), json_hook([inbound])):
        [message] = gateway("http://unused").parse_inbound(request)
        assert (message.sender, message.to, message.body, message.gateway_message_id) == (
            "+61411111111",
            "+61422222222",
            "Yes please",
            "IN-1",
        )
        assert message.at == datetime(2015, 7, 6, 9, 20, 7, tzinfo=UTC)
        assert message.raw["original_message_id"] == "C557B56E-83C0-4070-A74C-9BF05474B418"
