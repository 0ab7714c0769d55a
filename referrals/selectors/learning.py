"""What screening failures teach, per program and trial: how often the leads we found eligible
pass the hospital's own screening, why hospitals decline, which of our overridden criteria they
then declined, and which criteria fail most in our own screening."""

from collections import Counter, defaultdict
from dataclasses import dataclass

from django.db.models import Q

from referrals.models import ReferralSnapshot, ScreeningRecord
from referrals.selectors.dashboard import Period
from referrals.vocabulary import CloseReason, HospitalDeclineReason, HospitalSide
from trials.models import Program, Trial

TOP = 3  # reasons and criteria shown per candidate


@dataclass(frozen=True)
class CandidateLearning:
    name: str
    referred: int  # referred in the period, with the eligible check that referral needs
    accepted: int  # of those, the hospital said yes
    declined: int  # of those, the hospital said no
    decline_reasons: tuple[tuple[str, int], ...]
    declined_after_override: tuple[tuple[str, int], ...]  # our overridden criteria, then declined
    screen_failures: tuple[tuple[str, int], ...]  # criteria that failed our own screening

    @property
    def pass_rate(self) -> int | None:
        decided = self.accepted + self.declined
        return round(100 * self.accepted / decided) if decided else None


@dataclass(frozen=True)
class ScreeningAccuracy:
    candidates: tuple[CandidateLearning, ...]
    accepted: int
    declined: int

    @property
    def pass_rate(self) -> int | None:
        decided = self.accepted + self.declined
        return round(100 * self.accepted / decided) if decided else None


def dashboard_screening_accuracy(period: Period) -> ScreeningAccuracy:
    """Four queries: the period's referrals (their latest snapshot's criteria), the screen
    failures' checks, and the names of the programs and trials they concern."""
    sent = {}
    snapshots = (
        ReferralSnapshot.objects.filter(taken_at__gte=period.start, taken_at__lt=period.end)
        .order_by("taken_at", "id")
        .values(
            "referral_id",
            "program_id",
            "trial_id",
            "referral__hospital_side",
            "referral__hospital_decision_at",
            "referral__hospital_decline_reason",
            "data__eligibility__criteria",
        )
    )
    for row in snapshots:  # a referral sent again counts once, with its latest packet
        sent[row["referral_id"]] = row
    failures = (
        ScreeningRecord.objects.filter(
            Q(referral__close_reason=CloseReason.SCREEN_FAILED)
            & Q(referral__stage_changed_at__gte=period.start)
            & Q(referral__stage_changed_at__lt=period.end),
            verdict="ineligible",
        )
        .order_by("recorded_at", "id")
        .values("referral_id", "program_id", "trial_id", "criteria")
    )
    latest_failure = {}
    for row in failures:
        latest_failure[(row["referral_id"], row["program_id"], row["trial_id"])] = row

    tallies: dict[tuple, dict] = defaultdict(
        lambda: {
            "referred": 0,
            "accepted": 0,
            "declined": 0,
            "reasons": Counter(),
            "overridden": Counter(),
            "failed": Counter(),
        }
    )
    reasons = dict(HospitalDeclineReason.choices)
    for row in sent.values():
        tally = tallies[(row["program_id"], row["trial_id"])]
        tally["referred"] += 1
        if row["referral__hospital_side"] == HospitalSide.DECLINED:
            tally["declined"] += 1
            reason = row["referral__hospital_decline_reason"]
            tally["reasons"][str(reasons.get(reason, reason or "—"))] += 1
            for criterion in row["data__eligibility__criteria"] or []:
                if criterion.get("overridden"):
                    tally["overridden"][criterion["name"]] += 1
        elif row["referral__hospital_decision_at"] is not None:
            tally["accepted"] += 1
    for row in latest_failure.values():
        tally = tallies[(row["program_id"], row["trial_id"])]
        for criterion in row["criteria"]:
            if criterion.get("result") == "fail":
                tally["failed"][criterion["name"]] += 1

    names = _candidate_names(tallies)
    candidates = sorted(
        (
            CandidateLearning(
                name=names[key],
                referred=tally["referred"],
                accepted=tally["accepted"],
                declined=tally["declined"],
                decline_reasons=tuple(tally["reasons"].most_common(TOP)),
                declined_after_override=tuple(tally["overridden"].most_common(TOP)),
                screen_failures=tuple(tally["failed"].most_common(TOP)),
            )
            for key, tally in tallies.items()
            if key in names
        ),
        key=lambda row: (-row.referred, -sum(n for _, n in row.screen_failures), row.name),
    )
    return ScreeningAccuracy(
        candidates=tuple(candidates),
        accepted=sum(row.accepted for row in candidates),
        declined=sum(row.declined for row in candidates),
    )


def _candidate_names(tallies) -> dict[tuple, str]:
    program_ids = {program for program, _trial in tallies if program}
    trial_ids = {trial for _program, trial in tallies if trial}
    names = {
        (program.pk, None): str(program)
        for program in Program.objects.filter(pk__in=program_ids).select_related("hospital")
    }
    names.update(
        {
            (None, trial.pk): str(trial)
            for trial in Trial.objects.filter(pk__in=trial_ids).only(
                "nct_id", "short_name", "title"
            )
        }
    )
    return names
