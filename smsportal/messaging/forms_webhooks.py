"""The Settings → Webhooks rule form. It shapes the input only: services_webhooks.webhook_rule_save checks the URL
(netguard) and the rest, and its refusals land on the field they name."""

from django import forms

from smsportal.errors import DomainError

from .models import WebhookRule


class WebhookRuleForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    url = forms.CharField(
        label="URL", max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "https://example.com/hooks/sms", "autocomplete": "off",
                                      "spellcheck": "false", "inputmode": "url"}),
        help_text="smsportal POSTs each event here as JSON, signed. Public addresses only.",
    )
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)
    dedicated_number = forms.CharField(
        label="Your number", max_length=32, required=False,
        widget=forms.TextInput(attrs={"placeholder": "*", "autocomplete": "off"}),
        help_text="Only messages written to this number; * or empty for any.",
    )
    message_search_type = forms.TypedChoiceField(label="Messages", choices=WebhookRule.SearchType.choices, coerce=int,
                                                 initial=WebhookRule.SearchType.ANY)
    message_search_term = forms.CharField(label="Text", max_length=200, required=False,
                                          help_text="Compared with the message trimmed, in any case.")

    INBOUND_ONLY = ("dedicated_number", "message_search_type", "message_search_term")

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        if kind != WebhookRule.Kind.INBOUND:
            for name in self.INBOUND_ONLY:
                del self.fields[name]

    @classmethod
    def initial_for(cls, rule: WebhookRule) -> dict:
        return {"name": rule.name, "url": rule.url, "enabled": rule.enabled, "dedicated_number": rule.dedicated_number,
                "message_search_type": rule.message_search_type, "message_search_term": rule.message_search_term}

    def main_fields(self):
        return [self[name] for name in ("name", "url", "enabled")]

    def filter_fields(self):
        return [self[name] for name in self.INBOUND_ONLY if name in self.fields]

    def service_data(self) -> dict:
        return dict(self.cleaned_data)

    def add_domain_error(self, error: DomainError) -> None:
        self.add_error(error.field if error.field in self.fields else None, error.message)
