"""The composer's form. It reads the page's fields into what campaign_save takes; the services own the rules."""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone

from smsportal.messaging.forms import normalize_body

from .engine import LABELS
from .models import Campaign


class ComposerForm(forms.Form):
    name = forms.CharField(label="Campaign name", max_length=100,
                           widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "Spring sale"}))
    sender = forms.CharField(label="Sender", max_length=32, required=False,
                             help_text="A phone number or up to 11 letters and digits. Empty: the gateway's default.",
                             widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "ACME"}))
    lists = forms.TypedMultipleChoiceField(label="Lists", coerce=int, required=False, widget=forms.CheckboxSelectMultiple)
    segments = forms.TypedMultipleChoiceField(label="Segments", coerce=int, required=False,
                                              widget=forms.CheckboxSelectMultiple)
    exclude_lists = forms.TypedMultipleChoiceField(label="Leave out lists", coerce=int, required=False,
                                                   widget=forms.CheckboxSelectMultiple)
    exclude_segments = forms.TypedMultipleChoiceField(label="Leave out segments", coerce=int, required=False,
                                                      widget=forms.CheckboxSelectMultiple)
    schedule_mode = forms.ChoiceField(label="When", choices=Campaign.ScheduleMode.choices, widget=forms.RadioSelect,
                                      initial=Campaign.ScheduleMode.NOW)
    schedule_at = forms.DateTimeField(label="Send at", required=False, input_formats=["%Y-%m-%dT%H:%M"],
                                      widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    local_send_at = forms.DateTimeField(label="Recipient-local time", required=False, input_formats=["%Y-%m-%dT%H:%M"],
                                        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
                                        help_text="Each recipient gets it at this time where they are, by their number.")
    quiet_hours = forms.BooleanField(label="Hold messages during quiet hours (recipient's local time)", required=False)
    quiet_start = forms.TimeField(label="Quiet from", required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    quiet_end = forms.TimeField(label="Quiet until", required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    rate_per_minute = forms.IntegerField(label="Send rate limit", required=False, min_value=1, max_value=1_000_000,
                                         help_text="Messages per minute; empty sends as fast as the gateways allow.",
                                         widget=forms.NumberInput(attrs={"placeholder": "No limit"}))
    chosen_contact = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, account, lists, segments, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        list_choices = [(c.pk, f"{c.name} ({c.contact_count:,})") for c in lists]
        segment_choices = [(s.pk, s.name) for s in segments]
        self.fields["lists"].choices = self.fields["exclude_lists"].choices = list_choices
        self.fields["segments"].choices = self.fields["exclude_segments"].choices = segment_choices

    @classmethod
    def initial_for(cls, campaign: Campaign | None) -> dict:
        if campaign is None:
            return {"quiet_hours": True, "quiet_start": datetime.time(21), "quiet_end": datetime.time(8),
                    "schedule_mode": Campaign.ScheduleMode.NOW}
        zone = campaign.account.zone
        return {
            "name": campaign.name, "sender": campaign.sender, **{k: campaign.audience.get(k, []) for k in
                                                                  ("lists", "segments", "exclude_lists", "exclude_segments")},
            "schedule_mode": campaign.schedule_mode,
            "schedule_at": timezone.localtime(campaign.schedule_at, zone).replace(tzinfo=None) if campaign.schedule_at else None,
            "local_send_at": campaign.local_send_at or None, "quiet_hours": campaign.quiet_hours,
            "quiet_start": campaign.quiet_start, "quiet_end": campaign.quiet_end,
            "rate_per_minute": campaign.rate_per_minute,
        }

    def variants(self) -> list[dict]:
        """The posted variants (body_A, split_A, body_B, …) in label order; one, with all of the audience, if
        the page posted a single body."""
        found = []
        for label in LABELS:
            key = f"body_{label}"
            if key not in self.data:
                break
            found.append({"body": normalize_body(self.data.get(key)), "split": self.data.get(f"split_{label}") or 0})
        if len(found) == 1:
            found[0]["split"] = 100
        return found

    def as_data(self) -> dict:
        """What campaign_save takes (call after is_valid)."""
        c = self.cleaned_data
        zone = self.account.zone
        at = c.get("schedule_at")
        local = c.get("local_send_at")
        return {
            "name": c["name"], "sender": c.get("sender") or "",
            "audience": {k: c.get(k) or [] for k in ("lists", "segments", "exclude_lists", "exclude_segments")},
            "variants": self.variants(),
            "schedule_mode": c.get("schedule_mode") or Campaign.ScheduleMode.NOW,
            "schedule_at": timezone.make_aware(at.replace(tzinfo=None), zone) if at else None,
            "local_send_at": local.strftime("%Y-%m-%dT%H:%M") if local else "",
            "quiet_hours": bool(c.get("quiet_hours")), "quiet_start": c.get("quiet_start"),
            "quiet_end": c.get("quiet_end"), "rate_per_minute": c.get("rate_per_minute"),
        }


class TestSendForm(forms.Form):
    to = forms.CharField(label="Your phone number", max_length=32,
                         widget=forms.TextInput(attrs={"autocomplete": "tel", "placeholder": "+61 412 345 678"}))
    contact = forms.IntegerField(required=False, widget=forms.HiddenInput)
