"""How leads come in, by the public form or the referral import: who gets a new lead, which
leads may be the same person, and the import's jobs and rows."""

import datetime
import heapq

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, User
from django.core.cache import caches
from django.db.models import Count, OuterRef, Q, QuerySet
from django.db.models.functions import Lower

from referrals.models import ImportJob, ImportJobRow, Patient, Referral
from referrals.selectors.common import _open_leads_of, coordinators
from referrals.vocabulary import OPEN_STAGES

_COORDINATOR_LOAD_KEY = "intake:coordinator-loads"


def _coordinator_loads() -> dict[int, int]:
    """Open leads per coordinator (active at the snapshot), by coordinator id.

    Counting every coordinator's open leads reads the index entries of all open leads (24,000
    at 100,000 leads): a third of a public submission's cost. So the counts are kept in the
    shared cache for COORDINATOR_LOAD_SECONDS, with the id of the newest lead they include,
    and each call adds the open leads created since (a few rows, read by primary key): new
    leads count at once; a lead closed or reassigned counts from the next snapshot on.
    0 takes a fresh snapshot for every call.
    """
    seconds = settings.COORDINATOR_LOAD_SECONDS
    store = caches["shared"]
    snapshot = store.get(_COORDINATOR_LOAD_KEY) if seconds else None
    if snapshot is None:
        newest = Referral.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        counts = coordinators().annotate(
            open_leads=_open_leads_of(OuterRef("pk"), Q(pk__lte=newest))
        )
        snapshot = {"newest": newest, "loads": dict(counts.values_list("pk", "open_leads"))}
        if seconds:
            store.set(_COORDINATOR_LOAD_KEY, snapshot, seconds)
    loads = snapshot["loads"]
    since = (
        Referral.objects.filter(pk__gt=snapshot["newest"], stage__in=OPEN_STAGES)
        .filter(assigned_to__in=list(loads))
        .order_by()
        .values_list("assigned_to")
        .annotate(n=Count("pk"))
    )
    for coordinator_id, n in since:
        loads[coordinator_id] += n
    return loads


def coordinator_with_fewest_open_leads() -> User | None:
    """The active coordinator carrying the fewest open leads (ties: the longest-standing)."""
    loads = _coordinator_loads()
    for coordinator_id in sorted(loads, key=lambda pk: (loads[pk], pk)):
        # Deactivated since the snapshot: the next one in line.
        chosen = coordinators().filter(pk=coordinator_id).first()
        if chosen is not None:
            return chosen
    return None


def coordinators_for_new_leads(count: int) -> list[User | None]:
    """A coordinator for each of `count` new leads (an import): each lead goes to the active
    coordinator with the fewest open leads, counting the leads given out before it, so the
    file is spread as `coordinator_with_fewest_open_leads` would spread them one by one."""
    loads = _coordinator_loads()
    active = {user.pk: user for user in coordinators().filter(pk__in=list(loads))}
    waiting = [(loads[pk], pk) for pk in active]
    heapq.heapify(waiting)
    chosen: list[User | None] = []
    for _ in range(count):
        if not waiting:
            chosen.append(None)
            continue
        load, pk = heapq.heappop(waiting)
        chosen.append(active[pk])
        heapq.heappush(waiting, (load + 1, pk))
    return chosen


def same_person_keys(
    *,
    phone: str,
    email: str,
    first_name: str,
    last_name: str,
    date_of_birth: datetime.date | None,
) -> frozenset[tuple]:
    """What makes two leads possibly the same person: the same phone, the same e-mail in any
    case, or the same name (any case) and date of birth: the one rule for the public form and
    the import, against CareCRM and within a file."""
    keys: set[tuple] = set()
    if phone:
        keys.add(("phone", phone))
    if email:
        keys.add(("email", email.lower()))
    if date_of_birth:
        keys.add(("born", date_of_birth, first_name.lower(), last_name.lower()))
    return frozenset(keys)


def possible_duplicates(
    *,
    phone: str,
    email: str,
    first_name: str,
    last_name: str,
    date_of_birth: datetime.date | None,
) -> list[int]:
    """Ids of the leads (not merged away) whose patient may be the same person
    (`same_person_keys`), newest first."""
    person = same_person_keys(
        phone=phone,
        email=email,
        first_name=first_name,
        last_name=last_name,
        date_of_birth=date_of_birth,
    )
    return possible_duplicates_of_many([person])[0]


def possible_duplicates_of_many(
    people: list[frozenset[tuple]], limit: int | None = None
) -> list[list[int]]:
    """For each person (their `same_person_keys`), the ids of the leads that may be theirs,
    newest first and at most `limit` of them: one query.

    The query reads candidates through indexes (phone; lower-cased e-mail; date of birth) as
    plain values, and the keys decide; so an intake costs the same against 100,000 patients as
    against 1,000, and an import's batch of 500 rows one query, not 500.
    """
    wanted = set().union(*people)
    if not wanted:
        return [[] for _ in people]
    phones = [key[1] for key in wanted if key[0] == "phone"]
    emails = [key[1] for key in wanted if key[0] == "email"]
    # Names are compared here, not in SQL: SQLite lower-cases ASCII letters only.
    births = [key[1] for key in wanted if key[0] == "born"]
    candidates = Patient.objects.annotate(email_lower=Lower("email")).filter(
        Q(phone__in=phones) | Q(email_lower__in=emails) | Q(date_of_birth__in=births)
    )
    leads = (
        Referral.objects.filter(patient__in=candidates.values("pk"), merged_into__isnull=True)
        .order_by("-created_at", "-pk")
        .values_list(
            "pk",
            "patient__phone",
            "patient__email",
            "patient__first_name",
            "patient__last_name",
            "patient__date_of_birth",
        )
    )
    order: dict[int, int] = {}  # lead id → its place, newest first
    leads_of_key: dict[tuple, list[int]] = {}
    for place, (pk, phone, email, first_name, last_name, born) in enumerate(leads):
        order[pk] = place
        for key in same_person_keys(
            phone=phone,
            email=email,
            first_name=first_name,
            last_name=last_name,
            date_of_birth=born,
        ):
            leads_of_key.setdefault(key, []).append(pk)
    found = []
    for person in people:
        matches = {pk for key in person for pk in leads_of_key.get(key, [])[:limit]}
        found.append(sorted(matches, key=order.__getitem__)[:limit])
    return found


# The referral import: its jobs and the rows of its preview.
def import_jobs_visible_to(user: AbstractBaseUser) -> QuerySet[ImportJob]:
    """A coordinator's own uploads; everyone's for those who may view all of them (admins)."""
    jobs = ImportJob.objects.defer("content").select_related("created_by")
    if user.has_perm("referrals.view_importjob"):
        return jobs
    return jobs.filter(created_by=user)


IMPORT_ROW_FILTERS = {
    "all": Q(),
    "problems": Q(has_problems=True),
    "flagged": ~Q(duplicate_of=""),
}


def import_job_rows(job: ImportJob, show: str) -> QuerySet[ImportJobRow]:
    """The preview's rows: those with problems first, then in file order."""
    return job.rows.filter(IMPORT_ROW_FILTERS[show]).order_by("-has_problems", "number")
