"""Lead documents: upload with size, type and name checks, private storage, logged downloads."""

import hashlib
import json
import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.checks import run_checks
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.http.multipartparser import MultiPartParser
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL.PngImagePlugin import PngInfo
from pypdf import PdfWriter
from pypdf.actions import JavaScript
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

from referrals import services
from referrals.documents import display_filename, name_matches_type, sniff_document
from referrals.models import AccessAction, AccessLog, EventKind, LeadDocument, ReferralEvent
from tests.factories import (
    LeadDocumentFactory,
    PatientFactory,
    ReferralFactory,
    UserFactory,
    image_bytes,
    pdf_bytes,
)

pytestmark = pytest.mark.django_db

PDF = pdf_bytes()
PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG")
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00This program cannot be run"
HTML = b"<!DOCTYPE html><html><script>fetch('/admin/')</script></html>"


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path) -> Path:
    """Each test stores documents in its own temporary folder, never in the repository."""
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    return settings.PRIVATE_STORAGE_ROOT


@pytest.fixture
def lead(coordinator):
    patient = PatientFactory(first_name="Dana", last_name="Levi")
    return ReferralFactory(patient=patient, assigned_to=coordinator)


@pytest.fixture
def viewer(db):
    """Staff who may read leads but change nothing."""
    user = UserFactory(username="viewer")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="referrals", codename="view_referral")
    )
    return user


def _upload_url(referral) -> str:
    return reverse("referrals:lead_document_upload", args=[referral.pk])


def _download_url(document) -> str:
    return reverse("referrals:lead_document", args=[document.referral_id, document.pk])


def _upload(client, referral, name: str, content: bytes, *, kind="medical_record", **extra):
    # The browser's content type is deliberately wrong: it must never be trusted.
    upload = SimpleUploadedFile(name, content, content_type="application/octet-stream")
    return client.post(_upload_url(referral), {"kind": kind, "file": upload, **extra})


def _stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def _nothing_stored(root: Path, referral) -> bool:
    return (
        not _stored_files(root)
        and not LeadDocument.objects.exists()
        and not referral.events.filter(kind=EventKind.DOCUMENT_RECEIVED).exists()
    )


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _document(referral, content: bytes = PDF, name: str = "discharge.pdf", **fields):
    return services.document_upload(
        referral=referral,
        uploaded_file=SimpleUploadedFile(name, content),
        kind=fields.pop("kind", "medical_record"),
        by=fields.pop("by", None),
    )


# --- the pure parts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_bytes", "content_type"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (EXE, None),
        (HTML, None),
        (b"", None),
        (b"%PD", None),
        (b"GIF89a\x01\x00", None),
        (b" %PDF-1.7", None),
    ],
)
def test_it_sniffs_the_type_from_the_first_bytes(first_bytes, content_type):
    assert sniff_document(first_bytes) == content_type


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("consent.pdf", "consent.pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\dana\\scan 1.jpg", "scan 1.jpg"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("line\nbreak\ttab.pdf", "line break tab.pdf"),
        ("  .hidden.pdf  ", "hidden.pdf"),
        ("מכתב שחרור.pdf", "מכתב שחרור.pdf"),
        ("", "document"),
        ("\x00\x01", "document"),
    ],
)
def test_it_cleans_the_file_name_for_display(name, shown):
    assert display_filename(name) == shown


def test_it_shortens_a_long_file_name_and_keeps_its_extension():
    shown = display_filename("a" * 400 + ".pdf")

    assert len(shown) == 150
    assert shown.endswith("a.pdf")


@pytest.mark.parametrize(
    ("name", "content_type", "matches"),
    [
        ("scan.PDF", "application/pdf", True),
        ("photo.jpeg", "image/jpeg", True),
        ("photo.JPG", "image/jpeg", True),
        ("scan.pdf", "image/png", False),
        ("scan", "application/pdf", False),
        ("scan.pdf.exe", "application/pdf", False),
    ],
)
def test_it_checks_the_extension_against_the_sniffed_type(name, content_type, matches):
    assert name_matches_type(name, content_type) is matches


