import datetime
import io

import factory
from django.contrib.auth.models import Group, User
from factory.django import DjangoModelFactory
from PIL import Image
from pypdf import PdfWriter

from referrals.models import (
    ClinicalFact,
    FactSource,
    Patient,
    PriorTreatmentLine,
    ReasonStopped,
    Referral,
    ReferralEvent,
    Source,
    Stage,
)
from trials.models import (
    CarTarget,
    Condition,
    ConditionGroup,
    DrugClass,
    EligibilityCriterion,
    Hospital,
    Program,
    ProgramStatus,
    Therapy,
    Trial,
    TrialStatus,
)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@carecrm.test")
    is_staff = True
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


class ConditionFactory(DjangoModelFactory):
    class Meta:
        model = Condition
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Condition {n}")
    slug = factory.Sequence(lambda n: f"condition-{n}")
    group = ConditionGroup.CONNECTIVE_TISSUE


class TherapyFactory(DjangoModelFactory):
    class Meta:
        model = Therapy
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Therapy {n}")
    drug_class = DrugClass.CSDMARD
    counts_toward_failed_lines = True


class HospitalFactory(DjangoModelFactory):
    class Meta:
        model = Hospital

    name = factory.Sequence(lambda n: f"Hospital {n}")
    city = "Tel Aviv"


class ProgramFactory(DjangoModelFactory):
    class Meta:
        model = Program
        skip_postgeneration_save = True

    hospital = factory.SubFactory(HospitalFactory)
    name = factory.Sequence(lambda n: f"CD19 program {n}")
    car_target = CarTarget.CD19
    min_failed_lines = 2
    min_age = 18
    max_age = 70
    status = ProgramStatus.ACCEPTING

    @factory.post_generation
    def conditions(self, create, extracted, **kwargs):
        if create and extracted:
            self.conditions.set(extracted)


class TrialFactory(DjangoModelFactory):
    class Meta:
        model = Trial
        skip_postgeneration_save = True

    nct_id = factory.Sequence(lambda n: f"NCT{90000000 + n:08d}")
    title = factory.Sequence(lambda n: f"CD19 CAR-T trial {n}")
    car_target = CarTarget.CD19
    overall_status = TrialStatus.RECRUITING
    min_age = 18
    max_age = 75

    @factory.post_generation
    def conditions(self, create, extracted, **kwargs):
        if create and extracted:
            self.conditions.set(extracted)


class PatientFactory(DjangoModelFactory):
    class Meta:
        model = Patient

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = datetime.date(1985, 6, 15)
    phone = factory.Sequence(lambda n: f"+9725{n:08d}")
    email = factory.Sequence(lambda n: f"patient{n}@example.org")
    primary_condition = factory.SubFactory(ConditionFactory)


class ClinicalFactFactory(DjangoModelFactory):
    """An eGFR of 90 measured ten days ago, unless told otherwise."""

    class Meta:
        model = ClinicalFact

    patient = factory.SubFactory(PatientFactory)
    kind = "egfr"
    value_number = 90
    observed_on = factory.LazyFunction(lambda: datetime.date.today() - datetime.timedelta(10))
    source = FactSource.DOCUMENT


class EligibilityCriterionFactory(DjangoModelFactory):
    """An exclusion of eGFR below 30 on a trial, unless told otherwise."""

    class Meta:
        model = EligibilityCriterion

    trial = factory.SubFactory(TrialFactory)
    role = "exclusion"
    kind = "threshold"
    params = factory.LazyFunction(lambda: {"fact": "egfr", "op": "<", "value": 30})
    source_text = "eGFR < 30 mL/min/1.73 m²."


class PriorTreatmentLineFactory(DjangoModelFactory):
    class Meta:
        model = PriorTreatmentLine
        skip_postgeneration_save = True

    patient = factory.SubFactory(PatientFactory)
    line_number = factory.Sequence(lambda n: n + 1)
    start_date = datetime.date(2020, 1, 1)
    end_date = datetime.date(2020, 12, 31)
    reason_stopped = ReasonStopped.INADEQUATE_RESPONSE

    @factory.post_generation
    def therapies(self, create, extracted, **kwargs):
        if create:
            self.therapies.set(extracted if extracted is not None else [TherapyFactory()])


