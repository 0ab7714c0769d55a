"""Patient search: a substring of the name, phone or e-mail, answered from a text index.

`icontains` on four columns can use no B-tree index, so at 100,000 patients every search read
every patient, twice (the page's count and its rows). The same matches now come from an index:

- PostgreSQL: pg_trgm GIN indexes on `UPPER(column)` (migration 0016). They serve the very
  `UPPER(col::text) LIKE UPPER('%word%')` that `icontains` writes, so the query is unchanged.
- SQLite: an FTS5 table with the trigram tokenizer over the four columns, kept in step with the
  patients by triggers (an erased patient's old name leaves the index with the erasure). It is
  made after every `migrate` rather than by a migration, because Django's SQLite schema editor
  alters a table by building a new one and dropping the old, which drops its triggers too.

A trigram index cannot answer a word shorter than three characters; such a word is matched by
`icontains`, as before.

On PostgreSQL, how a list reaches its page of matches depends on how many there are. A rare
word is answered from the matches: read them all, sort them in the list's order, keep a page. A
common one (a first name shared by an eighth of the patients) is answered along the list's own
order: walk its index and keep the rows whose patient matches, which finds a page after a few
hundred rows where sorting the matches reads 12,000 (9 ms rather than 116 at 100,000 leads);
on the patient list itself the words are then the list's own filter, so its count reads the
matches alone rather than joining them against every patient's id.
`search_filter` picks one from the number of matches: the planner's estimate on PostgreSQL, the
FTS index's own count on SQLite, which walks only when kept off the patient column's index
(`+patient_id`): 21 ms → 4 ms for the page of a common word at 100,000 leads. Both walks pay
because a searched list counts only its first 1,000 matches (trials/admin.py): a full count
through the walk's filter would read every row.
"""

import json

from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BigIntegerField, F, Func, Max, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.text import smart_split, unescape_string_literal

SEARCH_COLUMNS = ("first_name", "last_name", "phone", "email")
TRIGRAM = 3
_NO_LIMIT = 2**62
# A list page's rows (the admin lists' `list_per_page` and the queue's page).
PAGE_ROWS = settings.LIST_PAGE_ROWS
# A list walks its order when matches² ≥ WALK_FACTOR × PAGE_ROWS × patients, that is when the
# walk should read a tenth of the rows that sorting the matches reads. The margin is for
# orderings that follow the names (the patient list is sorted by last name, so a surname's
# matches sit together and the walk reads every name before them): at 100,000 patients a word
# must match about 7,000 of them, and every surname of the benchmark's data (3 % each) is
# sorted instead.
WALK_FACTOR = 10

_FTS_TABLE = "referrals_patient_search"
_FTS_MATCH = f"SELECT rowid FROM {_FTS_TABLE} WHERE {_FTS_TABLE} MATCH %s"
_COLUMNS = ", ".join(SEARCH_COLUMNS)
_NEW = ", ".join(f"new.{column}" for column in SEARCH_COLUMNS)
_OLD = ", ".join(f"old.{column}" for column in SEARCH_COLUMNS)
_INSERT_NEW = f"INSERT INTO {_FTS_TABLE}(rowid, {_COLUMNS}) VALUES (new.id, {_NEW});"
_DELETE_OLD = (
    f"INSERT INTO {_FTS_TABLE}({_FTS_TABLE}, rowid, {_COLUMNS}) VALUES ('delete', old.id, {_OLD});"
)
_SQLITE_TRIGGERS = {
    f"{_FTS_TABLE}_insert": f"AFTER INSERT ON referrals_patient BEGIN {_INSERT_NEW} END",
    f"{_FTS_TABLE}_delete": f"AFTER DELETE ON referrals_patient BEGIN {_DELETE_OLD} END",
    f"{_FTS_TABLE}_update": (
        f"AFTER UPDATE OF {_COLUMNS} ON referrals_patient BEGIN {_DELETE_OLD} {_INSERT_NEW} END"
    ),
}


