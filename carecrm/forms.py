"""The base of every CareCRM form: text is cleaned before any field reads it (`carecrm.text`)."""

from django import forms

from carecrm import text


def text_cleaner(field: forms.Field):
    """How a field's submitted text is cleaned: multi-line in a text area, one line otherwise;
    None for fields that hold no typed text (choices, numbers, dates, files) and for passwords,
    which are compared, never shown, and must stay exactly as typed."""
    if not isinstance(field, forms.CharField) or isinstance(field.widget, forms.PasswordInput):
        return None
    return text.multi_line if isinstance(field.widget, forms.Textarea) else text.one_line


class CleanTextMixin:
    """Cleans the submitted values of every text field (declared, from the model, or added in
    `__init__`) before validation, so length limits, "required", the `clean_*` methods and the
    database all see the text as it reads, and a re-rendered form shows it so."""

    def full_clean(self):
        if self.is_bound:
            self.data = self._text_cleaned(self.data)
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
