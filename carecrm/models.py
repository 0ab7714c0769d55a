from django.db import models


class RateCount(models.Model):
    """How many requests one client made in one fixed window (`carecrm.rate_limit`)."""

    client = models.CharField(max_length=64)  # a SHA-256 of the address: any text, fixed size
    window_number = models.BigIntegerField()  # epoch seconds // the window's length
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "window_number"], name="rate_count_one_per_window"
            )
        ]
        indexes = [models.Index(fields=["window_number"], name="rate_count_window")]

    def __str__(self) -> str:
        return f"{self.count} in window {self.window_number}"
