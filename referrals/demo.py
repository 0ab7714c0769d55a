"""Demo users and a few hundred realistic leads for `make run`.

Deterministic (a fixed random seed) and idempotent: demo patients are keyed by their e-mail, so a
second run finds them all and writes nothing.
"""

import datetime
import itertools
import random
from dataclasses import dataclass

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from referrals import roles, selectors
from referrals.demo_clinical import demo_facts, demo_lines
from referrals.eligibility import Candidate, ConditionTree, Verdict, evaluate
from referrals.models import (
    ClinicalFact,
    FactSource,
    LiaisonProfile,
    Patient,
    PriorTreatmentLine,
    Referral,
    ReferralEvent,
    ReferralSnapshot,
    ScreeningRecord,
)
from referrals.vocabulary import (
    OPEN_STAGES,
    PRE_REFERRAL_STAGES,
    BestResponse,
    CloseReason,
    EventKind,
    Language,
    Priority,
    ScreenFailureCriterion,
    Sex,
    Source,
    Stage,
)
from trials.clinical import parse_fact_value
from trials.models import Condition, Hospital, Therapy

DEMO_EMAIL_DOMAIN = "demo.carecrm.example"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str
    first_name: str
    last_name: str


DEMO_LOGINS = (
    DemoLogin("admin", "carecrm-admin", "Admin", "Ruth", "Admin"),
    DemoLogin("coordinator", "carecrm-coordinator", "Coordinator", "Dana", "Levi"),
    DemoLogin("coordinator2", "carecrm-coordinator2", "Coordinator", "Yossi", "Cohen"),
)


@dataclass(frozen=True)
class DemoLiaison:
    username: str
    hospital: str
    first_name: str
    last_name: str
    password: str = "carecrm-liaison"
    role: str = "Liaison"


# One hospital liaison per demo hospital (the reference data's five centres).
DEMO_LIAISONS = (
    DemoLiaison("liaison-sheba", "Sheba Medical Center", "Michal", "Sheba"),
    DemoLiaison("liaison-hadassah", "Hadassah Medical Center", "Avraham", "Hadassah"),
    DemoLiaison("liaison-ichilov", "Tel Aviv Sourasky Medical Center (Ichilov)", "Noa", "Ichilov"),
    DemoLiaison("liaison-rabin", "Rabin Medical Center – Beilinson", "Yael", "Beilinson"),
    DemoLiaison("liaison-rambam", "Rambam Health Care Campus", "Samir", "Rambam"),
)

FIRST_NAMES = {
    Sex.FEMALE: ["Noa", "Tamar", "Maya", "Yael", "Olga", "Svetlana", "Leila", "Rana", "Miriam"],
    Sex.MALE: ["Avi", "Yosef", "Daniel", "Igor", "Dmitri", "Omar", "Samir", "Eitan", "David"],
}
LAST_NAMES = [
    "Cohen", "Levi", "Mizrahi", "Peretz", "Biton", "Friedman", "Ivanova", "Petrov",
    "Haddad", "Khoury", "Nasser", "Azoulay", "Katz", "Shapiro", "Dahan", "Abramov",
]  # fmt: skip
CITIES = ["Tel Aviv", "Jerusalem", "Haifa", "Beersheba", "Netanya", "Nazareth", "Ashdod"]
# Conditions weighted toward where CAR-T programs recruit today.
CONDITION_WEIGHTS = {
    "sle": 30,
    "lupus-nephritis": 20,
    "rheumatoid-arthritis": 12,
    "systemic-sclerosis": 12,
    "dermatomyositis": 6,
    "antisynthetase-syndrome": 4,
    "anca-associated-vasculitis": 5,
    "sjogrens-disease": 4,
    "myasthenia-gravis": 7,
}
STAGE_WEIGHTS = {
    Stage.NEW: 14,
    Stage.CONTACTED: 12,
    Stage.RECORDS_REQUESTED: 12,
    Stage.SCREENING: 14,
    Stage.ELIGIBLE: 8,
    Stage.REFERRED: 7,
    Stage.ACCEPTED: 5,
    Stage.SCHEDULED: 4,
    Stage.TREATED: 3,
    Stage.FOLLOW_UP: 3,
    Stage.CLOSED: 18,
}
CLOSE_DETAILS = [
    "Failed lines: fewer than the program requires",
    "Condition: not treated by any open program",
    "Prefers to continue current treatment",
    "No answer after three calls and an e-mail",
]
NEXT_ACTIONS = {
    Stage.NEW: "First call to the patient",
    Stage.CONTACTED: "Request medical records",
    Stage.RECORDS_REQUESTED: "Chase records from the treating rheumatologist",
    Stage.SCREENING: "Review treatment history and run eligibility",
    Stage.ELIGIBLE: "Send referral packet",
    Stage.REFERRED: "Confirm the hospital received the referral",
    Stage.ACCEPTED: "Agree consult date with the program",
    Stage.SCHEDULED: "Check travel and lodging",
    Stage.TREATED: "Book 1-month follow-up",
    Stage.FOLLOW_UP: "Collect 3-month disease activity",
}


