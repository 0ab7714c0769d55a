"""Lead documents: what a file really is, a name safe to show, and where it is kept.

`sniff_document` and `display_filename` are pure (bytes and strings in, no ORM, no request). The
storage keeps files under `settings.PRIVATE_STORAGE_ROOT`, which no URL serves: it has no
`base_url`, so a stored document cannot be linked to, only streamed by the permission-checked
`lead_document` view.
"""

import os
import re
import unicodedata
import uuid

from django.conf import settings
from django.core.files.storage import FileSystemStorage

from carecrm.text import one_line

# What the first bytes of each accepted type are (the browser's content type and the file's
# extension are never trusted), and the extensions a file of that type may be named with.
SIGNATURES: dict[str, bytes] = {
    "application/pdf": b"%PDF-",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
}
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
}
TYPE_NAMES: dict[str, str] = {
    "application/pdf": "PDF",
    "image/png": "PNG image",
    "image/jpeg": "JPEG image",
}
SNIFF_BYTES = max(len(signature) for signature in SIGNATURES.values())
# Room for the multipart boundaries, headers and the other fields of the upload form: a request
# body larger than the document limit plus this is refused before it is parsed.
FORM_OVERHEAD_BYTES = 64 * 1024
MAX_FILENAME_CHARS = 150


def sniff_document(first_bytes: bytes) -> str | None:
    """The content type the file's first bytes prove, or None for anything else."""
    for content_type, signature in SIGNATURES.items():
        if first_bytes.startswith(signature):
            return content_type
    return None


def name_matches_type(filename: str, content_type: str) -> bool:
    return os.path.splitext(filename)[1].lower() in EXTENSIONS.get(content_type, ())


def display_filename(name: str) -> str:
    """The uploader's file name, safe to show and to offer as a download name.

    Keeps the last path component only; cleans it as one-line text (`carecrm.text`: no control,
    bidi or invisible characters, since a right-to-left override can disguise "cod.exe" as
    "exe.doc"; whitespace folded); shortens long names keeping the extension. Hebrew, Arabic and
    Cyrillic letters stay as they are.
    """
    name = unicodedata.normalize("NFC", re.split(r"[\\/]", name or "")[-1])
    name = one_line(name).strip(" .")
    stem, extension = os.path.splitext(name)
    if len(name) > MAX_FILENAME_CHARS:
        extension = extension[:10]
        name = stem[: MAX_FILENAME_CHARS - len(extension)].rstrip() + extension
    return name or "document"


def describe_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


def document_upload_to(instance, filename: str) -> str:
    """A random path: never the uploader's file name, nothing guessable, nothing identifying."""
    key = uuid.uuid4().hex
    extension = EXTENSIONS.get(getattr(instance, "content_type", ""), ("",))[0]
    return f"documents/{key[:2]}/{key}{extension}"


class PrivateStorage(FileSystemStorage):
    """Files under `settings.PRIVATE_STORAGE_ROOT` (read at every use), with no URL at all.

    `FileSystemStorage` falls back to MEDIA_URL when `base_url` is None; here it stays None, so
    `url()` raises instead of producing a link. Files are readable by the server's user only.
    """

    def __init__(self) -> None:
        super().__init__(file_permissions_mode=0o600, directory_permissions_mode=0o700)

    @property
    def base_location(self):
        return settings.PRIVATE_STORAGE_ROOT

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    @property
    def base_url(self):
        return None


_private_storage = PrivateStorage()


def private_storage() -> PrivateStorage:
    """The storage of `LeadDocument.file` (a callable, so migrations do not record a path)."""
    return _private_storage
