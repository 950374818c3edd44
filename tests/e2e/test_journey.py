"""An admin's journey: log in, create a subaccount, rotate its key, switch into it."""

import pytest
import requests
from playwright.sync_api import expect

from smsportal.accounts import services
from smsportal.accounts.models import Account, ApiKey
from tests.factories import PASSWORD

from .conftest import rotate_api_key

pytestmark = pytest.mark.e2e


def api_account_status(base_url: str, api_username: str, api_key: str) -> int:
    return requests.get(f"{base_url}/v3/account", auth=(api_username, api_key), timeout=10).status_code


def test_admin_creates_a_subaccount_rotates_its_key_and_switches_into_it(page, live_server, screenshot):
    services.account_create(name="Acme Corp", email="admin@acme.test", password=PASSWORD, credit="250")

    # Every page needs a login; the login form asks for an email.
    page.goto("/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")
    screenshot("login")
    page.get_by_label("Email").fill("admin@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_test_id("current-workspace")).to_have_text("Acme Corp")
    expect(page.get_by_text("No messages yet").first).to_be_visible()
    screenshot("dashboard")

    # Create a subaccount through Settings → Subaccounts.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Subaccounts").click()
    expect(page.get_by_role("heading", name="No subaccounts yet")).to_be_visible()
    page.get_by_role("link", name="New subaccount").click()
    page.get_by_label("API username").fill("acme-eu")
    page.get_by_label("Display name").fill("Acme Europe")
    page.get_by_label("Email").fill("eu@acme.test")
    page.get_by_label("Billing").uncheck()
    screenshot("new-subaccount")
    page.get_by_role("button", name="Create subaccount").click()

    expect(page.get_by_role("heading", name="Subaccount created")).to_be_visible()
    first_key = page.get_by_test_id("new-api-key").inner_text().strip()
    assert first_key.startswith("sp_")
    screenshot("subaccount-created")
    subaccount = Account.objects.get(api_username="acme-eu")
    assert subaccount.parent.name == "Acme Corp" and not subaccount.access_billing
    assert api_account_status(live_server.url, "acme-eu", first_key) == 200

    # Give it some credit, then rotate its key: the new key is shown once and the old one stops working.
    page.get_by_role("link", name="Open Acme Europe").click()
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)
    page.get_by_label("Amount").fill("40")
    page.get_by_role("button", name="Transfer credit").click()
    expect(page.get_by_test_id("subaccount-balance")).to_have_text("USD 40.00")
    screenshot("subaccount-detail")

    new_key = rotate_api_key(page, previous=first_key)
    screenshot("key-rotated")
    assert api_account_status(live_server.url, "acme-eu", new_key) == 200
    assert api_account_status(live_server.url, "acme-eu", first_key) == 401
    assert not ApiKey.objects.filter(key_hash=new_key).exists()

    page.goto(f"/settings/subaccounts/{subaccount.pk}/")  # opened again, the page must not show the key
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)
    assert new_key not in page.content()

    # Switch into the subaccount with the workspace switcher.
    page.get_by_label("Switch workspace").select_option(str(subaccount.pk))
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_test_id("current-workspace")).to_have_text("Acme Europe")
    expect(page.get_by_text("You are now working in Acme Europe.")).to_be_visible()
    expect(page.get_by_test_id("current-balance")).to_have_text("USD 40.00")
    screenshot("switched-to-subaccount")