class ReferralFactory(DjangoModelFactory):
    class Meta:
        model = Referral

    patient = factory.SubFactory(PatientFactory)
    source = Source.PHONE
    stage = Stage.NEW


class ReferralEventFactory(DjangoModelFactory):
    class Meta:
        model = ReferralEvent

    referral = factory.SubFactory(ReferralFactory)
    kind = "note"
    body = "Called the patient."


class TaskFactory(DjangoModelFactory):
    class Meta:
        model = "referrals.Task"

    referral = factory.SubFactory(ReferralFactory)
    title = factory.Sequence(lambda n: f"Task {n}")
    due_on = factory.LazyFunction(datetime.date.today)
    assignee = factory.SubFactory(UserFactory, role="Coordinator")


class ScreeningRecordFactory(DjangoModelFactory):
    """A recorded eligibility check against a program, with a passing criteria snapshot."""

    class Meta:
        model = "referrals.ScreeningRecord"

    referral = factory.SubFactory(ReferralFactory)
    program = factory.SubFactory(ProgramFactory)
    candidate_name = factory.LazyAttribute(lambda s: str(s.program))
    verdict = "eligible"
    criteria = factory.LazyFunction(
        lambda: [{"name": "Condition", "result": "pass", "detail": "Diagnosis matches."}]
    )


class LeadDocumentFactory(DjangoModelFactory):
    """A document row; its file name points nowhere unless a test writes the file."""

    class Meta:
        model = "referrals.LeadDocument"

    referral = factory.SubFactory(ReferralFactory)
    kind = "medical_record"
    original_filename = factory.Sequence(lambda n: f"discharge-letter-{n}.pdf")
    file = factory.Sequence(lambda n: f"documents/00/{n:032x}.pdf")
    content_type = "application/pdf"
    size = 2048
    sha256 = "0" * 64
    uploaded_by = factory.SubFactory(UserFactory, role="Coordinator")


# Real files for uploads: the upload reads them whole, so a file's first bytes are not enough.


def pdf_bytes(writer: PdfWriter | None = None) -> bytes:
    """A one-page PDF; `writer` (with its pages) lets a test add to it first."""
    if writer is None:
        writer = PdfWriter()
        writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image_bytes(image_format: str = "PNG", size: tuple[int, int] = (8, 8), **options) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "white").save(out, image_format, **options)
    return out.getvalue()


# --- the hospital side ---------------------------------------------------------------------


def make_liaison(username: str, hospital, programs=()):
    """A hospital liaison: a staff user in the liaison group with a profile for `hospital`."""
    from referrals.models import LiaisonProfile

    user = UserFactory(username=username, role="Hospital liaison")
    profile = LiaisonProfile.objects.create(user=user, hospital=hospital)
    profile.programs.set(programs)
    return user


def referred_lead(program, *, coordinator, **patient_fields):
    """A lead with a failed line and an eligible check, referred to `program` through the
    transition service (so it has its `ReferralSnapshot` and `referred_at`)."""
    from referrals import services
    from referrals.models import ScreeningRecord

    patient = PatientFactory(**patient_fields)
    PriorTreatmentLineFactory(patient=patient, line_number=1)
    referral = ReferralFactory(
        patient=patient, stage=Stage.ELIGIBLE, assigned_to=coordinator, target_program=program
    )
    ScreeningRecord.objects.create(
        referral=referral,
        program=program,
        candidate_name=str(program),
        verdict="eligible",
        criteria=[{"name": "Condition", "result": "pass", "detail": "Diagnosis matches."}],
    )
    return services.referral_transition(
        referral=referral, to_stage=Stage.REFERRED, by=coordinator, expected_version=1
    )
