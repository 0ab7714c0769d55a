from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _ensure_search_index(sender, using: str, **kwargs) -> None:
    from referrals.search import ensure_sqlite_search_index

    ensure_sqlite_search_index(connections[using])


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = "Referrals"

    def ready(self) -> None:
        from referrals import checks  # noqa: F401  (registers the system checks)

        post_migrate.connect(_ensure_search_index, sender=self)
