"""A parent's admin reads how delivery went: the dashboard's figures and charts for a period, then the full
reports for one subaccount, a chart's table view, and a table exported as CSV."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from smsportal.accounts import services as account_services
from smsportal.accounts.models import Account
from tests.factories import PASSWORD
from tests.reports_ui.test_reports import seed

pytestmark = pytest.mark.e2e


def test_an_admin_reads_the_dashboard_and_the_reports(page, live_server, screenshot):
    account_services.account_create(name="Harbour Group", email="admin@harbour.test", password=PASSWORD,
                                    credit="25", default_region="AU")
    parent = Account.objects.get(name="Harbour Group")
    _, (first, second) = seed(parent)

    page.goto("/login/")
    page.get_by_label("Email").fill("admin@harbour.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # The dashboard: last 7 days by default, both subaccounts, figures with their change, charts drawn.
    expect(page.get_by_role("heading", name=re.compile("Last 7 days"))).to_be_visible()
    expect(page.get_by_test_id("figure-sent")).to_contain_text("vs previous 7 days")
    expect(page.get_by_test_id("figure-delivery_rate")).to_contain_text("%")
    page.wait_for_function("window.Chart && Chart.getChart(document.getElementById('daily-chart'))")
    expect(page.get_by_test_id("top-campaigns")).to_contain_text("Spring sale")
    expect(page.get_by_test_id("recent-inbound")).to_contain_text("Thanks!")
    expect(page.get_by_test_id("dashboard-empty")).to_have_count(0)
    screenshot("dashboard-7-days")

    page.get_by_role("link", name="Last 30 days").click()
    expect(page).to_have_url(re.compile(r"period=30d"))
    expect(page.get_by_role("heading", name=re.compile("Last 30 days"))).to_be_visible()
    page.get_by_role("link", name="Full reports").click()

    # Reports for one subaccount, kept in the URL.
    expect(page).to_have_url(re.compile(r"/reports/\?period=30d"))
    page.get_by_label("Account").select_option(label=second.name)
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"period=30d.*account={second.pk}"))  # still the preset
    expect(page.get_by_test_id("table-campaigns")).to_contain_text("Spring sale 2")
    expect(page.get_by_test_id("table-campaigns")).not_to_contain_text("Spring sale 1")
    expect(page.get_by_test_id("table-errors")).to_contain_text("30003")
    page.get_by_text("Table view").click()
    expect(page.get_by_test_id("daily-table")).to_contain_text("Delivery rate")
    screenshot("reports-one-subaccount")

    with page.expect_download() as download:
        page.get_by_test_id("csv-countries").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    shown = page.get_by_test_id("table-countries").locator("tbody tr")
    expect(shown).to_have_count(len(rows))
    assert {row["country"] for row in rows} <= {"AU", "NZ", "GB"}
