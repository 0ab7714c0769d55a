"""System checks: lead documents must never sit where a URL could serve them."""

from pathlib import Path

from django.conf import settings
from django.core import checks


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@checks.register(checks.Tags.security)
def private_storage_is_not_public(app_configs, **kwargs) -> list[checks.CheckMessage]:
    private = Path(settings.PRIVATE_STORAGE_ROOT).resolve()
    static_dirs = [d[1] if isinstance(d, (list, tuple)) else d for d in settings.STATICFILES_DIRS]
    public = [settings.STATIC_ROOT, settings.MEDIA_ROOT, *static_dirs]
    return [
        checks.Error(
            f"PRIVATE_STORAGE_ROOT ({private}) is inside {folder}, which is served publicly.",
            hint="Keep lead documents outside STATIC_ROOT, MEDIA_ROOT and STATICFILES_DIRS.",
            id="referrals.E001",
        )
        for folder in (Path(f).resolve() for f in public if f)
        if _inside(private, folder)
    ]
