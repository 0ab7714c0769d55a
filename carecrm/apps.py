from django.apps import AppConfig


class CareCRMConfig(AppConfig):
    name = "carecrm"
    verbose_name = "CareCRM"

    def ready(self) -> None:
        # Connects the sign-in receiver before any request, so a session started by a login
        # already carries its start and last-seen times.
        from carecrm import security  # noqa: F401
