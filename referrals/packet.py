"""The referral packet a hospital program needs: what goes in it, and its PDF.

`required_documents` is pure (names and documents in, matches out). `render_html` is the
print-ready page, and `render_pdf` turns the same HTML into a PDF with WeasyPrint, which lays
out Hebrew and Arabic right to left through Pango's bidi support (the page sets each name's
direction with `dir`).
"""

import re
from dataclasses import dataclass, field

from django.http import HttpRequest
from django.template.loader import render_to_string

from carecrm.text import visible
from referrals.models import LeadDocument
from referrals.vocabulary import DocumentKind

# Generated packets are kept with the lead's documents; they never satisfy a requirement.
PACKET_FILENAME_PREFIX = "referral-packet-lead-"

# Which kind of document satisfies a program's requirement, read from the requirement's words
# (programs list their documents as free text, one per line).
KIND_PATTERNS: dict[str, re.Pattern] = {
    DocumentKind.CONSENT_FORM: re.compile(r"\bconsent", re.I),
    DocumentKind.MEDICAL_RECORD: re.compile(
        r"\b(medical records?|discharge|summary|summaries|clinic(al)? (letter|notes?)|"
        r"history|records)\b",
        re.I,
    ),
    DocumentKind.LAB_RESULT: re.compile(
        r"\b(labs?|laboratory|blood|serology|antibod\w*|complement|urin\w*|cbc|biochem\w*|"
        r"creatinine|proteinuria)\b",
        re.I,
    ),
    DocumentKind.IMAGING_REPORT: re.compile(
        r"\b(imaging|mri|ct|pet|x-?ray|scan|echo\w*|ultrasound|radiolog\w*)\b", re.I
    ),
    DocumentKind.REFERRAL_LETTER: re.compile(r"\b(referral letter|letter of referral)\b", re.I),
}


@dataclass
class RequiredDocument:
    name: str
    attached: list[LeadDocument] = field(default_factory=list)

    @property
    def is_attached(self) -> bool:
        return bool(self.attached)


def required_documents(
    names: list[str], documents: list[LeadDocument]
) -> tuple[list[RequiredDocument], list[LeadDocument]]:
    """Each required document with the lead's documents that satisfy it, and the others.

    A document satisfies a requirement when the requirement's words name its kind (a "consent"
    line takes a consent form, "recent labs" a lab result…) or when its file name contains the
    requirement's text. Erased documents and earlier packets satisfy nothing.
    """
    usable = [
        d
        for d in documents
        if not d.is_erased and not d.original_filename.startswith(PACKET_FILENAME_PREFIX)
    ]
    matched: list[RequiredDocument] = []
    used: set[int] = set()
    for name in names:
        kinds = {kind.value for kind, pattern in KIND_PATTERNS.items() if pattern.search(name)}
        wanted = name.casefold()
        attached = [
            d
            for d in usable
            if str(d.kind) in kinds or wanted in d.original_filename.casefold().replace("_", " ")
        ]
        used.update(d.pk for d in attached)
        matched.append(RequiredDocument(name=name, attached=attached))
    return matched, [d for d in usable if d.pk not in used]


def render_html(context: dict, request: HttpRequest | None = None) -> str:
    """The packet's page. It leaves CareCRM, so it carries no control, bidi or invisible
    character, whatever was stored before the forms cleaned text (in a PDF they print as empty
    boxes; a bidi override would show a name reversed)."""
    return visible(render_to_string("referrals/packet.html", context, request))


def render_pdf(context: dict) -> bytes:
    """The packet as a PDF: the print-ready page without its toolbar."""
    from weasyprint import HTML  # loads Pango; only the packet needs it

    return HTML(string=render_html({**context, "for_pdf": True})).write_pdf()
