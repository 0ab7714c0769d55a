"""What the coordinator pages' forms share: the select they draw, the date input, and the
lead's version that refuses a stale save."""

from django import forms
from unfold.widgets import (
    UnfoldAdminSelectWidget,
)

from carecrm.forms import CleanTextForm

DATE_INPUT = {"type": "date"}


class SelectWidget(UnfoldAdminSelectWidget):
    """Unfold's select with its options written in the select's own template.

    Django renders each option through a template include, and its attributes through another:
    0.1 ms an option, a quarter of the lead page's time with its 150 options (therapies,
    coordinators, stages).
    """

    template_name = "carecrm/widgets/select.html"


class VersionedForm(CleanTextForm):
    """Carries the lead's version as loaded, so a stale save is refused, not lost."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