# --- upload ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("discharge letter.pdf", PDF, "application/pdf"),
        ("hand x-ray.png", PNG, "image/png"),
        ("lab results.JPG", JPEG, "image/jpeg"),
    ],
)
def test_it_stores_a_pdf_png_or_jpeg_in_the_private_folder(
    coordinator_client, coordinator, lead, private_root, settings, name, content, content_type
):
    response = _upload(coordinator_client, lead, name, content)

    assert response.status_code == 302
    document = LeadDocument.objects.get()
    assert (document.referral, document.kind, document.original_filename) == (
        lead,
        "medical_record",
        name,
    )
    assert (document.content_type, document.size, document.uploaded_by) == (
        content_type,
        len(content),
        coordinator,
    )
    assert document.sha256 == hashlib.sha256(content).hexdigest()
    stored = Path(document.file.path).resolve()
    assert stored.is_relative_to(private_root.resolve())
    for public in (settings.STATIC_ROOT, *settings.STATICFILES_DIRS, settings.BASE_DIR / "media"):
        assert not stored.is_relative_to(Path(public).resolve())
    assert stored.read_bytes() == content
    assert Path(name).stem not in str(stored)  # a random name, never the uploader's
    assert stat_mode(stored) == 0o600
    event = lead.events.get(kind=EventKind.DOCUMENT_RECEIVED)
    assert (event.author, event.body.startswith(f"Medical record: {name} (")) == (coordinator, True)


def stat_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def test_it_lists_the_documents_on_the_lead_page(coordinator_client, coordinator, lead):
    coordinator.first_name, coordinator.last_name = "Maya", "Cohen"
    coordinator.save()
    _upload(coordinator_client, lead, "consent.pdf", PDF, kind="consent_form")
    document = LeadDocument.objects.get()

    response = coordinator_client.get(reverse("referrals:lead", args=[lead.pk]))

    table = _testid(response, "documents", "table")
    assert "Consent form" in table
    assert "consent.pdf" in table
    assert f"{len(PDF)}" in table and "bytes" in table
    assert "Maya Cohen" in table
    assert f'href="{_download_url(document)}"' in table
    assert document.file.name not in response.text  # the stored path is never shown
    assert "Document received" in response.text
    assert f'action="{_upload_url(lead)}" enctype="multipart/form-data"' in response.text


def _testid(response, testid: str, tag: str) -> str:
    text = response.content.decode()
    start = text.find(f'data-testid="{testid}"')
    assert start != -1, f"no {testid}"
    return text[text.rfind(f"<{tag}", 0, start) : text.find(f"</{tag}>", start)]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("report.pdf", EXE, "report.pdf is not a PDF, PNG or JPEG file"),
        ("page.pdf", HTML, "page.pdf is not a PDF, PNG or JPEG file"),
        ("notes.txt", b"Patient feels better", "notes.txt is not a PDF, PNG or JPEG file"),
        ("scan.gif", b"GIF89a\x01\x00\x01\x00", "scan.gif is not a PDF, PNG or JPEG file"),
        ("scan.pdf", PNG, "scan.pdf holds a PNG image, but its name does not end in .png"),
        ("scan", PDF, "scan holds a PDF, but its name does not end in .pdf"),
        ("empty.pdf", b"", "The submitted file is empty."),
    ],
)
def test_it_refuses_a_file_that_is_not_what_it_claims_and_stores_nothing(
    coordinator_client, lead, private_root, name, content, message
):
    response = _upload(coordinator_client, lead, name, content)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert _nothing_stored(private_root, lead)


# --- what is inside: the whole file is read, not its first bytes ----------------------------


