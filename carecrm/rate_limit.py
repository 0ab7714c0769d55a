"""A fixed-window request counter every server process shares: a row per client and window.

One statement counts a request and returns the count, atomically on SQLite and PostgreSQL
alike (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), so two workers never both see the same
number, and a request costs one query: a cache would take a read and a write, and the database
cache several of each. A client's first request of a window also deletes the rows of windows
that ended, so the table holds about one row per recent client.
"""

import hashlib
import time

from django.db import connection

from carecrm.models import RateCount


def rate_count_add(*, client: str, window_seconds: int) -> int:
    """Count one request from `client` (any text: an address) in the current window; return the
    window's count so far, this request included."""
    window = int(time.time()) // window_seconds
    key = hashlib.sha256(client.encode()).hexdigest()
    table, client_column, window_column, count_column = (
        connection.ops.quote_name(name)
        for name in (RateCount._meta.db_table, "client", "window_number", "count")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({client_column}, {window_column}, {count_column}) "
            f"VALUES (%s, %s, 1) ON CONFLICT ({client_column}, {window_column}) "
            f"DO UPDATE SET {count_column} = {table}.{count_column} + 1 "
            f"RETURNING {count_column}",
            [key, window],
        )
        count = cursor.fetchone()[0]
    if count == 1:
        RateCount.objects.filter(window_number__lt=window).delete()
    return count
