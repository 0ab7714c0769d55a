"""`get_<field>_display()` without translating every label: the mixin the models share."""

import functools

from django.db import models
from django.utils.encoding import force_str


class QuickChoiceDisplay:
    """`get_<field>_display()` that translates one label, not all of them.

    Django's own hashes every (value, label) pair of the field's choices on each call, and
    hashing a lazy label translates it: showing a lead's stage cost eleven translations, which
    made a 1,000-row export spend most of its time in gettext. Only the values are hashed here,
    once per field: the labels stay lazy, so each display is still in the current language.
    """

    def _get_FIELD_display(self, field):
        value = getattr(self, field.attname)
        try:
            label = _choice_labels(field).get(value, value)
        except TypeError:  # an unhashable value: Django's way
            return super()._get_FIELD_display(field)
        return force_str(label, strings_only=True)


@functools.cache
def _choice_labels(field: models.Field) -> dict:
    """A field's choices by value; they are fixed in the code (TextChoices)."""
    return dict(field.flatchoices)
