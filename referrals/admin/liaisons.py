"""Hospital liaisons: which hospital (and programs) each one answers for."""

from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group
from unfold.decorators import display

from carecrm.forms import CleanTextModelForm
from referrals import roles
from referrals.models import LiaisonProfile
from trials.admin import ModelAdmin


class LiaisonProfileForm(CleanTextModelForm):
    class Meta:
        model = LiaisonProfile
        fields = ["user", "hospital", "programs"]

    def clean(self):
        cleaned = super().clean()
        hospital, programs = cleaned.get("hospital"), cleaned.get("programs")
        if hospital and programs:
            foreign = [str(program) for program in programs if program.hospital_id != hospital.pk]
            if foreign:
                raise forms.ValidationError(
                    f"These programs are not at {hospital}: {', '.join(foreign)}."
                )
        return cleaned


@admin.register(LiaisonProfile)
class LiaisonProfileAdmin(ModelAdmin):
    """Who answers for which hospital. Saving a profile puts the user in the liaison group."""

    form = LiaisonProfileForm
    list_display = ["user", "hospital", "program_list"]
    list_filter = ["hospital"]
    list_select_related = ["user", "hospital"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "hospital__name"]
    autocomplete_fields = ["user"]
    filter_horizontal = ["programs"]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("programs")

    @display(description="Programs")
    def program_list(self, obj: LiaisonProfile) -> str:
        return ", ".join(program.name for program in obj.programs.all()) or "All programs"

    def save_model(self, request, obj: LiaisonProfile, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        obj.user.groups.add(Group.objects.get(name=roles.HOSPITAL_LIAISON))
