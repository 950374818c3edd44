"""Forms for the messaging UI. They check shape only (which number is a number, which time is in the future); the
services own the rules and say why they refuse."""

import json
import re
from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.utils import timezone

from contacts.phones import InvalidNumber, normalize_number
from smsportal.errors import DomainError

from .selectors import mask_secret
from .services import _SENDER as SENDER_RULE  # the service's own rule, so the form refuses what it would block
from .services import MAX_BODY

MAX_TYPED_NUMBERS = 1000
MAX_LIST_SEND = 10_000
_SEPARATORS = re.compile(r"[,;]")


def normalize_body(text) -> str:
    """What the browser sends (CRLF line ends, a stray trailing newline) as the message we would send."""
    return str(text or "").replace("\r\n", "\n").replace("\r", "\n").strip()


@dataclass(frozen=True)
class TypedNumbers:
    """The numbers typed into the recipients box, read the way the send reads them."""

    valid: list[tuple[str, str]]  # (E.164, country), each number once, in the order typed
    invalid: list[tuple[int, str, str]]  # (line, text as typed, reason)
    duplicates: int
    entries: int

    @classmethod
    def parse(cls, text: str, *, region: str) -> "TypedNumbers":
        valid, invalid, seen, duplicates, entries = [], [], set(), 0, 0
        for line_number, line in enumerate(str(text or "").splitlines(), start=1):
            for raw in _SEPARATORS.split(line):
                raw = raw.strip()
                if not raw:
                    continue
                entries += 1
                try:
                    number = normalize_number(raw, region)
                except InvalidNumber as exc:
                    invalid.append((line_number, raw, str(exc)))
                    continue
                if number.e164 in seen:
                    duplicates += 1
                    continue
                seen.add(number.e164)
                valid.append((number.e164, number.country))
        return cls(valid=valid, invalid=invalid, duplicates=duplicates, entries=entries)


class SendForm(forms.Form):
    NUMBERS, LIST = "numbers", "list"

    mode = forms.ChoiceField(
        label="Send to", choices=[(NUMBERS, "Phone numbers"), (LIST, "A contact list")], initial=NUMBERS,
        widget=forms.RadioSelect,
    )
    numbers = forms.CharField(
        label="Phone numbers", strip=False, error_messages={"required": "Enter at least one phone number."},
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "+61 412 345 678\n0412 345 679, 0412 345 680",
                                     "autocomplete": "off", "spellcheck": "false"}),
        help_text="One per line or separated by commas; national numbers are read as {region}. At most 1,000.",
    )
    contact_list = forms.ModelChoiceField(label="Contact list", queryset=None, empty_label="Choose a list…",
                                          error_messages={"required": "Choose the list to send to."})
    sender = forms.CharField(
        label="Sender", required=False, max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "Gateway default"}),
        help_text="A phone number, or up to 11 letters and digits where the country allows a name.",
    )
    body = forms.CharField(
        label="Message", max_length=MAX_BODY, strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "true", "aria-describedby": "body-meter"}),
    )
    schedule = forms.CharField(
        label="Send at", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Leave empty to send now. Times are in {tz}.",
    )
    send_token = forms.CharField(widget=forms.HiddenInput, required=False)
    use_required_attribute = False  # one of the two recipient fields is hidden; the server says which it needs

    def __init__(self, *args, account, lists, **kwargs):
        super().__init__(*args, **kwargs)
        # Both recipient fields show as required; the one the chosen mode does not use is not.
        unused = "numbers" if self.data.get("mode") == self.LIST else "contact_list"
        if self.is_bound:
            self.fields[unused].required = False
        self.account = account
        self.zone = account.zone
        self.typed = None
        self.fields["contact_list"].queryset = lists.only("id", "name", "contact_count").order_by("name", "id")
        self.fields["contact_list"].label_from_instance = lambda lst: f"{lst.name} ({lst.contact_count:,})"
        self.fields["numbers"].help_text = self.fields["numbers"].help_text.format(region=account.default_region)
        self.fields["schedule"].help_text = self.fields["schedule"].help_text.format(tz=self.zone.key)

    def clean_body(self):
        body = normalize_body(self.cleaned_data.get("body"))
        if not body:
            raise forms.ValidationError("Write the message to send.")
        if len(body) > MAX_BODY:
            raise forms.ValidationError(f"At most {MAX_BODY:,} characters; this has {len(body):,}.")
        return body

    def clean_sender(self):
        sender = self.cleaned_data.get("sender", "").strip()
        if sender and not SENDER_RULE.match(sender):
            raise forms.ValidationError("Use a phone number, or 1–11 letters, digits, spaces and - _ . &.")
        return sender

    def clean_schedule(self):
        raw = (self.cleaned_data.get("schedule") or "").strip()
        if not raw:
            return None
        for pattern in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"):
            try:
                moment = datetime.strptime(raw, pattern)
                break
            except ValueError:
                continue
        else:
            raise forms.ValidationError("Enter a date and time, like 2026-11-23 09:30.")
        moment = timezone.make_aware(moment, self.zone)
        if moment <= timezone.now():
            raise forms.ValidationError(f"Pick a time in the future ({self.zone.key}), or leave it empty to send now.")
        return moment

    def clean(self):
        data = super().clean()
        if data.get("mode") == self.LIST or "numbers" not in data:
            return data
        typed = TypedNumbers.parse(data["numbers"], region=self.account.default_region)
        self.typed = typed
        if not typed.entries:
            self.add_error("numbers", "Enter at least one phone number.")
        elif typed.entries > MAX_TYPED_NUMBERS:
            self.add_error(
                "numbers",
                f"{typed.entries:,} numbers: at most {MAX_TYPED_NUMBERS:,} at a time here. Import them into a "
                "contact list and send to the list.",
            )
        else:
            for line, raw, reason in typed.invalid:
                self.add_error("numbers", f"Line {line}: “{raw}” — {reason}.")
        return data


