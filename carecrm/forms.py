"""The base of every CareCRM form: text is cleaned before any field reads it (`carecrm.text`),
and a submitted key that no row could have is refused before it reaches the database."""

import functools

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from carecrm import text


def text_cleaner(field: forms.Field):
    """How a field's submitted text is cleaned: multi-line in a text area, one line otherwise;
    None for fields that hold no typed text (choices, numbers, dates, files) and for passwords,
    which are compared, never shown, and must stay exactly as typed."""
    if not isinstance(field, forms.CharField) or isinstance(field.widget, forms.PasswordInput):
        return None
    return text.multi_line if isinstance(field.widget, forms.Textarea) else text.one_line


def holds_key(field: models.Field, key) -> bool:
    """Whether `key` is a value the key field `field` could hold (a number in its range, for
    an id), so that looking it up cannot fail in the database."""
    try:
        field.run_validators(field.to_python(key))
    except ValidationError:
        return False
    return True


class KeyCheckedMixin:
    """A choice of rows that refuses keys no row could have as an invalid choice.

    Django's model choice fields catch a key that is no number, but not one too large for the
    column: SQLite's driver raises OverflowError on it, a 500.
    """

    def clean(self, value):
        key_field = (
            self.queryset.model._meta.get_field(self.to_field_name)
            if self.to_field_name
            else self.queryset.model._meta.pk
        )
        keys = value if isinstance(value, list | tuple) else [value]
        for key in keys:
            if key not in self.empty_values and not holds_key(key_field, key):
                raise ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": key},
                )
        return super().clean(value)


@functools.cache
def _key_checked(field_class: type) -> type:
    return type(field_class.__name__, (KeyCheckedMixin, field_class), {})


class CleanTextMixin:
    """Cleans the submitted values of every text field (declared, from the model, or added in
    `__init__`) before validation, so length limits, "required", the `clean_*` methods and the
    database all see the text as it reads, and a re-rendered form shows it so. Its choices of
    rows check their keys first (`KeyCheckedMixin`)."""

    def full_clean(self):
        if self.is_bound:
            self.data = self._text_cleaned(self.data)
            for field in self.fields.values():  # the form's own copies of its fields
                if isinstance(field, forms.ModelChoiceField) and not isinstance(
                    field, KeyCheckedMixin
                ):
                    field.__class__ = _key_checked(type(field))
        super().full_clean()

    def _text_cleaned(self, data):
        changed = {}
        for name, field in self.fields.items():
            clean, key = text_cleaner(field), self.add_prefix(name)
            if clean is None or key not in data:
                continue
            values = data.getlist(key) if hasattr(data, "getlist") else [data[key]]
            cleaned = [clean(value) if isinstance(value, str) else value for value in values]
            if cleaned != values:
                changed[key] = cleaned
        if not changed:
            return data
        data = data.copy()  # the request's QueryDict is immutable; its copy is not
        for key, values in changed.items():
            if hasattr(data, "setlist"):
                data.setlist(key, values)
            else:
                data[key] = values[0]
        return data


class CleanTextForm(CleanTextMixin, forms.Form):
    pass


class CleanTextModelForm(CleanTextMixin, forms.ModelForm):
    pass
