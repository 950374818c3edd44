"""Schemathesis against /v3/schema/ (issue #8 §2): every operation of the served schema, fuzzed in-process through
Django's WSGI handler with a funded account's API key. Each response must not be a 5xx, must match the schema
(status code documented, content type, body, headers) and, when it is JSON, must be ClickSend's envelope.

Hypothesis drives the cases (schemathesis's strategies under a plain @given, not its pytest plugin, which
pytest.ini keeps off: it would import schemathesis into every test run). Derandomized, so CI fuzzes the same
cases every time; a failure prints the request that caused it.
"""

import base64
import re
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import hypothesis.strategies as st
import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import Client
from hypothesis import given, settings
from schemathesis.core import NOT_SET

from inbox import services as inbox
from smsportal.accounts import services as accounts
from smsportal.messaging import netguard, outbound
from tests.factories import AccountFactory, MemberFactory, api_key_for

APP = WSGIHandler()
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
          "response_headers_conformance")
CONFIG = schemathesis.Config.from_dict({
    "generation": {"mode": "all", "deterministic": True, "with-security-parameters": False},
    "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
})
# The schema exactly as /v3/schema/ serves it (the schema and docs endpoints leave themselves out of it).
SCHEMA = schemathesis.openapi.from_wsgi("/v3/schema/?format=json", APP, config=CONFIG)
OPERATIONS = {operation.label: operation for operation in (result.ok() for result in SCHEMA.get_all_operations())}
EXAMPLES = 12  # per operation: positive and negative cases, half of them aimed at objects that exist
PUBLIC_ADDRESS = "93.184.216.34"


def envelope(ctx, response, case):
    """Every JSON answer is ClickSend's envelope, its http_code the HTTP status; every error answer is JSON."""
    content_type = (response.headers.get("content-type") or [""])[0]
    if "json" not in content_type:
        assert response.status_code < 400, f"{response.status_code} answered {content_type!r}, not the JSON envelope"
        return None
    body = response.json()
    assert isinstance(body, dict), body
    assert body.get("http_code") == response.status_code, body
    assert isinstance(body.get("response_code"), str) and body["response_code"], body
    assert isinstance(body.get("response_msg"), str), body
    assert "data" in body, body
    if response.status_code >= 400:
        assert body["data"] is None and body["error"]["code"] == body["response_code"], body
    return None