# --- Gateway connections ------------------------------------------------------------------------------------------

# Labels and help for the settings the built-in gateways take; any other key shows as its own name.
GATEWAY_FIELD_TEXT = {
    "dlr_delay": ("Report delay (seconds)", "How long the sandbox waits before reporting delivery."),
    "base_url": ("Base URL", "Only to point at a proxy or a test double; leave empty for the provider's own."),
    "messaging_service_sid": ("Messaging Service SID", "Sends through this Messaging Service when no sender is given."),
    "default_sender": ("Default sender", "Used when a message has no sender of its own."),
    "concurrency": ("Concurrent requests", "Requests in flight at once per batch."),
    "connect_timeout": ("Connect timeout (seconds)", ""),
    "read_timeout": ("Read timeout (seconds)", ""),
    "account_sid": ("Account SID", ""),
    "auth_token": ("Auth token", ""),
    "signing_key": ("Webhook signing key", "Only if Twilio signs webhooks with a key other than the auth token."),
    "username": ("Username", ""),
    "api_key": ("API key", ""),
    "url": ("Send URL", "Where each batch is POSTed (http:// or https://)."),
    "method": ("HTTP method", "POST, PUT or PATCH; POST when empty."),
    "auth_header": ("Auth header name", "e.g. Authorization; its value is the secret below."),
    "auth_value": ("Auth header value", "Sent in the auth header, e.g. Bearer …"),
    "body_template": ("Body template (JSON)", "The request body; the HTTP gateway's documentation lists placeholders."),
    "response_id_path": ("Response id path", "Dotted path to each message's id in the answer, e.g. messages.0.id."),
    "batch_size": ("Batch size", "Messages per request."),
    "dlr_id_field": ("Report: id field", ""),
    "dlr_status_field": ("Report: status field", ""),
    "dlr_status_map": ("Report: status map (JSON)", 'e.g. {"DELIVRD": "delivered", "UNDELIV": "undelivered"}'),
    "dlr_code_field": ("Report: code field", ""),
    "inbound_from_field": ("Inbound: from field", ""),
    "inbound_to_field": ("Inbound: to field", ""),
    "inbound_body_field": ("Inbound: body field", ""),
    "inbound_id_field": ("Inbound: id field", ""),
}
_LONG_TEXT = {"body_template", "dlr_status_map"}
_FIELD_ALIASES = {"throughput_cap": "cap", "type": None}


