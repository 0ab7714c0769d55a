"""Clinical facts, the checklist, overrides, the screen page and the new conditions' names,
as a coordinator and a patient see them."""

import datetime

import pytest
from playwright.sync_api import expect

from tests.factories import EligibilityCriterionFactory, TrialFactory
from trials.services import reference_data_load

# Groups come from a data migration; a live-server test flushes the database afterwards, so
# serialized_rollback puts them back for the tests that follow.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def renal_trial(condition):
    """A recruiting SLE trial that excludes an eGFR below 30."""
    trial = TrialFactory(conditions=[condition], short_name="RENAL", min_age=None, max_age=None)
    EligibilityCriterionFactory(trial=trial, source_text="Exclusion: eGFR < 30 mL/min/1.73 m².")
    return trial


def _open_lead(page, live_server, login, lead):
    login("coordinator")
    page.goto(f"{live_server.url}/admin/work/leads/{lead.pk}/")


def _row(page, trial):
    return page.locator(f"tr[data-candidate='trial-{trial.pk}']")


def test_it_records_the_fact_the_checklist_asks_for_and_the_trial_turns_eligible(
    page, live_server, login, lead, renal_trial
):
    _open_lead(page, live_server, login, lead)
    checklist = page.get_by_test_id("checklist")
    expect(checklist).to_contain_text("eGFR — needed by 1 candidate")
    expect(_row(page, renal_trial)).to_contain_text("Needs info")
    expect(_row(page, renal_trial).locator("q.crm-source")).to_have_text(
        "Exclusion: eGFR < 30 mL/min/1.73 m²."
    )

    checklist.get_by_role("link", name="eGFR").click()
    page.wait_for_url("**?fact=egfr#fact-form")
    form = page.get_by_test_id("fact-form")
    expect(form.locator("select[name=kind]")).to_have_value("egfr")
    form.locator("input[name=value]").fill("62")
    measured = datetime.date.today() - datetime.timedelta(days=3)
    form.locator("input[name=observed_on]").fill(measured.isoformat())
    form.locator("input[name=note]").fill("Soroka lab")
    form.get_by_role("button", name="Record fact").click()

    # Redrawn in place (htmx), with the confirmation, not a new page.
    expect(page.get_by_text("eGFR recorded; eligibility re-checked.")).to_be_visible()
    assert page.url.endswith("?fact=egfr#fact-form")
    facts = page.get_by_test_id("facts")
    expect(facts.locator("tr[data-fact=egfr]")).to_contain_text("62 mL/min/1.73 m²")
    expect(facts.locator("tr[data-fact=egfr]")).to_contain_text(measured.strftime("%d %b %Y"))
    expect(facts).to_contain_text("Soroka lab")
    expect(_row(page, renal_trial)).to_contain_text("Eligible")
    expect(page.get_by_test_id("checklist")).to_have_count(0)


def test_it_overrides_a_needs_info_criterion_and_withdraws_the_override(
    page, live_server, login, lead, renal_trial
):
    _open_lead(page, live_server, login, lead)
    row = _row(page, renal_trial)
    expect(row).to_contain_text("Needs info")

    row.get_by_text("Override…").click()
    form = page.get_by_test_id("override-form")
    expect(form).to_be_visible()
    expect(form).to_contain_text("RENAL · Excludes eGFR < 30")
    form.locator("select[name=result]").select_option("pass")
    form.locator("input[name=reason]").fill("Creatinine normal in the nephrologist's letter.")
    form.get_by_role("button", name="Record override").click()

    page.wait_for_url(f"**/admin/work/leads/{lead.pk}/")
    expect(row).to_contain_text("Overridden: Creatinine normal in the nephrologist's letter.")
    expect(row.get_by_test_id("overridden")).to_contain_text("Engine said")
    expect(row).to_contain_text("Eligible")

    row.get_by_role("button", name="Withdraw override").click()
    page.wait_for_url(f"**/admin/work/leads/{lead.pk}/")
    expect(row).to_contain_text("Needs info")
    expect(row.get_by_test_id("overridden")).to_have_count(0)
    expect(row.get_by_text("Override…")).to_be_visible()


def test_it_screens_the_example_description_and_refuses_broken_json(
    page, live_server, login, coordinator
):
    reference_data_load()
    login("coordinator")
    page.goto(f"{live_server.url}/admin/work/screen/")

    form = page.get_by_test_id("screen-form")
    expect(form.locator("textarea")).to_contain_text("lupus-nephritis")
    form.get_by_role("button", name="Check eligibility").click()
    page.wait_for_url("**/admin/work/screen/")
    verdicts = page.get_by_test_id("verdicts")
    expect(verdicts).to_be_visible()
    expect(verdicts.locator("tr[data-candidate]").first).to_be_visible()
    expect(page.get_by_test_id("screen-errors")).to_have_count(0)
    # Shown as submitted, indented, not flattened by the text cleaning.
    assert '\n  "conditions": [\n    "lupus-nephritis"' in form.locator("textarea").input_value()

    form.locator("textarea").fill('{"conditions": ["sle"],')
    form.get_by_role("button", name="Check eligibility").click()
    expect(page.get_by_test_id("screen-errors")).to_contain_text("Not valid JSON")
    expect(page.get_by_test_id("verdicts")).to_have_count(0)


def test_it_lists_the_new_conditions_in_hebrew_on_the_public_form(page, live_server, empty_cache):
    reference_data_load()

    page.goto(f"{live_server.url}/check-eligibility/?lang=he")

    expect(page.locator("html")).to_have_attribute("lang", "he")
    menu = page.locator("#id_condition")
    for slug, hebrew in [
        ("granulomatosis-with-polyangiitis", "גרנולומטוזיס עם פוליאנגיטיס"),
        ("microscopic-polyangiitis", "פוליאנגיטיס מיקרוסקופית"),
        ("idiopathic-inflammatory-myopathy", "מיופתיה דלקתית אידיופתית"),
    ]:
        expect(menu.locator(f"option[value='{slug}']")).to_contain_text(hebrew)
    menu.select_option("granulomatosis-with-polyangiitis")
    expect(menu.locator("option:checked")).to_contain_text("גרנולומטוזיס עם פוליאנגיטיס")


def test_it_shows_why_a_fact_was_refused_in_place(page, live_server, login, lead, renal_trial):
    _open_lead(page, live_server, login, lead)
    form = page.get_by_test_id("fact-form")
    form.locator("select[name=kind]").select_option("egfr")
    form.locator("input[name=value]").fill("lots")
    form.get_by_role("button", name="Record fact").click()

    expect(page.get_by_test_id("fact-form")).to_contain_text("eGFR is a number.")
    expect(page.get_by_test_id("fact-form").locator("input[name=value]")).to_have_value("lots")
    expect(page.get_by_test_id("facts")).to_have_count(0)


def test_it_draws_the_ineligible_candidates_when_their_list_is_opened(
    page, live_server, login, lead
):
    from tests.factories import ConditionFactory, ProgramFactory

    ra_program = ProgramFactory(conditions=[ConditionFactory(name="Rheumatoid arthritis")])
    _open_lead(page, live_server, login, lead)
    listing = page.get_by_test_id("ineligible")
    expect(listing.locator(f"tr[data-candidate='program-{ra_program.pk}']")).to_have_count(0)

    listing.locator("summary").click()

    row = listing.locator(f"tr[data-candidate='program-{ra_program.pk}']")
    expect(row).to_contain_text("Ineligible")
    expect(row).to_contain_text("candidate takes Rheumatoid arthritis")
