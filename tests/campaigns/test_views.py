"""The campaigns UI through the test client: the composer saves drafts and launches, the live preview shows the
exact counts and cost with errors at their position, the report shows what the rollups hold, actions work, other
workspaces' campaigns are 404, and the list pins its queries."""

import re
from decimal import Decimal

import pytest

from campaigns import services
from campaigns.models import Campaign
from smsportal.messaging import statuses
from smsportal.messaging.models import Message
from tests.factories import AccountFactory, MemberFactory

from ..messaging.conftest import run_engine

pytestmark = pytest.mark.django_db


@pytest.fixture
def ui(client, rich):
    client.force_login(MemberFactory(account=rich["account"]).user)
    return client


def composer_data(rich, body="Hi {{first_name|there}}, {sale|deal} today!", **extra):
    return {"name": "Spring", "sender": "ACME", "lists": [rich["main"].pk, rich["second"].pk],
            "exclude_lists": [rich["excluded"].pk], "schedule_mode": "now", "quiet_hours": "",
            "quiet_start": "21:00", "quiet_end": "08:00", "body_A": body, "assign_key": "12345", **extra}


def test_the_composer_renders_and_the_preview_shows_exact_counts_and_cost(ui, rich):
    page = ui.get("/campaigns/new/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="assign_key"' in html and "Customers (36)" in html and 'data-merge-field="suburb"' in html

    preview = ui.post("/campaigns/preview/", composer_data(rich))
    assert preview.status_code == 200
    body = preview.content.decode()
    unsaved = Campaign(account=rich["account"], assign_key=12345)
    expected = services.campaign_preview(
        campaign=unsaved, specs=[services.VariantSpec("A", "Hi {{first_name|there}}, {sale|deal} today!", 100)],
        audience={"lists": [rich["main"].pk, rich["second"].pk], "exclude_lists": [rich["excluded"].pk]},
    ).tally
    assert re.search(r'data-testid="preview-recipients">\s*40<', body)
    assert f'data-testid="preview-cost">USD {expected.cost:.4f}'.rstrip("0") in body
    assert "blocked: opted out" in body and "blocked: no route" in body
    assert 'id="meter-A"' in body and 'hx-swap-oob="true"' in body


def test_the_preview_points_at_a_braces_error_and_an_unknown_field(ui, rich):
    body = ui.post("/campaigns/preview/", composer_data(rich, body="Hi {{nickname}} {a|b")).content.decode()
    assert "Fix before launching" in body and "nickname" in body


def test_save_a_draft_then_launch_it(ui, rich):
    saved = ui.post("/campaigns/new/", {**composer_data(rich), "action": "save"})
    campaign = Campaign.objects.get(account=rich["account"])
    assert saved.status_code == 302 and saved["Location"] == f"/campaigns/{campaign.pk}/edit/"
    assert campaign.assign_key == 12345 and campaign.is_draft and campaign.variants.get().body.startswith("Hi")

    edit = ui.get(f"/campaigns/{campaign.pk}/edit/")
    assert edit.status_code == 200 and "Spring" in edit.content.decode()
    launched = ui.post(f"/campaigns/{campaign.pk}/edit/", {**composer_data(rich), "action": "launch"})
    assert launched.status_code == 302 and launched["Location"] == f"/campaigns/{campaign.pk}/"
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING and campaign.reserved > 0
    while services.campaign_prepare(campaign_id=campaign.pk)["more"]:
        pass
    run_engine()
    report = ui.get(f"/campaigns/{campaign.pk}/")
    html = report.content.decode()
    assert report.status_code == 200
    assert re.search(r'data-testid="stat-messages">\s*44<', html)
    assert re.search(r'data-testid="stat-blocked">\s*4<', html)
    delivered = Message.objects.filter(campaign_id=campaign.pk, status=statuses.DELIVERED).count()
    assert re.search(rf'data-testid="stat-delivered">\s*{delivered}<', html)
    fragment = ui.get(f"/campaigns/{campaign.pk}/", HTTP_HX_REQUEST="true")
    assert fragment.content.decode().startswith('<div id="campaign-report"') or 'id="campaign-report"' in fragment.content.decode()[:200]
    listing = ui.get("/campaigns/").content.decode()
    assert "Spring" in listing and "status-sending" in listing
    spent = sum(Message.objects.filter(campaign_id=campaign.pk, status__in=statuses.CHARGEABLE)
                .values_list("price", flat=True))
    assert f"{spent:.4f}".rstrip("0") in listing


def test_a_launch_without_credit_says_so_and_sends_nothing(ui, rich):
    account = rich["account"]
    account.balance = Decimal("0.01")
    account.save(update_fields=["balance"])
    response = ui.post("/campaigns/new/", {**composer_data(rich), "action": "launch"}, follow=True)
    assert "Insufficient credit" in response.content.decode() and "Nothing was sent" in response.content.decode()
    campaign = Campaign.objects.get(account=account)
    assert campaign.is_draft and not Message.objects.filter(campaign_id=campaign.pk).exists()


def test_pause_resume_cancel_duplicate_delete_and_export(ui, rich):
    campaign = services.campaign_save(account=rich["account"], data={
        "name": "Actions", "body": "Hello", "audience": {"lists": [rich["main"].pk]}, "quiet_hours": False})
    services.campaign_launch(campaign=campaign)
    assert ui.post(f"/campaigns/{campaign.pk}/pause/").status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    ui.post(f"/campaigns/{campaign.pk}/resume/")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING
    ui.post(f"/campaigns/{campaign.pk}/cancel/")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    copy = ui.post(f"/campaigns/{campaign.pk}/duplicate/")
    new = Campaign.objects.exclude(pk=campaign.pk).get()
    assert copy["Location"] == f"/campaigns/{new.pk}/edit/" and new.is_draft
    assert ui.post(f"/campaigns/{new.pk}/delete/").status_code == 302
    assert not Campaign.objects.filter(pk=new.pk).exists()
    export = ui.get(f"/campaigns/{campaign.pk}/export.csv")
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    assert f"campaign-{campaign.pk}-" in export["Content-Disposition"]


def test_a_finished_campaigns_report_keeps_refreshing_until_its_delivery_reports_are_in(ui, rich):
    from datetime import timedelta

    from django.utils import timezone

    from smsportal.messaging import dispatch, reports

    campaign = services.campaign_save(account=rich["account"], data={
        "name": "Reports", "body": "Hello", "audience": {"lists": [rich["main"].pk]}, "quiet_hours": False})
    services.campaign_launch(campaign=campaign)
    while services.campaign_prepare(campaign_id=campaign.pk)["more"]:
        pass
    html = ui.get(f"/campaigns/{campaign.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in html and 'data-testid="pause"' in html  # the header is in the fragment
    while dispatch.dispatch_batch()["claimed"]:
        pass
    services.campaigns_tick()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert Message.objects.filter(campaign_id=campaign.pk, status=statuses.SENT).exists()
    html = ui.get(f"/campaigns/{campaign.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 5s"' in html  # sent, its delivery report still to come
    assert 'data-testid="pause"' not in html and 'data-testid="cancel"' not in html
    reports.reports_apply(now=timezone.now() + timedelta(minutes=5))
    html = ui.get(f"/campaigns/{campaign.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in html


def test_test_send_delivers_the_chosen_contacts_text(ui, rich):
    campaign = services.campaign_save(account=rich["account"], data={
        "name": "Test", "body": "Hi {{first_name|there}}", "audience": {"lists": [rich["main"].pk]}})
    olivia = rich["people"][0]
    response = ui.post(f"/campaigns/{campaign.pk}/test/", {"to": "+61412349955", "contact": olivia.pk}, follow=True)
    assert "Test sent to +61412349955" in response.content.decode()
    sent = Message.objects.get(to="+61412349955")
    assert sent.body == "Hi Olivia" and sent.campaign_id is None


def test_test_send_goes_back_to_a_page_of_this_site_only(ui, rich):
    campaign = services.campaign_save(account=rich["account"], data={"name": "Test", "body": "Hi"})
    back = ui.post(f"/campaigns/{campaign.pk}/test/", {"to": "+61412349955", "next": "/campaigns/"})
    assert back["Location"] == "/campaigns/"
    away = ui.post(f"/campaigns/{campaign.pk}/test/", {"to": "+61412349955", "next": "https://evil.test/x"})
    assert away["Location"] == f"/campaigns/{campaign.pk}/edit/"


def test_other_workspaces_campaigns_are_not_found(ui, rich):
    other = AccountFactory()
    theirs = services.campaign_save(account=other, data={"name": "Theirs", "body": "x"})
    for url in (f"/campaigns/{theirs.pk}/", f"/campaigns/{theirs.pk}/edit/", f"/campaigns/{theirs.pk}/export.csv"):
        assert ui.get(url).status_code == 404
    for action in ("launch", "pause", "resume", "cancel", "duplicate", "delete", "test"):
        assert ui.post(f"/campaigns/{theirs.pk}/{action}/", {"to": "+61412349955"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.is_draft and Campaign.objects.filter(account=other).count() == 1


def test_a_viewer_sees_campaigns_but_cannot_compose(client, rich, user_with_role):
    client.force_login(user_with_role("viewer", account=rich["account"]))
    assert client.get("/campaigns/").status_code == 200
    assert client.get("/campaigns/new/").status_code == 403
    assert client.post("/campaigns/preview/", {}).status_code == 403


def test_the_list_runs_a_bounded_number_of_queries(ui, rich, django_assert_max_num_queries):
    for i in range(12):
        campaign = services.campaign_save(account=rich["account"], data={
            "name": f"C{i}", "body": "Hi", "audience": {"lists": [rich["main"].pk]}, "quiet_hours": False})
        if i % 3 == 0:
            services.campaign_launch(campaign=campaign)
    with django_assert_max_num_queries(20):
        assert ui.get("/campaigns/").status_code == 200


def test_the_list_filters_by_status(ui, rich):
    services.campaign_save(account=rich["account"], data={"name": "Only draft", "body": "x"})
    assert "Only draft" in ui.get("/campaigns/?status=draft").content.decode()
    assert "Only draft" not in ui.get("/campaigns/?status=sending").content.decode()


def test_rates_are_never_rounded_up_to_a_perfect_score():
    from campaigns.templatetags.campaign_tags import percent

    assert percent(9997 / 9999) == "99.9 %" and percent(1.0) == "100.0 %" and percent(0.5) == "50.0 %"
    assert percent(None) == "—" and percent(0.12345, 2) == "12.35 %"


def test_a_body_with_markup_is_text_everywhere_on_the_report(ui, rich):
    """Spintax choices name the variant table's rows and the chart's labels: a body's markup must stay text."""
    body = '{</script><img src=x onerror=alert(1)>|"><b>bold</b>} hi'
    campaign = services.campaign_save(account=rich["account"], data={
        "name": "<i>Sly</i>", "body": body, "audience": {"lists": [rich["main"].pk]}, "quiet_hours": False})
    services.campaign_launch(campaign=campaign)
    while services.campaign_prepare(campaign_id=campaign.pk)["more"]:
        pass
    html = ui.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "<img src=x" not in html and "</script><img" not in html and "<b>bold</b>" not in html
    assert "<i>Sly</i>" not in html and "&lt;i&gt;Sly&lt;/i&gt;" in html
    assert "\\u003C/script\\u003E" in html  # inside the chart's JSON, escaped by json_script


def test_the_report_shows_times_in_the_workspaces_zone_chart_included(ui, rich):
    import datetime
    import json

    import time_machine

    from campaigns.models import CampaignSample

    utc = datetime.timezone.utc
    member = MemberFactory(account=rich["account"])
    rich["account"].timezone = "Australia/Sydney"  # UTC+11 in December
    rich["account"].save(update_fields=["timezone"])
    campaign = services.campaign_save(account=rich["account"], data={
        "name": "Zoned", "body": "Hello", "audience": {"lists": [rich["main"].pk]}})
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SCHEDULED,
                                                   starts_at=datetime.datetime(2030, 12, 23, 22, 0, tzinfo=utc))
    for minute, delivered in ((0, 1), (1, 2)):
        CampaignSample.objects.create(campaign=campaign, at=datetime.datetime(2030, 12, 23, 22, minute, tzinfo=utc),
                                      counts={statuses.DELIVERED: delivered})

    def page_at(now):
        with time_machine.travel(now, tick=False):  # the chart ends with a point for now
            ui.force_login(member.user)  # a session of that time
            html = ui.get(f"/campaigns/{campaign.pk}/").content.decode()
        chart = json.loads(re.search(r'<script id="time-data"[^>]*>(.*?)</script>', html, re.S).group(1))
        return html, chart["labels"]

    html, labels = page_at(datetime.datetime(2030, 12, 23, 22, 5, tzinfo=utc))
    assert "Starts 24 Dec 2030, 09:00" in html  # 22:00 UTC the day before
    assert labels == ["09:00", "09:01", "09:05"], re.findall(r"Starts[^<]*", html)
    # A chart spanning days says which day each point is.
    html, labels = page_at(datetime.datetime(2030, 12, 24, 13, 30, tzinfo=utc))
    assert labels == ["24 Dec 09:00", "24 Dec 09:01", "25 Dec 00:30"]
    # Seconds when the minutes would repeat.
    html, labels = page_at(datetime.datetime(2030, 12, 23, 22, 1, 30, tzinfo=utc))
    assert labels == ["09:00:00", "09:01:00", "09:01:30"]