def demo_users_ensure() -> list[DemoLogin]:
    """Create the demo logins that are missing; existing users keep their passwords."""
    for login in DEMO_LOGINS:
        user, created = User.objects.get_or_create(
            username=login.username,
            defaults={
                "is_staff": True,
                "email": f"{login.username}@{DEMO_EMAIL_DOMAIN}",
                "first_name": login.first_name,
                "last_name": login.last_name,
            },
        )
        if created:
            user.set_password(login.password)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=login.role))
    demo_liaisons_ensure()
    return list(DEMO_LOGINS)


def demo_liaisons_ensure() -> list[DemoLiaison]:
    """A liaison for each demo hospital that exists (load the reference data first)."""
    hospitals = {
        h.name: h for h in Hospital.objects.filter(name__in=[d.hospital for d in DEMO_LIAISONS])
    }
    group = Group.objects.get(name=roles.HOSPITAL_LIAISON)
    created_for = []
    for login in DEMO_LIAISONS:
        hospital = hospitals.get(login.hospital)
        if hospital is None:
            continue
        user, created = User.objects.get_or_create(
            username=login.username,
            defaults={
                "is_staff": True,
                "email": f"{login.username}@{DEMO_EMAIL_DOMAIN}",
                "first_name": login.first_name,
                "last_name": login.last_name,
            },
        )
        if created:
            user.set_password(login.password)
            user.save(update_fields=["password"])
        user.groups.add(group)
        LiaisonProfile.objects.get_or_create(user=user, defaults={"hospital": hospital})
        created_for.append(login)
    return created_for


@transaction.atomic
def demo_data_seed(*, referral_count: int = 300, seed: int = 20261127) -> int:
    """Create the demo leads that do not exist yet; returns how many were created."""
    rng = random.Random(seed)
    demo_users_ensure()
    coordinators = list(User.objects.filter(username__in=["coordinator", "coordinator2"]))
    conditions = {c.slug: c for c in Condition.objects.filter(slug__in=CONDITION_WEIGHTS)}
    therapies = {t.name: t for t in Therapy.objects.all()}
    tree = selectors.condition_tree()
    candidates = selectors.eligibility_candidates(tree)
    existing = set(
        Patient.objects.filter(email__endswith=f"@{DEMO_EMAIL_DOMAIN}").values_list(
            "email", flat=True
        )
    )
    now = timezone.now()
    today = timezone.localdate()
    created = 0
    for index in range(referral_count):
        # Draw every value even for existing patients so each index always gets the same lead.
        lead = _draw_lead(rng, index, conditions, coordinators, now, today)
        if lead["patient"].email in existing:
            continue
        _save_lead(lead, therapies, candidates, tree)
        created += 1
    demo_hospital_side_seed(rng=random.Random(seed + 1))
    return created


def demo_hospital_side_seed(*, rng: random.Random) -> int:
    """Give demo leads referred to a program their hospital side, once: the snapshot sent, the
    liaison's receipt, the decision, consult, apheresis and infusion dates, consistent with the
    lead's stage history. Leads that already have it (`referred_at`) are left alone."""
    leads = (
        Referral.objects.filter(
            patient__email__endswith=f"@{DEMO_EMAIL_DOMAIN}",
            target_program__isnull=False,
            referred_at__isnull=True,
        )
        .exclude(stage__in=PRE_REFERRAL_STAGES)
        .select_related("target_program__hospital", "assigned_to")
        .order_by("pk")
    )
    liaisons = {
        profile.hospital_id: profile.user
        for profile in LiaisonProfile.objects.select_related("user")
    }
    now = timezone.now()
    done = 0
    for lead in leads:
        moved = {
            event.to_stage: event.created_at
            for event in lead.events.filter(kind=EventKind.STAGE_CHANGE).order_by("-created_at")
        }
        if Stage.REFERRED not in moved:
            continue
        _hospital_side(lead, moved, liaisons.get(lead.target_program.hospital_id), rng, now)
        done += 1
    return done


