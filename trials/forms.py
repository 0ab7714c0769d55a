from django import forms
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from unfold.widgets import UnfoldAdminFileFieldWidget

from carecrm.forms import CleanTextForm
from trials.ctgov import CtgovError, StudyRecord, parse_text

CTGOV_UPLOAD_MAX_BYTES = 5 * 1024 * 1024
# A page of the registry's list endpoint holds at most 1,000 studies. More (trimmed records fit
# 35,000 in 5 MB) make a preview that takes longer to build than a server worker may run.
CTGOV_UPLOAD_MAX_STUDIES = 1000


class CtgovUploadForm(CleanTextForm):
    """One ClinicalTrials.gov API v2 JSON file; valid only when every record in it is."""

    file = forms.FileField(
        label="ClinicalTrials.gov JSON file",
        help_text=(
            "API v2 JSON: one study, a list of studies, or a page from the list endpoint "
            f'({{"studies": […]}}). At most {filesizeformat(CTGOV_UPLOAD_MAX_BYTES)} and '
            f"{CTGOV_UPLOAD_MAX_STUDIES:,} studies. Nothing is written before you confirm."
        ),
        widget=UnfoldAdminFileFieldWidget(attrs={"accept": ".json,application/json"}),
    )

    records: tuple[StudyRecord, ...] = ()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > CTGOV_UPLOAD_MAX_BYTES:
            raise ValidationError(
                f"{upload.name}: {filesizeformat(upload.size)} is above the "
                f"{filesizeformat(CTGOV_UPLOAD_MAX_BYTES)} limit; import larger files with "
                "`manage.py import_trials`."
            )
        try:
            records = parse_text(upload.read(), source=upload.name)
        except CtgovError as error:
            raise ValidationError(list(error.problems)) from error
        if len(records) > CTGOV_UPLOAD_MAX_STUDIES:
            raise ValidationError(
                f"{upload.name}: {len(records)} studies; the preview takes at most "
                f"{CTGOV_UPLOAD_MAX_STUDIES} at a time. Split the file, or import it with "
                "`manage.py import_trials`."
            )
        self.records = records
        return upload
