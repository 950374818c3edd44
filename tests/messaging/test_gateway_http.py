import json
import time
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
from smsportal.messaging.gateways.http import HttpGateway, render

from .fakes import Canned, FakeUpstream, closed_port_url

STATUS_URL = "https://portal.example/hooks/http/status/5?secret=abc"
TEMPLATE = json.dumps(
    {
        "recipient": {"msisdn": "{{to}}"},
        "sender": "{{from}}",
        "text": "{{body}}",
        "note": "ref {{idempotency_key}} for #{{message_id}}",
        "id": "{{message_id}}",
        "callback": "{{status_url}}",
        "flags": [True, 3, None],
    }
)
BATCH_TEMPLATE = json.dumps(
    {
        "campaign": "x",
        "callback": "{{status_url}}",
        "messages": [{"to": "{{to}}", "text": "{{body}}", "ref": "{{message_id}}"}],
    }
)


@pytest.fixture
def fake():
    with FakeUpstream("http") as upstream:
        yield upstream


def gateway(url, credentials=None, **config):
    return HttpGateway(
        config={"url": url + "/v1/sms", **config},
        credentials={"auth_value": "Bearer xyz"} if credentials is None else credentials,
        status_webhook_url=STATUS_URL,
        webhook_secret="abc",
    )


def sms(n=1, sender="", **kwargs):
    body = kwargs.pop("body", f'Say "hi" {n}\\n {{{{to}}}}')
    return OutboundSms(
        message_id=n, idempotency_key=f"key-{n}", to=f"+4477009{n:05d}", sender=sender, body=body, **kwargs
    )


def hook(body, content_type="application/json", form=None):
    raw = json.dumps(body).encode() if content_type == "application/json" else urlencode(body).encode()
    return WebhookRequest(
        url="https://x/hook", method="POST", headers={"content-type": content_type}, body=raw, form=form or {}
    )


# Submitting


def test_accepted_renders_the_template_into_json(fake):
    fake.enqueue(Canned(200, {"data": {"message_id": "up-77"}}))
    gw = gateway(fake.url, body_template=TEMPLATE, response_id_path="data.message_id", default_sender="ACME")
    [result] = gw.send_batch([sms(12)])

    assert (result.outcome, result.gateway_message_id) == (ACCEPTED, "up-77")
    assert result.raw == {"data": {"message_id": "up-77"}}
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/sms")
    assert request.headers["authorization"] == "Bearer xyz"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "recipient": {"msisdn": "+447700900012"},
        "sender": "ACME",
        "text": 'Say "hi" 12\\n {{to}}',  # quotes escaped by JSON; placeholders in the message are not expanded
        "note": "ref key-12 for #12",
        "id": 12,  # a value that is only a placeholder keeps its type
        "callback": STATUS_URL,
        "flags": [True, 3, None],
    }


def test_defaults_custom_header_and_method(fake):
    gw = gateway(fake.url, credentials={"auth_value": "k-123"}, auth_header="X-Api-Key", method="put")
    [result] = gw.send_batch([sms(1, sender="+15550000000")])
    assert (result.outcome, result.gateway_message_id) == (ACCEPTED, "m-1")
    [request] = fake.requests
    assert request.method == "PUT"
    assert request.headers["x-api-key"] == "k-123"
    assert "authorization" not in request.headers
    assert request.json() == {
        "to": "+447700900001",
        "from": "+15550000000",
        "body": sms(1).body,
        "reference": "key-1",
        "status_url": STATUS_URL,
    }


def test_no_auth_header_without_a_value(fake):
    gateway(fake.url, credentials={}).send_batch([sms(1)])
    assert "authorization" not in fake.requests[0].headers


def test_render_does_not_touch_keys_or_other_types():
    values = {"to": "+1", "message_id": 5}
    assert render({"{{to}}": ["{{to}}", "x{{message_id}}", 1.5, False]}, values) == {"{{to}}": ["+1", "x5", 1.5, False]}


def test_429_is_temporary_with_retry_after(fake):
    fake.enqueue(Canned(429, {"error": "slow down"}, headers={"Retry-After": "12"}))
    [result] = gateway(fake.url).send_batch([sms(1)])
    assert (result.outcome, result.error_code, result.retry_after) == (TEMPORARY, "429", 12.0)
    assert "slow down" in result.error_text


def test_500_is_temporary(fake):
    fake.enqueue(Canned(502, "bad gateway"))
    [result] = gateway(fake.url).send_batch([sms(1)])
    assert (result.outcome, result.error_code, result.error_text) == (TEMPORARY, "502", "bad gateway")


def test_timeout_is_temporary(fake):
    fake.enqueue(Canned(200, {"id": "late"}, delay=1.0))
    started = time.monotonic()
    [result] = gateway(fake.url, read_timeout=0.2).send_batch([sms(1)])
    assert (result.outcome, result.error_code) == (TEMPORARY, "timeout")
    assert time.monotonic() - started < 0.9


