"""Handing the lead to the hospital: recording where the referral packet was sent."""

from django import forms
from unfold.widgets import (
    UnfoldAdminTextInputWidget,
)

from carecrm.forms import CleanTextForm


class PacketSendForm(CleanTextForm):
    sent_to = forms.CharField(
        label="Sent to",
        max_length=200,
        widget=UnfoldAdminTextInputWidget,
        help_text="The program contact and how: e.g. dr.cohen@sheba.example by secure mail.",
    )
