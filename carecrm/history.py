"""django-simple-history's `HistoricalRecords`, with its manager class built once."""

import functools

from simple_history.manager import HistoryManager
from simple_history.models import HistoricalRecords as SimpleHistoricalRecords


class HistoryManagerOnce(HistoryManager):
    """`instance.history` builds its manager's class on every access (`from_queryset`, which
    copies the queryset's methods through `inspect.getmembers`), and every save reads it to
    write the historical row: a third of that row's cost, twice per public submission. The
    class depends on nothing but the queryset class, so it is built once.
    """

    @classmethod
    @functools.cache
    def from_queryset(cls, queryset_class, class_name=None):
        return super().from_queryset(queryset_class, class_name)


class HistoricalRecords(SimpleHistoricalRecords):
    """The audit trail of every audited model: django-simple-history's, with
    `HistoryManagerOnce` as its manager."""

    def __init__(self, *args, history_manager=HistoryManagerOnce, **kwargs) -> None:
        super().__init__(*args, history_manager=history_manager, **kwargs)