def test_connection_refused_is_temporary():
    [result] = gateway(closed_port_url()).send_batch([sms(1)])
    assert (result.outcome, result.error_code) == (TEMPORARY, "connection_error")


@pytest.mark.parametrize("body", ["not json", {"ok": True}, {"id": ""}, {"id": {"nested": 1}}])
def test_unreadable_success_is_permanent_never_retried(fake, body):
    fake.enqueue(Canned(200, body))
    [result] = gateway(fake.url).send_batch([sms(1)])
    assert (result.outcome, result.error_code) == (PERMANENT, "bad_response")


def test_empty_response_id_path_accepts_any_2xx(fake):
    fake.enqueue(Canned(202, "queued"))
    [result] = gateway(fake.url, response_id_path="").send_batch([sms(1)])
    assert (result.outcome, result.gateway_message_id) == (ACCEPTED, "")


def test_4xx_is_permanent_with_status_and_body(fake):
    fake.enqueue(Canned(422, {"error": "invalid number"}))
    [result] = gateway(fake.url).send_batch([sms(1)])
    assert (result.outcome, result.error_code) == (PERMANENT, "422")
    assert json.loads(result.error_text) == {"error": "invalid number"}


def test_numeric_ids_become_strings(fake):
    fake.enqueue(Canned(200, {"id": 123456}))
    assert gateway(fake.url).send_batch([sms(1)])[0].gateway_message_id == "123456"


def test_per_message_batch_is_concurrent_and_ordered(fake):
    def handler(request):
        ref = request.json()["reference"]
        time.sleep(0.01 * (20 - int(ref.split("-")[1])))  # later messages answer first
        return Canned(500) if ref == "key-3" else Canned(200, {"id": "id-" + ref})

    fake.handler = handler
    results = gateway(fake.url, concurrency=8).send_batch([sms(n) for n in range(1, 13)])
    assert [r.message_id for r in results] == list(range(1, 13))
    assert results[2].outcome == TEMPORARY
    assert [r.gateway_message_id for r in results if r.outcome == ACCEPTED] == [
        f"id-key-{n}" for n in range(1, 13) if n != 3
    ]


def test_batch_size_groups_messages_and_reads_ids_by_index(fake):
    gw = gateway(fake.url, body_template=BATCH_TEMPLATE, batch_size=2, response_id_path="messages.*.id")
    results = gw.send_batch([sms(n) for n in range(1, 6)])

    assert [r.message_id for r in results] == [1, 2, 3, 4, 5]
    assert all(r.outcome == ACCEPTED for r in results)
    assert sorted(r.gateway_message_id for r in results) == sorted(f"m-{n}" for n in range(1, 6))
    assert results[0].raw == {"id": results[0].gateway_message_id}
    bodies = sorted((r.json() for r in fake.requests), key=lambda b: b["messages"][0]["ref"])
    assert [len(b["messages"]) for b in bodies] == [2, 2, 1]
    assert bodies[0] == {
        "campaign": "x",
        "callback": STATUS_URL,
        "messages": [
            {"to": "+447700900001", "text": sms(1).body, "ref": 1},
            {"to": "+447700900002", "text": sms(2).body, "ref": 2},
        ],
    }


def test_batch_with_a_missing_id(fake):
    fake.enqueue(Canned(200, {"messages": [{"id": "a"}]}))
    gw = gateway(fake.url, body_template=BATCH_TEMPLATE, batch_size=5, response_id_path="messages.*.id")
    results = gw.send_batch([sms(1), sms(2)])
    assert [(r.outcome, r.gateway_message_id, r.error_code) for r in results] == [
        (ACCEPTED, "a", ""),
        (PERMANENT, "", "bad_response"),
    ]


def test_bad_config_fails_without_a_request(fake):
    results = gateway(fake.url, body_template="{not json").send_batch([sms(1), sms(2)])
    assert {(r.outcome, r.error_code) for r in results} == {(PERMANENT, "bad_config")}
    assert fake.requests == []


def test_validate_accepts_good_settings():
    config = {
        "url": "https://api.example/sms",
        "body_template": BATCH_TEMPLATE,
        "batch_size": "50",
        "response_id_path": "messages.*.id",
        "dlr_status_map": '{"DELIVRD": "delivered", "ENROUTE": ""}',
        "auth_header": "Authorization",
        "concurrency": 8,
    }
    assert HttpGateway.validate(config=config, credentials={"auth_value": "Bearer x"}) == {}
    assert HttpGateway.validate(config={"url": "http://localhost:9000/"}, credentials={}) == {}