def _field_text(key: str) -> tuple[str, str]:
    return GATEWAY_FIELD_TEXT.get(key, (key.replace("_", " ").capitalize(), ""))


class GatewayConnectionForm(forms.Form):
    """The common settings, then one field per config key (`config_<key>`) and per credential (`cred_<key>`) of
    the chosen gateway type. A credential left empty keeps the stored one (the service does that)."""

    name = forms.CharField(label="Name", max_length=100)
    priority = forms.IntegerField(label="Priority", min_value=0, max_value=10000, initial=100,
                                  help_text="Lower goes first; the next one takes over when it fails.")
    countries = forms.CharField(label="Countries", required=False,
                                widget=forms.TextInput(attrs={"placeholder": "Every country", "autocomplete": "off"}),
                                help_text="Two-letter codes separated by commas, e.g. AU, NZ. Empty: every country.")
    cap = forms.IntegerField(label="Throughput cap (segments per second)", required=False, min_value=1,
                             max_value=100000, help_text="Empty: no cap.")
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)

    def __init__(self, *args, gateway_cls, connection=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.gateway_cls = gateway_cls
        self.connection = connection
        stored = connection.credentials if connection else {}
        required = set(gateway_cls.required_fields)
        for key in gateway_cls.config_fields:
            label, help_text = _field_text(key)
            widget = forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}) if key in _LONG_TEXT else forms.TextInput(
                attrs={"autocomplete": "off", "spellcheck": "false"})
            self.fields[f"config_{key}"] = forms.CharField(label=label, help_text=help_text, required=key in required,
                                                           widget=widget, strip=True)
        for key in gateway_cls.credential_fields:
            label, help_text = _field_text(key)
            if stored.get(key):
                help_text = f"Stored: {mask_secret(stored[key])}. Leave empty to keep it."
            self.fields[f"cred_{key}"] = forms.CharField(
                label=label, help_text=help_text, required=key in required and not stored.get(key), strip=True,
                widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "spellcheck": "false"}),
            )

    @classmethod
    def initial_for(cls, connection) -> dict:
        initial = {
            "name": connection.name,
            "priority": connection.priority,
            "countries": ", ".join(connection.countries),
            "cap": connection.cap_segments_per_second,
            "enabled": connection.enabled,
        }
        for key, value in connection.config.items():
            initial[f"config_{key}"] = value if isinstance(value, str) else _json(value)
        return initial

    def common_fields(self):
        return [self[name] for name in ("name", "priority", "countries", "cap", "enabled")]

    def config_fields(self):
        return [self[f"config_{key}"] for key in self.gateway_cls.config_fields]

    def credential_fields(self):
        return [self[f"cred_{key}"] for key in self.gateway_cls.credential_fields]

    def service_data(self) -> dict:
        data = self.cleaned_data
        stored = dict(self.connection.config) if self.connection else {}
        # Keys this form does not show (set through the API) stay as they are.
        config = {key: value for key, value in stored.items() if key not in self.gateway_cls.config_fields}
        for key in self.gateway_cls.config_fields:
            config[key] = _as_stored(data.get(f"config_{key}", ""), stored.get(key))
        return {
            "type": self.gateway_cls.kind,
            "name": data["name"],
            "priority": data["priority"],
            "countries": data["countries"],
            "throughput_cap": data["cap"],
            "enabled": data["enabled"],
            "config": config,
            "credentials": {key: data.get(f"cred_{key}", "") for key in self.gateway_cls.credential_fields},
        }

    def add_domain_error(self, error: DomainError) -> None:
        """Show the service's refusal on its field: "config.url" is `config_url`, "credentials.x" is `cred_x`."""
        field = error.field or ""
        section, _, key = field.partition(".")
        name = {"config": f"config_{key}", "credentials": f"cred_{key}"}.get(section, _FIELD_ALIASES.get(field, field))
        self.add_error(name if name in self.fields else None, error.message)


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _as_stored(text: str, previous):
    """A setting typed back into the box keeps the JSON type it had (a number stays a number, an object an object)."""
    if not text or previous is None or isinstance(previous, str):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text

    def kind(v):
        return "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else type(v).__name__

    return value if kind(value) == kind(previous) else text