def _hospital_side(lead: Referral, moved: dict, liaison, rng: random.Random, now) -> None:
    referred = moved[Stage.REFERRED]
    accepted, scheduled, treated = (
        moved.get(s) for s in (Stage.ACCEPTED, Stage.SCHEDULED, Stage.TREATED)
    )
    # Receipt comes within days of the referral, and before the decision.
    received = min(referred + datetime.timedelta(days=rng.uniform(0.2, 4)), accepted or now)
    lead.referred_at = referred
    ReferralSnapshot.objects.create(
        referral=lead,
        program=lead.target_program,
        data=selectors.referral_snapshot_data(lead),
        taken_by=lead.assigned_to,
        taken_at=referred,
    )
    events = []
    if accepted or rng.random() < 0.7:
        lead.receipt_confirmed_at = received
        events.append(
            (
                EventKind.RECEIPT_CONFIRMED,
                lead.receipt_confirmed_at,
                f"{lead.target_program.hospital} received the referral.",
            )
        )
    if accepted:
        lead.hospital_decision_at = accepted
        end = scheduled or now
        consult_at = accepted + (end - accepted) * rng.uniform(0.2, 0.5)
        lead.consult_date = (
            timezone.localdate(consult_at)
            if scheduled
            else timezone.localdate(accepted) + datetime.timedelta(days=rng.randint(3, 14))
        )
        if scheduled:
            infusion = (
                timezone.localdate(treated)
                if treated
                else max(lead.infusion_date or timezone.localdate(now), lead.consult_date)
            )
            lead.apheresis_date = lead.consult_date + (infusion - lead.consult_date) // 2
            lead.infusion_date = infusion
        events.append(
            (
                EventKind.HOSPITAL_DATES,
                accepted + datetime.timedelta(minutes=5),
                lead.hospital_dates_text,
            )
        )
    if events and (
        lead.stage == Stage.REFERRED or now - events[-1][1] < datetime.timedelta(days=3)
    ):
        # Unseen by the coordinator: a "hospital update" badge in their queue.
        lead.hospital_update_at = events[-1][1]
    lead.save()
    ReferralEvent.objects.bulk_create(
        ReferralEvent(referral=lead, kind=kind, body=body, author=liaison, created_at=at)
        for kind, at, body in events
    )


def _draw_lead(rng, index, conditions, coordinators, now, today) -> dict:
    sex = rng.choice([Sex.FEMALE, Sex.FEMALE, Sex.FEMALE, Sex.MALE])
    slug = rng.choices(list(CONDITION_WEIGHTS), weights=list(CONDITION_WEIGHTS.values()))[0]
    birth = today - datetime.timedelta(days=rng.randint(19 * 365, 72 * 365))
    patient = Patient(
        first_name=rng.choice(FIRST_NAMES[sex]),
        last_name=rng.choice(LAST_NAMES),
        date_of_birth=birth if rng.random() > 0.1 else None,
        sex=sex,
        phone=f"+97250{index:07d}",
        email=f"patient{index:04d}@{DEMO_EMAIL_DOMAIN}",
        city=rng.choice(CITIES),
        preferred_language=rng.choice(list(Language.values)),
        primary_condition=conditions.get(slug),
        diagnosis_year=min(today.year - 1, birth.year + rng.randint(16, 40)),
    )
    stage = rng.choices(list(STAGE_WEIGHTS), weights=list(STAGE_WEIGHTS.values()))[0]
    # Early stages hold recent leads; later stages hold leads that have been worked for months.
    max_age_days = {Stage.NEW: 5, Stage.CONTACTED: 30, Stage.RECORDS_REQUESTED: 60}.get(stage, 365)
    created_at = now - datetime.timedelta(
        days=rng.randint(0, max_age_days), hours=rng.randint(0, 23)
    )
    path = _stage_path(stage, rng)
    # Lines in the disease's usual order, ending a few months before the lead.
    last_end = created_at.date() - datetime.timedelta(days=rng.randint(20, 120))
    lines = demo_lines(rng, slug, patient.diagnosis_year, last_end, rng.randint(1, 6))
    age = patient.age if patient.date_of_birth else None
    facts = demo_facts(rng, slug, female=sex == Sex.FEMALE, age=age, today=today)
    due_offset = rng.randint(-3, 14)
    close_reason = rng.choice(list(CloseReason.values)) if stage == Stage.CLOSED else ""
    return {
        "patient": patient,
        "lines": lines,
        "facts": facts,
        "referral": Referral(
            source=rng.choice(list(Source.values)),
            stage=stage,
            close_reason=close_reason,
            screen_failure_criterion=rng.choice(list(ScreenFailureCriterion.values))
            if close_reason == CloseReason.SCREEN_FAILED
            else "",
            close_detail=rng.choice(CLOSE_DETAILS) if stage == Stage.CLOSED else "",
            assigned_to=rng.choice(coordinators)
            if stage != Stage.NEW or rng.random() > 0.3
            else None,
            priority=rng.choice(list(Priority.values)),
            next_action=NEXT_ACTIONS.get(stage, ""),
            next_action_due=today + datetime.timedelta(days=due_offset)
            if stage != Stage.CLOSED
            else None,
            created_at=created_at,
        ),
        "path": path,
        "days_per_stage": rng.uniform(0.5, 9),
    }


