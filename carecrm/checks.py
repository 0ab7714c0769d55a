"""Deployment checks of our own, run by `manage.py check --deploy`."""

from django.conf import settings
from django.core.checks import Error, Tags, register

PER_PROCESS_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}


@register(Tags.caches, deploy=True)
def check_shared_cache(app_configs, **kwargs) -> list[Error]:
    """The "shared" cache must be one store for every server process and the task worker.

    The dashboard's figures and the coordinators' workload snapshot live in it: in a
    per-process cache each gunicorn worker and the task worker would keep their own.
    """
    backend = settings.CACHES.get("shared", {}).get("BACKEND", "")
    if backend in PER_PROCESS_CACHES or not backend:
        return [
            Error(
                f'The "shared" cache is {backend or "missing"}, which is not shared between '
                "server processes: the dashboard's figures and the workload snapshot the task "
                "worker keeps would not reach the server processes.",
                hint="Leave CACHES as settings.py builds them: Redis with REDIS_URL, else the "
                "database cache table.",
                id="carecrm.E001",
            )
        ]
    return []