@pytest.fixture(scope="module")
def receiver():
    """A loopback HTTP server answering 200 to every POST: the only place a webhook can reach from here."""

    class Answer(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_network(monkeypatch, settings, tmp_path, receiver):
    """Nothing leaves the machine. Webhook hosts resolve, without DNS, to a public documentation address, so
    netguard's checks run as in production (an address typed into a URL is still refused); the connection then
    goes to the loopback receiver whatever the address (POST /v3/sms/inbound and pings call out at once).
    Imports may fetch from no host; uploads land in a temporary folder."""
    connect = socket.create_connection
    monkeypatch.setattr(netguard, "resolve_host", lambda host, port: [PUBLIC_ADDRESS])
    monkeypatch.setattr(socket, "create_connection", lambda _to, *args, **kwargs: connect(receiver, *args, **kwargs))
    monkeypatch.setattr(outbound, "_transport_instance", None)  # no kept-alive connection from before or after
    settings.CONTACT_IMPORT_URL_HOSTS = []
    settings.DATA_DIR = tmp_path


@contextmanager
def transaction_kept_open():
    """Django's test client keeps the test's transaction open across a request by muting close_old_connections
    (and connects it again afterwards); the plain WSGI handler that schemathesis calls needs the same."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


class Workspace:
    """A funded main account with its API key, and objects made on demand through the API itself (each call a
    schemathesis case checked like the fuzzed ones, so every create's success is checked against the schema too),
    so that fuzzed paths reach real rows and not only 404s."""

    def __init__(self, *, credit="1000", **account):
        self.account = AccountFactory(default_region="AU", api_rate_limit=100_000, **account)
        if credit:
            accounts.credit_top_up(account=self.account, amount=credit)
        token = base64.b64encode(f"{self.account.api_username}:{api_key_for(self.account)}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self._made = {}

    def call(self, label: str, body=NOT_SET, media_type="application/json", query=None, status=200,
             **path_parameters):
        """`data` of a call of the operation `label`, checked like a fuzzed one, that must answer `status`."""
        case = OPERATIONS[label].Case(path_parameters={k: str(v) for k, v in path_parameters.items()}, body=body,
                                      media_type=media_type if body is not NOT_SET else None, query=query)
        with transaction_kept_open():
            response = case.call_and_validate(headers=self.headers, additional_checks=[envelope])
        assert response.status_code == status, (label, response.text)
        return response.json()["data"] if status < 400 else response.json()["error"]

    def _once(self, name, make):
        if name not in self._made:
            self._made[name] = make()
        return self._made[name]

    def list_id(self):
        return self._once("list", lambda: self.call("POST /v3/lists", {"list_name": "Fuzzed"})["list_id"])

    def to_list_id(self):
        return self._once("to_list", lambda: self.call("POST /v3/lists", {"list_name": "Target"})["list_id"])

    def contact_id(self):
        return self._once("contact", lambda: self.call(
            "POST /v3/lists/{list_id}/contacts", {"phone_number": "+61412345678", "first_name": "Ada"},
            list_id=self.list_id())["contact_id"])

    def gateway_id(self):
        return self._once("gateway", lambda: self.call(
            "POST /v3/gateways", {"type": "sandbox", "name": "Sandbox", "priority": 1})["gateway_id"])

    def message_id(self):
        """A message scheduled for 2100, so it can still be cancelled."""
        self.gateway_id()
        return self._once("message", lambda: self.call("POST /v3/sms/send", {"messages": [
            {"to": "+61412345678", "body": "Hello", "schedule": 4_102_444_800}]})["messages"][0]["message_id"])

    def inbound_id(self):
        """A reply to message_id, through the sandbox and the inbox's worker."""
        def make():
            self.message_id()
            self.call("POST /v3/sandbox/inbound", {"from": "+61412345678", "to": "+61400000000", "body": "Hi"})
            inbox.inbound_apply()
            return self.call("GET /v3/sms/inbound")["data"][0]["message_id"]

        return self._once("inbound", make)

    def conversation_id(self):
        self.inbound_id()
        return self._once("conversation", lambda: self.call("GET /v3/conversations")["data"][0]["conversation_id"])

    def template_id(self):
        return self._once("template", lambda: self.call(
            "POST /v3/sms/templates", {"template_name": "Greeting", "body": "Hi {first_name}"})["template_id"])

    def rules(self):
        return {"match": "all", "conditions": [{"type": "list", "op": "any", "lists": [self.list_id()]}]}

    def segment_id(self):
        return self._once("segment", lambda: self.call(
            "POST /v3/segments", {"name": "All", "rules": self.rules()})["id"])

    def field_id(self):
        return self._once("field", lambda: self.call(
            "POST /v3/custom-fields", {"label": "Points", "type": "number"})["id"])

    def campaign(self):
        self.gateway_id()
        self.contact_id()
        return {"name": "Fuzz", "body": "Hi {first_name}", "list_id": self.list_id()}

    def sms_campaign_id(self):
        return self._once("campaign", lambda: self.call("POST /v3/sms-campaigns", self.campaign())["sms_campaign_id"])

    def subaccount_id(self):
        return self._once("subaccount", lambda: self.call(
            "POST /v3/subaccounts", {"api_username": "fuzzed-sub"})["subaccount_id"])

    def job_id(self):
        csv = b"phone_number,first_name\n0412345679,Bo\n"
        return self._once("job", lambda: self.call("POST /v3/lists/{list_id}/import", {"file": csv},
                                                   media_type="multipart/form-data", list_id=self.list_id())["id"])

    def rule_id(self, kind):
        rule = {"rule_name": "Hook", "action": "URL", "action_address": "http://hooks.example.com/in", "enabled": 1}
        return self._once(f"{kind}_rule", lambda: self.call(
            f"POST /v3/automations/sms/{kind}", rule)[f"{kind.rstrip('s')}_rule_id"])

    def country(self):
        self._once("rate", lambda: self.call("PUT /v3/rate-cards/rates/{country}", {"per_segment": "0.05"},
                                             country="AU"))
        return "AU"

    def member_id(self):
        return self._once("member", lambda: MemberFactory(account=self.account).user_id)

    def path_parameters(self, path: str) -> dict:
        """Ids of real objects for each parameter of `path` (a name that means different things on different
        paths is told apart by the path)."""
        made = {}
        for name in re.findall(r"{(\w+)}", path):
            if name == "message_id" and path.startswith("/v3/sms/inbound-read"):
                made[name] = self.inbound_id()
            elif name in ("message_id", "original_message_id"):
                made[name] = self.message_id()
            elif name in ("inbound_rule_id", "receipt_rule_id"):
                made[name] = self.rule_id("inbound" if name.startswith("inbound") else "receipts")
            elif name == "name":
                made[name] = "summary"  # a report's name: the generated cases draw the others
            elif hasattr(self, name):
                made[name] = getattr(self, name)()
        return {name: str(value) for name, value in made.items()}

    def succeed(self, label: str):
        """Call the operation once with a request it must accept, where generated data seldom gets that far (the
        creates above are each one already)."""
        messages = {"messages": [{"to": "+61412345678", "body": "Hello"}]}
        happy = {
            "POST /v3/sms/price": lambda: self.call(label, messages),
            "POST /v3/sms-campaigns/price": lambda: self.call(label, self.campaign()),
            "POST /v3/sms-campaigns/preview": lambda: self.call(label, self.campaign()),
            "POST /v3/sms-campaigns/send": lambda: self.call(label, self.campaign()),
            "POST /v3/sms-campaigns/{sms_campaign_id}/launch": lambda: self.call(
                label, sms_campaign_id=self.sms_campaign_id()),
            "POST /v3/sms-campaigns/{sms_campaign_id}/test": lambda: self.call(
                label, {"to": "+61412345678"}, sms_campaign_id=self.sms_campaign_id()),
            "POST /v3/segments/count": lambda: self.call(label, {"rules": self.rules()}),
            "PUT /v3/conversations/{conversation_id}/assign": lambda: self.call(
                label, {"user_id": self.member_id()}, conversation_id=self.conversation_id()),
            "POST /v3/automations/ping": lambda: self.call(label, {"rule_id": self.rule_id("receipts")}),
            "POST /v3/sms/inbound": lambda: self.call(label, {"url": "http://hooks.example.com/test"}),
            "PUT /v3/rate-cards": lambda: self.call(label, {"fallback_rate": "0.07"}),
        }
        makers = {
            "POST /v3/lists": self.list_id, "POST /v3/lists/{list_id}/contacts": self.contact_id,
            "POST /v3/gateways": self.gateway_id, "POST /v3/sms/send": self.message_id,
            "POST /v3/sandbox/inbound": self.inbound_id, "POST /v3/sms/templates": self.template_id,
            "POST /v3/segments": self.segment_id, "POST /v3/custom-fields": self.field_id,
            "POST /v3/sms-campaigns": self.sms_campaign_id, "POST /v3/subaccounts": self.subaccount_id,
            "POST /v3/lists/{list_id}/import": self.job_id, "PUT /v3/rate-cards/rates/{country}": self.country,
            "POST /v3/automations/sms/inbound": lambda: self.rule_id("inbound"),
            "POST /v3/automations/sms/receipts": lambda: self.rule_id("receipts"),
        }
        (happy.get(label) or makers.get(label) or (lambda: None))()


def cases(operation, real: dict):
    """Positive and negative cases: half with generated path parameters, half aimed at the workspace's objects."""
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(mode) for mode in modes]
    if real:
        strategies += [operation.as_strategy(mode, path_parameters=real) for mode in modes]
    return st.one_of(strategies)


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_operation(label, db, no_network):
    operation = OPERATIONS[label]
    workspace = Workspace()
    real = workspace.path_parameters(operation.path)
    if operation.definition.raw.get("security"):
        anonymous = operation.Case(path_parameters=real)
        with transaction_kept_open():  # without credentials: the documented 401, before anything else
            assert anonymous.call_and_validate(additional_checks=[envelope]).status_code == 401
    workspace.succeed(label)

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None)
    @given(case=cases(operation, real))
    def fuzz(case):
        with transaction_kept_open():
            case.call_and_validate(headers=workspace.headers, additional_checks=[envelope])

    fuzz()