def _stage_path(stage: Stage, rng: random.Random) -> list[Stage]:
    """The stages a lead passed through to reach `stage`, in order."""
    if stage == Stage.CLOSED:
        last_open = rng.choice(OPEN_STAGES[:5])
        return [*_stage_path(last_open, rng), Stage.CLOSED]
    return list(OPEN_STAGES[: OPEN_STAGES.index(stage) + 1])


def _save_lead(
    lead: dict, therapies: dict[str, Therapy], candidates: list[Candidate], tree: ConditionTree
) -> None:
    patient = lead["patient"]
    patient.save()
    for line in lead["lines"]:
        treatment_line = PriorTreatmentLine.objects.create(
            patient=patient,
            line_number=line["line_number"],
            start_date=line["start_date"],
            end_date=line["end_date"],
            best_response=BestResponse.NONE,
            reason_stopped=line["reason_stopped"],
        )
        treatment_line.therapies.set(
            [therapies[name] for name in line["regimen"] if name in therapies]
        )
    for kind, value, observed_on in lead["facts"]:
        fact = ClinicalFact(
            patient=patient, kind=kind, observed_on=observed_on, source=FactSource.DOCUMENT
        )
        fact.value = parse_fact_value(kind, value)
        fact.save()
    referral = lead["referral"]
    referral.patient = patient
    path = lead["path"]
    screening = None
    if Stage.ELIGIBLE in path:
        # Only leads the engine really finds eligible get past screening, as in the pipeline.
        evaluations = evaluate(
            selectors.patient_facts(selectors.patient_for_eligibility(patient.pk)),
            candidates,
            today=timezone.localdate(),
            tree=tree,
        )
        screening = next((e for e in evaluations if e.verdict == Verdict.ELIGIBLE), None)
        if screening is None:
            path = path[: path.index(Stage.ELIGIBLE)]
            if referral.stage != Stage.CLOSED:
                referral.stage = path[-1]
                referral.next_action = NEXT_ACTIONS[referral.stage]
    if screening and Stage.REFERRED in path:
        target = screening.candidate
        referral.target_program_id = target.id if target.kind == "program" else None
        referral.target_trial_id = target.id if target.kind == "trial" else None
    # Recent leads moved faster than old ones; no event may land in the future.
    step = min(
        datetime.timedelta(days=lead["days_per_stage"]),
        (timezone.now() - referral.created_at) / len(path),
    )
    referral.stage_changed_at = referral.created_at + step * (len(path) - 1)
    if Stage.SCHEDULED in path:
        referral.infusion_date = referral.stage_changed_at.date() + datetime.timedelta(days=21)
    referral.save()
    if screening:
        ScreeningRecord.objects.create(
            referral=referral,
            program_id=screening.candidate.id if screening.candidate.kind == "program" else None,
            trial_id=screening.candidate.id if screening.candidate.kind == "trial" else None,
            candidate_name=screening.candidate.name,
            verdict=screening.verdict.value,
            criteria=screening.criteria_dicts(),
            recorded_by=referral.assigned_to,
            recorded_at=referral.created_at + step * path.index(Stage.ELIGIBLE),
        )
    events = [
        ReferralEvent(
            referral=referral,
            kind=EventKind.CREATED,
            to_stage=Stage.NEW,
            body=f"Lead received ({referral.get_source_display()}).",
            created_at=referral.created_at,
        )
    ]
    for position, (before, after) in enumerate(itertools.pairwise(path), start=1):
        events.append(
            ReferralEvent(
                referral=referral,
                kind=EventKind.STAGE_CHANGE,
                from_stage=before,
                to_stage=after,
                author=referral.assigned_to,
                body=f"{referral.get_close_reason_display()} — {referral.close_detail}"
                if after == Stage.CLOSED
                else "",
                created_at=referral.created_at + step * position,
            )
        )
    ReferralEvent.objects.bulk_create(events)