def _pdf_with(change) -> bytes:
    """A one-page PDF after `change(writer, page)`."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=595, height=842)
    change(writer, page)
    return pdf_bytes(writer)


def _name(value: str) -> NameObject:
    return NameObject(value)


def _open_action_script(writer, page):
    writer.root_object[_name("/OpenAction")] = JavaScript("app.alert('opened')")


def _document_script(writer, page):
    writer.add_open_action(JavaScript("this.print({bUI: false})"))  # the JavaScript name tree


def _page_open_action(writer, page):
    page[_name("/AA")] = DictionaryObject({_name("/O"): JavaScript("app.alert('page')")})


def _launch(writer, page):
    writer.root_object[_name("/OpenAction")] = DictionaryObject(
        {_name("/S"): _name("/Launch"), _name("/F"): TextStringObject("cmd.exe")}
    )


def _attachment(writer, page):
    writer.add_attachment("invoice.exe", b"MZ\x90\x00")


def _rich_media(writer, page):
    annotation = DictionaryObject(
        {_name("/Type"): _name("/Annot"), _name("/Subtype"): _name("/RichMedia")}
    )
    page[_name("/Annots")] = ArrayObject([annotation])


def _xfa_form(writer, page):
    writer.root_object[_name("/AcroForm")] = DictionaryObject(
        {_name("/Fields"): ArrayObject(), _name("/XFA"): TextStringObject("<xdp:xdp/>")}
    )


def _owner_protected(change=None, user_password=""):
    def build(writer, page):
        if change:
            change(writer, page)
        writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")

    return build


def _png_carrying_a_pdf_header() -> bytes:
    text = PngInfo()
    text.add_text("Comment", "%PDF-1.7")  # within the first kilobyte, where readers look
    return image_bytes("PNG", pnginfo=text)


def _jpeg_holding_a_pdf() -> bytes:
    """A JPEG whose first segment, a comment, is a whole PDF: both decode."""
    jpeg, pdf = image_bytes("JPEG"), pdf_bytes()
    comment = b"\xff\xfe" + (len(pdf) + 2).to_bytes(2, "big") + pdf
    return jpeg[:2] + comment + jpeg[2:]


def _truncated_jpeg() -> bytes:
    jpeg = image_bytes("JPEG", size=(64, 64))
    return jpeg[: len(jpeg) // 2]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("letter.pdf", _pdf_with(_open_action_script), "letter.pdf contains JavaScript"),
        ("letter.pdf", _pdf_with(_document_script), "letter.pdf contains JavaScript"),
        (
            "letter.pdf",
            _pdf_with(_page_open_action),
            "letter.pdf contains actions that run by themselves",
        ),
        (
            "letter.pdf",
            _pdf_with(_launch),
            "letter.pdf contains an action that starts another program",
        ),
        ("letter.pdf", _pdf_with(_attachment), "letter.pdf contains embedded files"),
        ("letter.pdf", _pdf_with(_rich_media), "letter.pdf contains rich media"),
        ("letter.pdf", _pdf_with(_xfa_form), "letter.pdf contains an XFA form"),
        # Encrypted for an owner only: anyone can open it, so it is decrypted and checked.
        (
            "letter.pdf",
            _pdf_with(_owner_protected(_open_action_script)),
            "letter.pdf contains JavaScript",
        ),
        (
            "letter.pdf",
            _pdf_with(_owner_protected(user_password="secret")),
            "letter.pdf is protected by a password, so its content cannot be checked",
        ),
        (
            "page.pdf",
            b"%PDF-1.7\n<html><body><script>fetch('/admin/')</script></body></html>",
            "page.pdf could not be read as a PDF",
        ),
        ("half.pdf", PDF[: len(PDF) // 2], "half.pdf could not be read as a PDF"),
        ("scan.png", PNG[:-20], "scan.png could not be read as a PNG image"),
        ("photo.jpg", _truncated_jpeg(), "photo.jpg could not be read as a JPEG image"),
        (
            "scan.png",
            _png_carrying_a_pdf_header(),
            "scan.png reads both as a PNG image and as a PDF",
        ),
        ("scan.png", PNG + PDF, "scan.png reads both as a PNG image and as a PDF"),
        ("photo.jpg", _jpeg_holding_a_pdf(), "photo.jpg reads both as a JPEG image and as a PDF"),
    ],
)
def test_it_refuses_active_content_damaged_files_and_polyglots_and_stores_nothing(
    coordinator_client, lead, private_root, name, content, message
):
    response = _upload(coordinator_client, lead, name, content)

    assert response.status_code == 200
    assert message in response.content.decode()
    [error] = response.context["document_form"].errors["file"]  # shown on the upload form
    assert error.startswith(message)
    assert _nothing_stored(private_root, lead)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("scanned.pdf", image_bytes("PDF")),  # an image in a PDF, as scanners write them
        ("protected.pdf", _pdf_with(_owner_protected())),
        ("photo.jpeg", image_bytes("JPEG", size=(640, 480), quality=70)),
    ],
)
def test_it_stores_a_clean_file_read_whole(coordinator_client, lead, name, content):
    response = _upload(coordinator_client, lead, name, content)

    assert response.status_code == 302
    assert LeadDocument.objects.get().size == len(content)


def test_it_refuses_an_image_with_more_pixels_than_it_decodes(
    coordinator_client, lead, private_root, monkeypatch
):
    monkeypatch.setattr("referrals.documents.MAX_IMAGE_PIXELS", 1_000_000)

    response = _upload(coordinator_client, lead, "wall.png", image_bytes(size=(1001, 1000)))

    assert "wall.png has more than 1 million pixels" in response.content.decode()
    assert _nothing_stored(private_root, lead)


@pytest.mark.parametrize("kind", ["", "passport"])
def test_it_refuses_an_unknown_kind(coordinator_client, lead, private_root, kind):
    response = _upload(coordinator_client, lead, "consent.pdf", PDF, kind=kind)

    assert response.status_code == 200
    assert "Please correct the errors below." in response.content.decode()
    assert _nothing_stored(private_root, lead)


def test_it_refuses_a_file_over_the_limit(coordinator_client, lead, private_root, settings):
    settings.DOCUMENT_MAX_BYTES = 1024

    response = _upload(coordinator_client, lead, "big.pdf", PDF + b"0" * 2000)

    assert response.status_code == 200
    assert "big.pdf is 2 KB; documents can be at most 1 KB." in response.content.decode()
    assert _nothing_stored(private_root, lead)


def test_it_refuses_an_oversized_body_without_parsing_it(
    coordinator_client, lead, private_root, settings, monkeypatch
):
    settings.DOCUMENT_MAX_BYTES = 1024

    def never(self):
        raise AssertionError("the oversized body was parsed")

    monkeypatch.setattr(MultiPartParser, "parse", never)

    response = _upload(coordinator_client, lead, "huge.pdf", PDF + b"0" * 200_000)

    assert response.status_code == 413
    assert "The file is larger than 1 KB; nothing was uploaded." in response.content.decode()
    assert _nothing_stored(private_root, lead)


def test_it_removes_the_stored_file_when_the_upload_fails_afterwards(
    lead, private_root, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("referrals.services.documents._event", broken)

    with pytest.raises(RuntimeError):
        _document(lead)

    assert _nothing_stored(private_root, lead)


def test_it_checks_the_csrf_token_of_an_upload(coordinator, lead, private_root):
    client = Client(enforce_csrf_checks=True)
    client.force_login(coordinator)

    assert _upload(client, lead, "consent.pdf", PDF).status_code == 403
    assert _nothing_stored(private_root, lead)

    client.get(reverse("referrals:lead", args=[lead.pk]))
    token = client.cookies["csrftoken"].value
    response = _upload(client, lead, "consent.pdf", PDF, csrfmiddlewaretoken=token)
    assert response.status_code == 302
    assert LeadDocument.objects.count() == 1


# --- who may upload and download ---------------------------------------------------------


def test_it_sends_anonymous_visitors_to_log_in(client, lead, private_root):
    document = _document(lead)

    for response in (
        _upload(client, lead, "consent.pdf", PDF),
        client.get(_download_url(document)),
    ):
        assert response.status_code == 302
        assert reverse("admin:login") in response["Location"]
    assert LeadDocument.objects.count() == 1
    assert not AccessLog.objects.exists()


def test_it_forbids_staff_without_a_role(client, lead):
    document = _document(lead)
    client.force_login(UserFactory(username="staff-no-role"))

    assert client.get(_download_url(document)).status_code == 403
    assert _upload(client, lead, "consent.pdf", PDF).status_code == 403
    assert LeadDocument.objects.count() == 1
    assert not AccessLog.objects.exists()


def test_it_lets_a_viewer_download_but_not_upload(client, viewer, lead, private_root):
    document = _document(lead)
    client.force_login(viewer)

    page = client.get(reverse("referrals:lead", args=[lead.pk]))
    assert f'action="{_upload_url(lead)}"' not in page.content.decode()
    assert _download_url(document) in page.content.decode()
    assert _upload(client, lead, "other.pdf", PDF).status_code == 403
    assert LeadDocument.objects.count() == 1
    response = client.get(_download_url(document))
    assert response.status_code == 200
    assert _body(response) == PDF


def test_it_downloads_a_document_as_an_attachment_and_logs_it(
    coordinator_client, coordinator, lead
):
    _upload(coordinator_client, lead, "hand x-ray.png", PNG, kind="imaging_report")
    document = LeadDocument.objects.get()

    response = coordinator_client.get(_download_url(document), REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 200
    assert _body(response) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'attachment; filename="hand x-ray.png"'
    assert response["X-Content-Type-Options"] == "nosniff"
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= cache_control
    log = AccessLog.objects.get(action=AccessAction.VIEW_DOCUMENT)
    assert (log.user, log.referral, log.patient, log.ip_address) == (
        coordinator,
        lead,
        lead.patient,
        "10.1.2.3",
    )
    assert log.detail == f"Document #{document.pk} (Imaging report): hand x-ray.png"


def test_it_offers_a_hebrew_file_name_encoded(coordinator_client, lead):
    document = _document(lead, name="מכתב שחרור.pdf")

    response = coordinator_client.get(_download_url(document))

    assert _body(response) == PDF
    assert response["Content-Disposition"].startswith("attachment; filename*=utf-8''")


def test_it_answers_404_for_another_leads_document(coordinator_client, lead):
    other_document = _document(ReferralFactory())

    response = coordinator_client.get(
        reverse("referrals:lead_document", args=[lead.pk, other_document.pk])
    )

    assert response.status_code == 404
    assert not AccessLog.objects.filter(action=AccessAction.VIEW_DOCUMENT).exists()


def test_it_answers_404_for_an_unknown_lead_or_document(coordinator_client, lead):
    document = _document(lead)
    unknown_lead = ReferralFactory.build(pk=999_999)

    for url in (
        reverse("referrals:lead_document", args=[999_999, document.pk]),
        reverse("referrals:lead_document", args=[lead.pk, 999_999]),
    ):
        assert coordinator_client.get(url).status_code == 404
    assert _upload(coordinator_client, unknown_lead, "a.pdf", PDF).status_code == 404
    assert LeadDocument.objects.count() == 1


def test_it_answers_404_when_the_file_is_missing(coordinator_client, lead):
    document = LeadDocumentFactory(referral=lead)  # a row whose file was never written

    assert coordinator_client.get(_download_url(document)).status_code == 404


def test_it_serves_documents_under_no_public_url(coordinator_client, admin_client, lead):
    document = _document(lead)
    name = document.file.name

    for client in (coordinator_client, admin_client):
        for url in (f"/private/{name}", f"/media/{name}", f"/{name}", f"/static/{name}"):
            assert client.get(url).status_code == 404, url
    with pytest.raises(ValueError, match="not accessible via a URL"):
        document.file.url  # noqa: B018


def test_it_refuses_to_start_with_the_private_folder_inside_a_public_one(settings):
    settings.PRIVATE_STORAGE_ROOT = settings.BASE_DIR / "private"  # the default
    assert not [m for m in run_checks() if m.id == "referrals.E001"]

    settings.PRIVATE_STORAGE_ROOT = Path(settings.STATIC_ROOT) / "documents"
    assert [m.id for m in run_checks() if m.id.startswith("referrals.")] == ["referrals.E001"]


# --- the lead page stays flat ------------------------------------------------------------


def _lead_page_queries(client, referral) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("referrals:lead", args=[referral.pk]))
    assert response.status_code == 200
    return len(queries)


def test_it_loads_the_lead_page_in_the_same_queries_for_5_or_50_documents(
    coordinator_client, coordinator, lead
):
    LeadDocumentFactory.create_batch(5, referral=lead, uploaded_by=coordinator)
    with_5 = _lead_page_queries(coordinator_client, lead)
    LeadDocumentFactory.create_batch(45, referral=lead, uploaded_by=UserFactory())

    assert _lead_page_queries(coordinator_client, lead) == with_5


# --- admin -------------------------------------------------------------------------------


def _admin_url(view: str, *args) -> str:
    return reverse(f"admin:referrals_leaddocument_{view}", args=args)


def test_it_shows_admins_the_documents_read_only(client, admin_user, lead):
    document = _document(lead, name="consent.pdf", kind="consent_form")
    client.force_login(admin_user)

    listing = client.get(_admin_url("changelist"))
    assert listing.status_code == 200
    assert "consent.pdf" in listing.content.decode()
    detail = client.get(_admin_url("change", document.pk))
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert document.file.name.encode() not in detail.content
    assert client.get(_admin_url("add")).status_code == 403
    assert client.post(_admin_url("delete", document.pk), {"post": "yes"}).status_code == 403
    assert LeadDocument.objects.count() == 1


def test_it_keeps_the_document_admin_from_coordinators(coordinator_client, lead):
    document = _document(lead)

    assert coordinator_client.get(_admin_url("changelist")).status_code == 403
    assert coordinator_client.get(_admin_url("change", document.pk)).status_code == 403


def _changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(_admin_url("changelist")).status_code == 200
    return len(queries)


def test_it_keeps_the_document_admin_list_flat_from_5_to_50_rows(client, admin_user):
    client.force_login(admin_user)
    LeadDocumentFactory.create_batch(5)
    with_5 = _changelist_queries(client)
    LeadDocumentFactory.create_batch(45)

    assert _changelist_queries(client) == with_5


# --- merge, subject access export and erasure ---------------------------------------------


def test_it_moves_documents_with_a_merged_duplicate(lead):
    duplicate = ReferralFactory()
    document = _document(duplicate)

    services.referral_merge(keep=lead, duplicate=duplicate, by=None)

    document.refresh_from_db()
    assert document.referral == lead


def test_it_lists_documents_in_the_subject_access_export(admin_client, lead):
    _document(lead, name="consent.pdf", kind="consent_form")

    response = admin_client.get(
        reverse("admin:referrals_patient_export_data", args=[lead.patient.pk])
    )

    [exported] = json.loads(response.content)["referrals"][0]["documents"]
    assert (exported["kind"], exported["original_filename"], exported["size"]) == (
        "consent_form",
        "consent.pdf",
        len(PDF),
    )


def test_it_deletes_the_files_when_the_patient_is_erased(
    coordinator_client, lead, private_root, django_capture_on_commit_callbacks
):
    document = _document(lead, name="Dana Levi consent.pdf", kind="consent_form")
    stored = Path(document.file.path)

    with django_capture_on_commit_callbacks(execute=True):
        services.patient_erase(patient=lead.patient, by=None, reason="Patient's request")

    assert not stored.exists()
    assert not _stored_files(private_root)
    document.refresh_from_db()
    assert (document.kind, document.size, document.original_filename) == (
        "consent_form",
        len(PDF),
        "[erased]",
    )
    assert document.is_erased
    assert coordinator_client.get(_download_url(document)).status_code == 404
    page = coordinator_client.get(reverse("referrals:lead", args=[lead.pk])).content.decode()
    assert "Dana Levi consent.pdf" not in page
    assert _download_url(document) not in page
    assert not ReferralEvent.objects.filter(body__contains="Dana Levi consent").exists()
