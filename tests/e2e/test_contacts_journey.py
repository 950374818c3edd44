"""A marketer's contacts journey: create a list, import a CSV into it, read the result, find a contact, build a segment."""

import csv
import re

import pytest
from playwright.sync_api import expect

from contacts.importing import import_run
from contacts.models import Contact, ContactList, ImportJob, Segment
from smsportal.accounts import services as account_services
from tests.factories import PASSWORD

from .conftest import SCREENSHOT_DIR

pytestmark = pytest.mark.e2e

CSV_TEXT = (
    "Mobile,First name,Last name,Email\n"
    "0412 345 678,Olivia,Nguyen,olivia@example.test\n"     # national AU number
    "+44 7400 123456,Harry,Whitfield,harry@example.test\n"  # international
    "not a number,Broken,Row,\n"                            # invalid: in the error CSV
    "0412345678,Olivia,Again,\n"                            # the same number as row 2: a duplicate
    "+61 2 9876 5432,Dana,Brooks,\n"                        # AU fixed line
)


@pytest.fixture
def shot(page):
    """Full-page screenshots as var/e2e/contacts-NN-<step>.png, numbered in the order taken."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    taken = []

    def take(step: str):
        path = SCREENSHOT_DIR / f"contacts-{len(taken) + 1:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return take


def test_import_a_csv_read_the_result_find_a_contact_and_build_a_segment(page, live_server, shot, tmp_path, settings):
    settings.DATA_DIR = tmp_path
    account_services.account_create(name="Harbour Bakery", email="owner@bakery.test", password=PASSWORD, credit="50")
    csv_path = tmp_path / "customers.csv"
    csv_path.write_text(CSV_TEXT, encoding="utf-8")

    page.goto("/login/")
    page.get_by_label("Email").fill("owner@bakery.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("current-workspace")).to_have_text("Harbour Bakery")

    # A list to import into, through the Lists page.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts").click()
    page.get_by_role("navigation", name="Contacts").get_by_role("link", name="Lists").click()
    page.get_by_label("List name").fill("Newsletter")
    page.get_by_role("button", name="Create list").click()
    expect(page.get_by_role("heading", name="Newsletter")).to_be_visible()
    shot("list-created")

    # Upload the CSV.
    page.get_by_role("navigation", name="Contacts").get_by_role("link", name="Import").click()
    expect(page.get_by_role("heading", name="Import contacts")).to_be_visible()
    page.get_by_label("CSV file").set_input_files(str(csv_path))
    shot("upload")
    page.get_by_role("button", name="Upload and map columns").click()

    # The mapping screen guessed the columns from the headers; the preview flags the invalid row.
    expect(page.get_by_role("heading", name="Map columns")).to_be_visible()
    expect(page.get_by_label("Import column 1 (Mobile) as")).to_have_value("phone_number")
    expect(page.get_by_label("Import column 2 (First name) as")).to_have_value("first_name")
    expect(page.get_by_label("Import column 4 (Email) as")).to_have_value("email")
    # The workspace is in the US; these national numbers are Australian.
    expect(page.get_by_label("Default country")).to_have_value("US")
    preview = page.locator("#import-preview")
    expect(page.get_by_test_id("preview-invalid")).to_have_text("3 of them cannot be imported.")
    page.get_by_label("Default country").select_option("AU")
    expect(preview.locator("tr[data-row='4']")).to_contain_text("Invalid")
    expect(preview.locator("tr[data-row='2']")).to_contain_text("+61412345678")
    expect(page.get_by_test_id("preview-invalid")).to_have_text("1 of them cannot be imported.")

    # Skip the email column: the preview is redrawn without it.
    page.get_by_label("Import column 4 (Email) as").select_option("")
    expect(preview.locator("thead")).not_to_contain_text("Email")
    page.get_by_label("Import column 4 (Email) as").select_option("email")
    expect(preview.locator("thead")).to_contain_text("Email")
    page.get_by_label("Add to list").select_option(label="Newsletter")
    expect(preview).not_to_have_class(re.compile("htmx-request"))
    shot("mapping-and-preview")

    page.get_by_role("button", name="Start import").click()
    expect(page).to_have_url(re.compile(r"/contacts/import/(\d+)/progress/$"))
    job_id = int(re.search(r"/contacts/import/(\d+)/progress/", page.url).group(1))
    expect(page.get_by_test_id("import-status")).to_have_text("Queued")
    expect(page.get_by_role("progressbar", name="Import progress")).to_be_visible()
    shot("progress-queued")

    # No Celery worker beside the live server: run the job here, as the worker would; the page polls.
    job = import_run(job_id=job_id)
    assert job.status == ImportJob.Status.DONE

    result = page.get_by_test_id("import-result")
    expect(result).to_be_visible(timeout=10_000)
    expect(page.get_by_test_id("count-created")).to_have_text("3")
    expect(page.get_by_test_id("count-updated")).to_have_text("0")
    expect(page.get_by_test_id("count-duplicates")).to_have_text("1")
    expect(page.get_by_test_id("count-invalid")).to_have_text("1")
    expect(page.locator("#import-progress")).not_to_have_attribute("hx-trigger", re.compile(".*"))
    shot("result")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download error rows (CSV)").click()
    download = download_info.value
    assert download.suggested_filename == f"import-{job_id}-errors.csv"
    rows = list(csv.reader(open(download.path(), encoding="utf-8", newline="")))
    assert rows[0] == ["row_number", "raw_value", "reason"]
    assert len(rows) == 2 and rows[1][:2] == ["4", "not a number"] and rows[1][2]

    newsletter = ContactList.objects.get(name="Newsletter")
    assert newsletter.contact_count == 3
    assert Contact.objects.filter(account=newsletter.account).count() == 3

    # Find an imported contact with search-as-you-type.
    page.get_by_role("link", name="View contacts").click()
    page.get_by_label("Search").press_sequentially("whitf", delay=40)
    table = page.locator("#contacts-table")
    expect(table).to_contain_text("Harry")
    expect(table).not_to_contain_text("Olivia")
    shot("contacts-search")

    # Build a segment: Australian numbers, with the live count while editing.
    page.get_by_role("navigation", name="Contacts").get_by_role("link", name="Segments").click()
    expect(page.get_by_role("heading", name="No segments yet")).to_be_visible()
    page.get_by_role("link", name="Build the first segment").click()
    page.get_by_label("Segment name").fill("Australians")
    condition = page.locator("[data-condition]").first
    condition.get_by_label("Match on").select_option("country")
    expect(condition.get_by_label("Country codes")).to_be_visible()
    expect(condition.get_by_label("Lists")).to_be_hidden()
    condition.get_by_label("Country codes").fill("AU")
    count = page.locator("#segment-count")
    expect(count).to_contain_text("2 contacts match")
    expect(count).to_contain_text("2 can be texted")

    # A second condition narrows it; removing it widens it again.
    page.get_by_role("button", name="+ Add condition").click()
    second = page.locator("[data-condition]").nth(1)
    second.get_by_label("Match on").select_option("field")
    second.get_by_label("Field", exact=True).select_option("first_name")
    second.get_by_label("Operator").select_option("equals")
    second.get_by_label("Value").fill("olivia")
    expect(count).to_contain_text("1 contact match")
    shot("segment-builder")
    second.get_by_role("button", name="Remove this condition").click()
    expect(page.locator("[data-condition]")).to_have_count(1)
    expect(count).to_contain_text("2 contacts match")

    page.get_by_role("button", name="Create segment").click()
    expect(page.get_by_text("Segment “Australians” saved.")).to_be_visible()
    segment = Segment.objects.get(name="Australians")
    assert segment.rules == {"match": "all", "conditions": [{"type": "country", "op": "in", "values": ["AU"]}]}
    expect(page.locator("#segment-count")).to_contain_text("2 contacts match")
    shot("segment-saved")

    page.get_by_role("navigation", name="Contacts").get_by_role("link", name="Segments").click()
    row = page.get_by_role("row").filter(has_text="Australians")
    expect(row).to_contain_text("Country is one of AU")
    expect(row).to_contain_text("2 · 2 can be texted")
    shot("segments")

    # Its contacts, in the contacts table filtered by the segment.
    row.get_by_role("link", name="View contacts").click()
    expect(page).to_have_url(re.compile(rf"/contacts/\?segment={segment.pk}$"))
    expect(page.locator("#contacts-table")).to_contain_text("Olivia")
    expect(page.locator("#contacts-table")).not_to_contain_text("Harry")

    # And the import is in the history.
    page.goto("/contacts/import/history/")
    expect(page.get_by_role("link", name="customers.csv")).to_be_visible()
    shot("import-history")
