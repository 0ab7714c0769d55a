"""The staff site's own pages: users and groups in Unfold's look, and the add-on apps' models."""

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from unfold import forms as unfold_forms
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm

from carecrm.forms import CleanTextMixin, CleanTextModelForm
from carecrm.security import user_two_factor_reset

admin.site.unregister(User)
admin.site.unregister(Group)


# Staff names appear on every lead and in the exports; the passwords are left as typed.
class UserChangeForm(CleanTextMixin, unfold_forms.UserChangeForm):
    pass


class UserCreationForm(CleanTextMixin, unfold_forms.UserCreationForm):
    pass


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ["username", "first_name", "last_name", "email", "is_active", "last_login"]
    list_filter = ["is_active", "groups"]
    actions = ["reset_two_factor"]

    @admin.action(
        description="Reset two-factor sign-in (lost phone): remove devices and recovery codes",
        permissions=["change"],
    )
    def reset_two_factor(self, request, queryset) -> None:
        for user in queryset:
            user_two_factor_reset(user=user, by=request.user)
        messages.success(
            request,
            f"Two-factor sign-in reset for {len(queryset)} user(s): each sets up a new device "
            "at their next sign-in.",
        )


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    form = CleanTextModelForm
