"""The hospital liaison's pages, inside the staff site at /admin/hospital/."""

from django.urls import path

from referrals.views import hospital

app_name = "hospital"

urlpatterns = [
    path("referrals/", hospital.hospital_referrals, name="referrals"),
    path("referrals/<int:pk>/", hospital.hospital_referral, name="referral"),
    path("referrals/<int:pk>/receipt/", hospital.hospital_receipt, name="receipt"),
    path(
        "referrals/<int:pk>/documents/request/",
        hospital.hospital_request_documents,
        name="request_documents",
    ),
    path(
        "referrals/<int:pk>/documents/<int:document_pk>/",
        hospital.hospital_document,
        name="document",
    ),
    path("referrals/<int:pk>/accept/", hospital.hospital_accept, name="accept"),
    path("referrals/<int:pk>/decline/", hospital.hospital_decline, name="decline"),
    path("referrals/<int:pk>/dates/", hospital.hospital_dates, name="dates"),
    path("referrals/<int:pk>/treated/", hospital.hospital_treated, name="treated"),
]