@pytest.mark.parametrize(
    "config,field",
    [
        ({"url": ""}, "url"),
        ({"url": "ftp://x/y"}, "url"),
        ({"url": "/relative"}, "url"),
        ({"method": "GET"}, "method"),
        ({"body_template": "{oops"}, "body_template"),
        ({"body_template": '["{{to}}", "{{body}}"]'}, "body_template"),
        ({"body_template": '{"to": "{{to}}"}'}, "body_template"),  # no body
        ({"body_template": '{"to": "{{to}}", "body": "{{body}}", "x": "{{tooo}}"}'}, "body_template"),
        ({"batch_size": 3}, "body_template"),  # no "messages"
        ({"batch_size": 3, "body_template": BATCH_TEMPLATE, "response_id_path": "ids"}, "body_template"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 5000}, "batch_size"),
        ({"concurrency": 100}, "concurrency"),
        ({"read_timeout": "soon"}, "read_timeout"),
        ({"dlr_status_map": "{bad"}, "dlr_status_map"),
        ({"dlr_status_map": {"OK": "arrived"}}, "dlr_status_map"),
        ({"auth_header": "X-Key"}, "auth_value"),
    ],
)
def test_validate_rejects(config, field):
    problems = HttpGateway.validate(config={"url": "https://api.example/sms", **config}, credentials={})
    assert field in problems, problems


# Webhooks

DLR_CONFIG = {
    "dlr_id_field": "data.id",
    "dlr_status_field": "data.stat",
    "dlr_code_field": "data.err",
    "dlr_status_map": json.dumps({"DELIVRD": "delivered", "UNDELIV": "undelivered", "REJECTD": "failed"}),
}


def test_verify_uses_the_secret():
    gw = gateway("http://unused")
    gw.verify(WebhookRequest(url="https://x", method="POST", headers={}, body=b"", query={"secret": "abc"}))
    with pytest.raises(WebhookRejected) as caught:
        gw.verify(WebhookRequest(url="https://x", method="POST", headers={}, body=b"", query={"secret": "abd"}))
    assert caught.value.status == 403


def test_parse_status_json_with_mapping_and_paths():
    records = [
        {"data": {"id": "up-1", "stat": "DELIVRD", "err": "000"}},
        {"data": {"id": "up-2", "stat": "undeliv", "err": 34}},  # matched case-insensitively
        {"data": {"id": "up-3", "stat": "ENROUTE"}},  # unmapped: intermediate, ignored
        {"data": {"stat": "DELIVRD"}},  # no id: ignored
    ]
    reports = gateway("http://unused", **DLR_CONFIG).parse_status(hook(records))
    assert [(r.gateway_message_id, r.status, r.code) for r in reports] == [
        ("up-1", statuses.DELIVERED, "000"),
        ("up-2", statuses.UNDELIVERED, "34"),
    ]
    assert reports[0].raw == records[0]


def test_parse_status_form_with_defaults():
    form = {"id": "m-9", "status": "Delivered", "code": "0"}
    reports = gateway("http://unused").parse_status(hook(form, "application/x-www-form-urlencoded", form=form))
    assert [(r.gateway_message_id, r.status, r.code) for r in reports] == [("m-9", statuses.DELIVERED, "0")]
    # A form body the view did not parse is read from the raw bytes.
    reports = gateway("http://unused").parse_status(hook({"id": "m-10", "status": "failed"}, "text/plain"))
    assert [(r.gateway_message_id, r.status) for r in reports] == [("m-10", statuses.FAILED)]


def test_parse_status_form_keys_with_dots():
    form = {"msg.id": "d-1", "msg.state": "REJECTD"}
    gw = gateway(
        "http://unused",
        dlr_id_field="msg.id",
        dlr_status_field="msg.state",
        dlr_status_map=DLR_CONFIG["dlr_status_map"],
    )
    [report] = gw.parse_status(hook(form, "application/x-www-form-urlencoded", form=form))
    assert (report.gateway_message_id, report.status) == ("d-1", statuses.FAILED)


def test_parse_status_rejects_bad_json():
    with pytest.raises(WebhookRejected) as caught:
        gateway("http://unused").parse_status(hook([1, 2]))
    assert caught.value.status == 400


def test_parse_inbound_json_list_and_form():
    config = {
        "inbound_from_field": "msisdn",
        "inbound_to_field": "shortcode",
        "inbound_body_field": "text",
        "inbound_id_field": "mo_id",
    }
    records = [{"msisdn": "+447700900111", "shortcode": "60060", "text": "STOP", "mo_id": 991}, {"text": "no sender"}]
    [message] = gateway("http://unused", **config).parse_inbound(hook(records))
    assert (message.sender, message.to, message.body, message.gateway_message_id) == (
        "+447700900111",
        "60060",
        "STOP",
        "991",
    )
    form = {"from": "+447700900222", "to": "+447700900000", "body": "Hello & bye", "id": "in-2"}
    [message] = gateway("http://unused").parse_inbound(hook(form, "application/x-www-form-urlencoded", form=form))
    assert (message.sender, message.body, message.gateway_message_id) == ("+447700900222", "Hello & bye", "in-2")


def test_empty_batches_send_nothing(fake):
    from smsportal.messaging.gateways.clicksend import ClickSendGateway
    from smsportal.messaging.gateways.twilio import TwilioGateway

    for cls in (HttpGateway, TwilioGateway, ClickSendGateway):
        assert cls(config={"url": fake.url, "base_url": fake.url}).send_batch([]) == []
    assert fake.requests == []
