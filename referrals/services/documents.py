"""Documents received for a lead: the upload's checks and the file in the private storage."""

import hashlib

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from referrals import documents
from referrals.models import LeadDocument, Referral
from referrals.services.common import ReferralError, _event
from referrals.vocabulary import DocumentKind, EventKind


def _accepted_types() -> str:
    names = [documents.TYPE_NAMES[t].split()[0] for t in settings.DOCUMENT_CONTENT_TYPES]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


@transaction.atomic
def document_upload(
    *,
    referral: Referral,
    uploaded_file: UploadedFile,
    kind: str,
    by: AbstractBaseUser | None,
) -> LeadDocument:
    """Keep a consent form or medical record received for the lead, with its timeline event.

    The size is checked before the file is read; the type is sniffed from the first bytes (the
    browser's content type is ignored) and must agree with the file's extension, so an ".exe" or
    an HTML page renamed ".pdf" is refused. Then the whole file must read as that type and no
    other, a PDF without active content (`documents.check_content`). The file goes to the private
    storage under a random name; if anything fails after that, the file is removed again.
    """
    if kind not in DocumentKind.values:
        raise ReferralError("Choose what kind of document this is.")
    filename = documents.display_filename(uploaded_file.name or "")
    limit = settings.DOCUMENT_MAX_BYTES
    if uploaded_file.size > limit:
        raise ReferralError(
            f"{filename} is {documents.describe_size(uploaded_file.size)}; "
            f"documents can be at most {documents.describe_size(limit)}."
        )
    if not uploaded_file.size:
        raise ReferralError(f"{filename} is empty.")
    uploaded_file.seek(0)
    content_type = documents.sniff_document(uploaded_file.read(documents.SNIFF_BYTES))
    if content_type not in settings.DOCUMENT_CONTENT_TYPES:
        raise ReferralError(
            f"{filename} is not a {_accepted_types()} file (its content was checked, not its "
            "name). Scan or save the document as PDF, PNG or JPEG and upload it again."
        )
    if not documents.name_matches_type(filename, content_type):
        expected = " or ".join(documents.EXTENSIONS[content_type])
        raise ReferralError(
            f"{filename} holds a {documents.TYPE_NAMES[content_type]}, but its name does not end "
            f"in {expected}. Rename it and upload it again."
        )
    uploaded_file.seek(0)
    content = uploaded_file.read()  # at most DOCUMENT_MAX_BYTES (checked above)
    try:
        documents.check_content(content, content_type)
    except documents.DocumentRefused as refused:
        raise ReferralError(f"{filename} {refused}") from refused
    uploaded_file.seek(0)
    document = LeadDocument(
        referral=referral,
        kind=kind,
        original_filename=filename,
        content_type=content_type,
        size=uploaded_file.size,
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=by,
    )
    document.file.save("upload", uploaded_file, save=False)  # the name comes from upload_to
    try:
        document.save()
        _event(
            referral,
            EventKind.DOCUMENT_RECEIVED,
            by,
            f"{document.get_kind_display()}: {filename} ({documents.describe_size(document.size)})",
        )
    except BaseException:
        document.file.storage.delete(document.file.name)
        raise
    return document
