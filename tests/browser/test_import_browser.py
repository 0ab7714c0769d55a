"""The referral import in a real browser: upload, the page following the worker, confirm."""

import pytest
from django_tasks_db.models import DBTaskResult
from playwright.sync_api import expect

from referrals import imports
from referrals.models import Referral
from referrals.resources import COLUMNS
from tests.factories import ConditionFactory, PatientFactory, ReferralFactory

# Groups come from a data migration; a live-server test flushes the database afterwards, so
# serialized_rollback puts them back for the tests that follow.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROWS = [
    ("Dana", "Levi", "1985-06-15", "054-765-4321", "", "sle", "Referring physician"),
    ("Yossi", "Mizrahi", "1979-01-30", "052-765-4321", "", "sle", "phone"),
    ("Miriam", "Peretz", "", "", "miriam@example.org", "", "Hospital"),
    ("Avi", "Cohen", "1990-02-01", "053-111-2233", "", "", "E-mail"),
    ("Noa", "Katz", "1968-11-20", "", "noa.katz@example.org", "sle", "phone"),
    ("Eitan", "Ben-David", "", "050-444-5566", "", "", "phone"),
]


def _csv() -> bytes:
    lines = [",".join(COLUMNS[:7])] + [",".join(row) for row in ROWS]
    return ("\n".join(lines) + "\n").encode()


def _work(task_worker) -> None:
    while (queued := DBTaskResult.objects.ready().order_by("enqueued_at").first()) is not None:
        queued.claim(task_worker.worker_id)
        task_worker.run_task(queued)


def test_it_uploads_a_file_follows_the_check_and_confirms_the_import(
    page, live_server, login, coordinator, task_worker, monkeypatch, tmp_path, settings
):
    # No workload snapshot in the shared cache's table: a live-server test's flush leaves that
    # table alone, and the next test's coordinators would be counted from this one's.
    settings.COORDINATOR_LOAD_SECONDS = 0
    ConditionFactory(name="Systemic lupus erythematosus", slug="sle")
    known = ReferralFactory(patient=PatientFactory(phone="+972547654321"))
    login("coordinator")
    page.goto(f"{live_server.url}/admin/referrals/referral/")
    page.get_by_role("link", name="Import").click()
    page.wait_for_url("**/admin/referrals/referral/import/")

    page.set_input_files(
        "input[type=file]", {"name": "leads.csv", "mimeType": "text/csv", "buffer": _csv()}
    )
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_url("**/admin/referrals/referral/import/*/")
    status = page.get_by_test_id("import-status")
    expect(status).to_contain_text("Waiting for the task worker")

    # The worker checks two rows at a time; before each batch after the first, the page (left
    # alone: htmx polls it) must show the rows checked so far.
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    check_batch = imports.FileCheck.batch

    def shown_then_check(self, rows):
        done = rows[0][0] - 1
        if done:
            expect(page.get_by_test_id("import-progress")).to_contain_text(
                f"Checking rows: {done} of 6"
            )
        return check_batch(self, rows)

    monkeypatch.setattr(imports.FileCheck, "batch", shown_then_check)
    _work(task_worker)
    monkeypatch.setattr(imports.FileCheck, "batch", check_batch)

    # Checked: the poll reloads the page with the preview.
    expect(page.get_by_test_id("import-summary")).to_contain_text("All 6 rows can be imported")
    rows = page.get_by_test_id("import-rows").locator("tbody tr")
    expect(rows).to_have_count(6)
    expect(rows.first.locator("[data-column=duplicate_of]")).to_have_text(f"#{known.pk}")
    expect(page.get_by_test_id("import-flagged")).to_contain_text("1 row looks like a lead")
    page.screenshot(path=tmp_path / "import-preview.png", full_page=True)

    page.get_by_role("button", name="Confirm import").click()
    expect(status).to_contain_text("Importing 6 rows")
    _work(task_worker)

    expect(page.get_by_test_id("import-summary")).to_contain_text("Imported 6 leads")
    page.screenshot(path=tmp_path / "import-done.png", full_page=True)
    page.get_by_role("link", name="See the imported leads").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(6)
    assert Referral.objects.filter(import_job__isnull=False).count() == 6
