from django.urls import path

from referrals.views import intake

app_name = "intake"

urlpatterns = [
    path("", intake.check_eligibility, name="form"),
    path("thanks/", intake.thanks, name="thanks"),
]
