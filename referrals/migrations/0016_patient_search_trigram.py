from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

# Patient search on PostgreSQL: one pg_trgm GIN index per searched column, on the expression that
# `icontains` compares (UPPER(col::text)), so the unchanged LIKE query reads the index. SQLite's
# index is an FTS5 table made after every migrate (referrals/search.py says why).
COLUMNS = ["first_name", "last_name", "phone", "email"]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS patient_{column}_trgm_idx ON referrals_patient "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS patient_{column}_trgm_idx")


class Migration(migrations.Migration):

    dependencies = [
        ("referrals", "0015_performance_indexes"),
    ]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
