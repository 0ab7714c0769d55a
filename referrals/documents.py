"""Lead documents: what a file really is, a name safe to show, and where it is kept.

`sniff_document`, `check_content` and `display_filename` are pure (bytes and strings in, no ORM,
no request). The storage keeps files under `settings.PRIVATE_STORAGE_ROOT`, which no URL serves:
it has no `base_url`, so a stored document cannot be linked to, only streamed by the
permission-checked `lead_document` view.
"""

import io
import os
import re
import unicodedata
import uuid

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

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


# -- what is inside: the whole file, not its first bytes -----------------------------------

# Decoding holds the whole image in memory (up to 4 bytes a pixel). A 600 dpi scan of an A4 page
# is 35 million pixels and a 50-megapixel phone's photo 50 million.
MAX_IMAGE_PIXELS = 50_000_000
PILLOW_FORMATS: dict[str, str] = {"image/png": "PNG", "image/jpeg": "JPEG"}
# What a PDF reader may do on its own when the file is opened or touched, by the dictionary key
# or action type (`/S`) that asks for it; any of it anywhere in the file refuses the file.
PDF_ACTIVE_KEYS: dict[str, str] = {
    "/JS": "JavaScript",
    "/JavaScript": "JavaScript",
    "/AA": "actions that run by themselves (when a page opens or a field changes)",
    "/EmbeddedFiles": "embedded files",
    "/EF": "embedded files",
    "/RichMediaContent": "rich media (Flash or video)",
    "/XFA": "an XFA form, which can run scripts",
}
PDF_ACTIVE_ACTIONS: dict[str, str] = {
    "/JavaScript": "JavaScript",
    "/Launch": "an action that starts another program",
    "/GoToE": "embedded files",
    "/ImportData": "an action that imports data from another file",
    "/RichMediaExecute": "rich media (Flash or video)",
}
PDF_ACTIVE_TYPES: dict[str, str] = {
    "/EmbeddedFile": "embedded files",
    "/FileAttachment": "embedded files",
    "/RichMedia": "rich media (Flash or video)",
}


class DocumentRefused(Exception):
    """Why a file's content is refused, in words for the uploader, to follow its name."""


def check_content(data: bytes, content_type: str) -> None:
    """Raise `DocumentRefused` unless `data` reads fully as `content_type` (sniffed from its
    first bytes) with no active content, and as no other accepted type: a file that is both a
    PDF and an image shows one face to the check and another to whoever opens it."""
    if content_type == "application/pdf":
        _check_pdf(data)
    else:
        _check_image(data, content_type)
    for other in SIGNATURES:
        if other != content_type and _readable_as(data, other):
            raise DocumentRefused(
                f"reads both as a {TYPE_NAMES[content_type]} and as a {TYPE_NAMES[other]}; such "
                "a double file can hide content from the check. Save or scan it again as one "
                "kind of file and upload that."
            )


def _readable_as(data: bytes, content_type: str) -> bool:
    if content_type == "application/pdf":
        # Readers find a PDF's header in its first kilobyte, and some repair a file from a PDF
        # appended anywhere; five given bytes turn up by chance in one image of a hundred thousand.
        return b"%PDF-" in data
    try:
        _check_image(data, content_type)
    except DocumentRefused:
        return False
    return True


def _check_image(data: bytes, content_type: str) -> None:
    """Decode the whole image after checking its chunks and its size, with the decoder of its
    sniffed format only, so it is refused unless it is a complete image of that format."""
    expected = PILLOW_FORMATS[content_type]
    too_large = DocumentRefused(
        f"has more than {MAX_IMAGE_PIXELS // 1_000_000} million pixels. Scan it at 300 dpi, or "
        "make the image smaller, and upload it again."
    )
    try:
        with Image.open(io.BytesIO(data), formats=[expected]) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise too_large
            image.verify()  # every chunk's checksum, and the end of the file
        # `verify` leaves the image unusable: decoding needs it opened again.
        with Image.open(io.BytesIO(data), formats=[expected]) as image:
            image.load()
    except DocumentRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise too_large from error
    except Exception as error:  # a hostile file can make a decoder fail in any way
        raise DocumentRefused(
            f"could not be read as a {TYPE_NAMES[content_type]} (it may be damaged or "
            "incomplete). Save or scan it again and upload it again."
        ) from error


def _read_pdf(data: bytes) -> PdfReader:
    """The parsed PDF, decrypted with the empty password if it is encrypted, with its pages."""
    unreadable = DocumentRefused(
        "could not be read as a PDF (it may be damaged, or another kind of file named .pdf). "
        "Save or scan it again as PDF and upload it again."
    )
    try:
        # Not strict: scanners and office suites write PDFs with small faults that readers
        # repair, and so does pypdf (logging what it repaired).
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentRefused(
                "is protected by a password, so its content cannot be checked. Save a copy "
                "without the password (print it to PDF) and upload that."
            )
        if len(reader.pages) == 0:
            raise unreadable
    except DocumentRefused:
        raise
    except Exception as error:  # a hostile file can make the parser fail in any way
        raise unreadable from error
    return reader


def _check_pdf(data: bytes) -> None:
    reader = _read_pdf(data)
    try:
        active = _pdf_active_content(reader)
    except Exception as error:  # an object that cannot be read cannot be checked
        raise DocumentRefused(
            "has parts that could not be read, so its content cannot be checked. Save or scan "
            "it again as PDF and upload it again."
        ) from error
    if active:
        raise DocumentRefused(
            f"contains {active}, which a PDF reader may run or open by itself. Print it to a new "
            "PDF (or scan the paper) and upload that copy."
        )


def _pdf_active_content(reader: PdfReader) -> str | None:
    """What active content any object reachable from the trailer holds, or None. Iterative,
    each indirect object once, so neither deep nesting nor reference cycles can stop it. Reads
    the raw entries (`dict.keys`, `dict.values`): pypdf's own accessors follow references."""
    seen: set[tuple[int, int]] = set()
    pending: list = [reader.trailer]
    while pending:
        node = _resolve(pending.pop(), seen)
        if isinstance(node, DictionaryObject):  # streams too: their dictionary
            for key in dict.keys(node):
                if key in PDF_ACTIVE_KEYS:
                    return PDF_ACTIVE_KEYS[key]
            for key, known in (
                ("/S", PDF_ACTIVE_ACTIONS),
                ("/Type", PDF_ACTIVE_TYPES),
                ("/Subtype", PDF_ACTIVE_TYPES),
            ):
                value = _resolve(dict.get(node, key), seen=None)
                if isinstance(value, str) and value in known:
                    return known[value]
            pending.extend(dict.values(node))
        elif isinstance(node, ArrayObject):
            pending.extend(node)
    return None


def _resolve(node, seen: set[tuple[int, int]] | None):
    """The object a reference points to; None for a reference already walked (`seen`)."""
    if not isinstance(node, IndirectObject):
        return node
    if seen is not None:
        if (node.idnum, node.generation) in seen:
            return None
        seen.add((node.idnum, node.generation))
    return node.get_object()


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