# --- What the fuzzing found, and its neighbours found by probing the same way, pinned whatever hypothesis draws --


@pytest.mark.parametrize("label", ["GET /v3/sms/history", "GET /v3/sms/history/export"])
@pytest.mark.parametrize("field,value", [("date_to", "99999999999999999999"), ("date_from", "253402300800"),
                                         ("date_from", "0001-01-01"), ("date_to", "9999-12-31")])
def test_a_history_date_outside_the_calendar_is_a_400_naming_it(label, field, value, db, no_network):
    """Unix seconds past year 9999, or a first or last day of the calendar that has no UTC time in the account's
    zone, were a 500 (OverflowError, ValueError)."""
    workspace = Workspace(timezone="Asia/Tokyo" if value.startswith("0001") else "America/New_York")
    error = workspace.call(label, query={field: value}, status=400)
    assert field in error["fields"], error


HUGE = 10**20  # past year 9999 as Unix seconds, past any id (SQLite cannot even compare it with a column)


@pytest.mark.parametrize("label,body,field", [
    ("PUT /v3/sms/inbound-read", {"date_before": HUGE}, "date_before"),
    ("PUT /v3/sms/receipts-read", {"date_before": HUGE}, "date_before"),
    ("POST /v3/sms/send", {"messages": [{"to": "+61412345678", "body": "Hi", "schedule": HUGE}]},
     "messages.0.schedule"),
    ("POST /v3/sms/price", {"messages": [{"to": "+61412345678", "body": "Hi", "schedule": HUGE}]},
     "messages.0.schedule"),
    ("POST /v3/sms-campaigns", {"name": "Big", "body": "Hi", "list_id": HUGE}, "list_id"),
    ("POST /v3/sms-campaigns", {"name": "Big", "body": "Hi", "audience": {"segments": [HUGE]}}, "audience.segments"),
    ("POST /v3/segments/count", {"rules": {"conditions": [{"type": "list", "lists": [HUGE]}]}},
     "rules.conditions.0.lists"),
])
def test_a_number_too_large_is_a_400_naming_it(label, body, field, db, no_network):
    """Each was a 500 (OverflowError converting the date, or SQLite's on comparing the id)."""
    error = Workspace().call(label, body, status=400)
    assert field in error["fields"], error


