"""The consent a submitter gives on the public intake form.

The wording is versioned: the lead stores the version and the exact text the submitter saw, in
the language they saw it in. Change the text only together with a new version.
"""

from django.utils.translation import gettext_lazy as _

CONSENT_VERSION = "2026-11-v1"
CONSENT_TEXT = _(
    "I agree that CareCRM's referral service may store the health information in this form, "
    "contact me about it, and share it with hospital programs and clinical trials to check "
    "whether CAR-T therapy may be suitable. I can ask for my data to be corrected or deleted at "
    "any time."
)
