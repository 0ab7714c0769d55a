from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_delete, post_migrate, post_save


def _ensure_search_index(sender, using: str, **kwargs) -> None:
    from referrals.search import ensure_sqlite_search_index

    ensure_sqlite_search_index(connections[using])


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = "Referrals"

    def ready(self) -> None:
        from referrals import checks  # noqa: F401  (registers the system checks)
        from referrals.forms import MENU_VALUES, localized_choices_clear

        post_migrate.connect(_ensure_search_index, sender=self)
        for model in MENU_VALUES:
            post_save.connect(localized_choices_clear, sender=model)
            post_delete.connect(localized_choices_clear, sender=model)
