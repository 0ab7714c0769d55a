from django.apps import AppConfig


class CareCRMConfig(AppConfig):
    name = "carecrm"
    verbose_name = "CareCRM"

    def ready(self) -> None:
        # Connects the sign-in receiver before any request, so a session started by a login
        # already carries its start and last-seen times; registers the deployment checks.
        from carecrm import checks, security  # noqa: F401