def search_words(term: str) -> list[str]:
    """The words of a search as the admin splits them: a quoted phrase is one word."""
    words = []
    for bit in smart_split(term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        if bit.strip():
            words.append(bit)
    return words


def search_filter(queryset: QuerySet, term: str, *, patient_field: str) -> QuerySet:
    """`queryset` narrowed to the rows whose patient (`patient_field`: "pk" for patients
    themselves, "patient" for leads) has every word of `term` in a name, the phone or e-mail."""
    words = search_words(term)
    if not words:
        return queryset
    model = queryset.model
    if patient_field != "pk":
        model = model._meta.get_field(patient_field).related_model
    patients = model._base_manager.using(queryset.db)
    if connections[queryset.db].vendor == "sqlite":
        indexed = [word for word in words if len(word) >= TRIGRAM]
        short = [word for word in words if len(word) < TRIGRAM]
        matches = _sqlite_matches(patients, indexed, short)
        if indexed and _is_common(patients, _fts_match_count(queryset.db, indexed)):
            # `+column` keeps SQLite off the patient column's index, so it walks the list's order.
            walked = Func(
                F(patient_field), template="+%(expressions)s", output_field=BigIntegerField()
            )
            return queryset.alias(searched_patient=walked).filter(searched_patient__in=matches)
    else:
        contains = _contains_q(words)
        matches = patients.filter(contains).order_by().values("pk")
        if not _is_common(patients, _planned_rows(matches)):
            # A subquery with a LIMIT is never folded, so the planner starts from the matches.
            # Folded, it walks the list's ordering index, assuming the matches are spread evenly
            # through it: a surname on the patient list (sorted by last name) took 178 ms rather
            # than 28 at 100,000 patients.
            matches = matches[:_NO_LIMIT]
        elif patient_field == "pk":
            # Walking the patient list itself: `id IN (matches)` would make PostgreSQL join the
            # matches against every patient's id to count them (16 ms rather than 7 at 100,000).
            return queryset.filter(contains)
    return queryset.filter(**{f"{patient_field}__in": matches})


def _sqlite_matches(patients: QuerySet, indexed: list[str], short: list[str]) -> QuerySet | RawSQL:
    """The matching patients' ids, the FTS index's own rowids when it answers every word
    (`indexed`: the words of three characters or more)."""
    query = _contains_q(short)
    if indexed:
        fts = RawSQL(_FTS_MATCH, [_fts_query(indexed)])
        if not short:
            return fts
        query &= Q(pk__in=fts)
    return patients.filter(query).order_by().values("pk")


def _contains_q(words: list[str]) -> Q:
    # On PostgreSQL the trigram indexes answer these LIKEs.
    query = Q()
    for word in words:
        contains = Q()
        for column in SEARCH_COLUMNS:
            contains |= Q(**{f"{column}__icontains": word})
        query &= contains
    return query


def _is_common(patients: QuerySet, match_count: int) -> bool:
    """Whether walking the list's order should beat sorting the matches (`WALK_FACTOR`).
    Patients are never deleted, so the highest id is about their number."""
    patient_count = patients.aggregate(highest=Max("pk"))["highest"] or 0
    return match_count * match_count >= WALK_FACTOR * PAGE_ROWS * patient_count


def _planned_rows(matches: QuerySet) -> int:
    # PostgreSQL's estimate from the trigram statistics: no match is read.
    return json.loads(matches.explain(format="json"))[0]["Plan"]["Plan Rows"]


def _fts_match_count(database: str, words: list[str]) -> int:
    # Counted in the FTS index alone (2 ms for a word a patient in eight has, at 100,000).
    with connections[database].cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {_FTS_TABLE} WHERE {_FTS_TABLE} MATCH %s",
            [_fts_query(words)],
        )
        return cursor.fetchone()[0]


def _fts_query(words: list[str]) -> str:
    # One FTS5 phrase a word: with the trigram tokenizer it matches the word as a substring of a
    # column.
    return " AND ".join('"' + word.replace('"', '""') + '"' for word in words)


def ensure_sqlite_search_index(connection: BaseDatabaseWrapper) -> bool:
    """Make the FTS5 table and its triggers where they are missing, and fill the table from the
    patients when any trigger was missing. True when it (re)built the index."""
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        if "referrals_patient" not in tables:
            return False
        cursor.execute(
            "SELECT name FROM sqlite_master "
            "WHERE type = 'trigger' AND tbl_name = 'referrals_patient'"
        )
        present = {name for (name,) in cursor.fetchall()}
        if _FTS_TABLE in tables and present >= set(_SQLITE_TRIGGERS):
            return False
        cursor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {_FTS_TABLE} USING fts5({_COLUMNS}, "
            "content='referrals_patient', content_rowid='id', tokenize='trigram')"
        )
        for name, body in _SQLITE_TRIGGERS.items():
            cursor.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
        cursor.execute(f"INSERT INTO {_FTS_TABLE}({_FTS_TABLE}) VALUES ('rebuild')")
    return True
