"""Reading one reference file: a JSON list of objects, each value checked against the model
field it will be saved to. Problems are collected, not raised, so one run names every mistake."""

import json
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from trials.models import TRANSLATED_LANGUAGES

# What `ObjectReader._take` returns for a missing or mistyped value, already reported.
_INVALID = object()


class ObjectReader:
    """Reads one JSON object, checking each value against the model field it will be saved to.

    Problems are collected rather than raised, so one run reports every mistake in the files.
    """

    def __init__(
        self,
        *,
        where: str,
        raw: dict[str, Any],
        model: type[models.Model],
        problems: list[str],
    ) -> None:
        self.where = where
        self.raw = raw
        self.model = model
        self.problems = problems
        self.read: set[str] = set()

    def problem(self, field: str, message: str) -> None:
        self.problems.append(f"{self.where}, field {field!r}: {message}")

    def text(self, field: str, *, model_field: models.Field | None = None) -> str:
        value = self._take(field, str, "a string")
        return "" if value is _INVALID else self._clean(field, value, model_field)

    def number(self, field: str) -> int | None:
        value = self._take(field, (int, type(None)), "a whole number or null")
        return None if value is _INVALID else self._clean(field, value)

    def optional_number(self, field: str, *, default: int) -> int:
        if field not in self.raw:
            self.read.add(field)
            return default
        value = self._take(field, int, "a whole number")
        return default if value is _INVALID else self._clean(field, value)

    def mapping(self, field: str) -> dict[str, Any]:
        value = self._take(field, dict, "a JSON object")
        return {} if value is _INVALID else value

    def optional_text(self, field: str, *, model_field: models.Field) -> str:
        if field not in self.raw:
            self.read.add(field)
            return ""
        return self.text(field, model_field=model_field)

    def flag(self, field: str) -> bool:
        value = self._take(field, bool, "true or false")
        return False if value is _INVALID else self._clean(field, value)

    def strings(self, field: str) -> tuple[str, ...]:
        value = self._take(field, list, "a list of strings")
        if value is _INVALID:
            return ()
        if not all(isinstance(item, str) and item.strip() for item in value):
            self.problem(field, f"expected a list of non-empty strings, got {value!r}")
            return ()
        return tuple(value)

    def translations(self, field: str) -> dict[str, str]:
        """Optional names by language code; only the languages the intake form offers."""
        self.read.add(field)
        value = self.raw.get(field, {})
        if not isinstance(value, dict):
            self.problem(field, f"expected an object of language: name, got {value!r}")
            return {}
        for language, name in value.items():
            if language not in TRANSLATED_LANGUAGES:
                self.problem(field, f"unknown language {language!r}")
            elif not isinstance(name, str) or not name.strip():
                self.problem(field, f"the {language!r} name must be a non-empty string")
        return dict(value)

    def joined(self, field: str, separator: str) -> str:
        """A list in the file, stored as one text field (synonyms one per line, codes by comma)."""
        return self._clean(field, separator.join(self.strings(field)))

    def report_unknown_fields(self) -> None:
        # A misspelt key would otherwise be ignored silently and its field left as it was.
        for field in sorted(set(self.raw) - self.read):
            self.problem(field, "unknown field")

    def _take(self, field: str, kind: type | tuple[type, ...], expected: str) -> Any:
        self.read.add(field)
        if field not in self.raw:
            self.problem(field, "missing")
            return _INVALID
        value = self.raw[field]
        # JSON `true` is an int to Python; as an age or a count it is a typo, not 1.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            self.problem(field, f"expected {expected}, got {value!r}")
            return _INVALID
        return value

    def _clean(self, field: str, value: Any, model_field: models.Field | None = None) -> Any:
        # The model field's own checks (choices, max_length, URL, slug, NCT ID, age limit) run
        # here, so a bad file fails before the first write rather than half-way through.
        model_field = model_field or self.model._meta.get_field(field)
        try:
            return model_field.clean(value, None)
        except ValidationError as error:
            self.problem(field, f"{value!r}: {' '.join(error.messages)}")
            return value


def read_file[Row](
    directory: Path,
    file_name: str,
    *,
    model: type[models.Model],
    label: Callable[[dict[str, Any]], Any],
    build: Callable[[ObjectReader], Row],
    problems: list[str],
) -> tuple[Row, ...]:
    try:
        items = json.loads((directory / file_name).read_text(encoding="utf-8"))
    except OSError as error:
        problems.append(f"{file_name}: cannot be read ({error})")
        return ()
    except ValueError as error:
        problems.append(f"{file_name}: not valid JSON ({error})")
        return ()
    if not isinstance(items, list):
        problems.append(f"{file_name}: expected a JSON list of objects")
        return ()
    rows = []
    for index, raw in enumerate(items, start=1):
        where = f"{file_name} item {index}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected an object, got {raw!r}")
            continue
        if isinstance(name := label(raw), str):
            where = f"{where} ({name})"
        reader = ObjectReader(where=where, raw=raw, model=model, problems=problems)
        rows.append(build(reader))
        reader.report_unknown_fields()
    return tuple(rows)


def field_of(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda raw: raw.get(name)


def check_unique(file_name: str, field: str, values: Iterable[str], problems: list[str]) -> None:
    for value, count in Counter(values).items():
        if count > 1:
            problems.append(f"{file_name}, field {field!r}: {value!r} appears {count} times")