def test_a_conversation_assigned_to_a_user_id_too_large_is_a_400(db, no_network):
    workspace = Workspace()
    error = workspace.call("PUT /v3/conversations/{conversation_id}/assign", {"user_id": HUGE}, status=400,
                           conversation_id=workspace.conversation_id())
    assert "user_id" in error["fields"], error


def test_the_delivery_log_of_an_impossible_rule_id_is_empty_or_refused(db, no_network):
    workspace = Workspace()
    assert workspace.call("GET /v3/automations/deliveries", query={"rule_id": str(HUGE)})["total"] == 0
    error = workspace.call("GET /v3/automations/deliveries", query={"rule_id": "\u00b2"}, status=400)  # "²".isdigit()
    assert "rule_id" in error["fields"], error


def test_a_launch_without_credit_is_the_documented_402(db, no_network):
    """The fuzzed workspace has credit; without it a campaign's launch answers INSUFFICIENT_CREDIT, which the schema
    did not say it could."""
    workspace = Workspace(credit=None)
    error = workspace.call("POST /v3/sms-campaigns/{sms_campaign_id}/launch", status=402,
                           sms_campaign_id=workspace.sms_campaign_id())
    assert error["code"] == "INSUFFICIENT_CREDIT"
    error = workspace.call("POST /v3/sms-campaigns/send", workspace.campaign(), status=402)
    assert error["code"] == "INSUFFICIENT_CREDIT"


def test_the_history_download_is_the_documented_csv(db, no_network):
    """The fuzzing only reaches this link's refusals (403: it cannot forge a token); a real link answers CSV, as
    the schema says, and not the envelope."""
    workspace = Workspace()
    workspace.message_id()
    url = workspace.call("GET /v3/sms/history/export", query={"filename": "history.csv"})["url"]
    token = parse_qs(urlsplit(url).query)["token"][0]
    case = OPERATIONS["GET /v3/sms/history/export/download"].Case(query={"token": token})
    with transaction_kept_open():
        response = case.call_and_validate(additional_checks=[envelope])
    assert response.status_code == 200
    assert response.headers["content-type"][0].startswith("text/csv")
    assert "message_id" in response.text.splitlines()[0] and workspace.message_id() in response.text


def test_the_schema_and_docs_are_left_out_and_not_enveloped(db):
    """ClickSend wraps its API's answers, not documents about the API: /v3/schema/ and /v3/docs/ answer the
    OpenAPI document and the Swagger page as they are, and are the only /v3 endpoints the fuzzing does not cover
    (the schema leaves them out of itself)."""
    assert not [label for label in OPERATIONS if label.split()[1].startswith(("/v3/schema", "/v3/docs"))]
    client = Client()
    document = client.get("/v3/schema/?format=json").json()
    assert "openapi" in document and "http_code" not in document
    assert client.get("/v3/docs/")["content-type"].startswith("text/html")
