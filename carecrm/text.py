"""Text as people typed it, without the characters that only hide, reorder or break it.

Pure functions, the one home of the rule: the forms clean what enters with them
(`carecrm.forms.CleanTextMixin`), the referral import its cells, the uploads their file names,
and the exports what was stored before (or by a path that bypasses the forms).

What is removed, and why it is safe for the names and notes CareCRM holds (Hebrew, Arabic,
Russian, English):

- Control characters (C0, DEL and C1, NUL included). No script writes with them; they come
  from pasted terminals and spreadsheets or from attackers. openpyxl refuses them in a cell
  (one stored `\\x01` made the XLSX export fail for everyone), PostgreSQL refuses NUL, FHIR
  forbids them in strings, and in a PDF they print as empty boxes. Line breaks and tabs among
  them are turned into a space (one-line text) or a newline (multi-line text) instead.
- Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and the direction
  marks (U+200E, U+200F, U+061C). Hebrew and Arabic are right to left by the letters
  themselves; the pages give each name its direction with `dir`. Typed into a name, an override
  shows it reversed or shuffled ("\\u202eLevi" reads "iveL"), so a name can pose as another.
  A direction mark can only misplace punctuation at the edge of a Latin word in Hebrew text.
- Zero-width and other invisible characters: zero-width space, non-joiner and joiner
  (U+200B-U+200D), word joiner and invisible operators (U+2060-U+2064), the byte-order mark
  U+FEFF, the soft hyphen, the Mongolian vowel separator, the Hangul fillers and the tag
  characters (U+E0000-U+E007F). They make "Levi" and "Le\\u200bvi" different names to
  duplicate detection and search while both read the same, carry hidden text (tags), and let a
  blank-looking name through "required". Hebrew, Arabic and Russian spelling uses none of them
  (the non-joiner matters in Persian, and there its loss only joins two letters; the joiner
  builds some emoji, which fall apart into their parts).

Kept: every letter, digit and punctuation mark, and the combining marks: Hebrew niqqud and
cantillation, Arabic harakat and shadda, the Russian stress accent (U+0301), the combining
grapheme joiner Hebrew uses to order points, and the variation selectors of emoji.
"""

import re

# Characters that end a line: the newline conventions, the form feed and vertical tab, the
# information separators Python treats as line ends, NEL, and the Unicode line and paragraph
# separators.
LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_REMOVED = [
    *range(0x00, 0x09),
    *range(0x0E, 0x1C),
    0x7F,
    *(c for c in range(0x80, 0xA0) if c != 0x85),
    # bidi: embeddings and overrides, isolates, direction marks
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x200E,
    0x200F,
    0x061C,
    # invisible
    *range(0x200B, 0x200E),
    *range(0x2060, 0x2065),
    0xFEFF,
    0x00AD,
    0x180E,
    0x115F,
    0x1160,
    0x3164,
    0xFFA0,
    *range(0xE0000, 0xE0080),
]
_VISIBLE = {
    **dict.fromkeys(_REMOVED),
    **{ord(c): "\n" for c in LINE_BREAKS if c != "\r"},
    ord("\x1f"): " ",  # the unit separator separates words
}
_CRLF = re.compile("\r\n?")
_BLANK_LINES = re.compile(r"\n{3,}")


def visible(text: str) -> str:
    """`text` without control, bidi and invisible characters; tabs stay and every line break
    becomes a newline. For whole documents (a page's HTML) whose spacing is their own."""
    return _CRLF.sub("\n", text).translate(_VISIBLE)


def one_line(text: str) -> str:
    """One-line text (a name, a title, a phone number): visible characters only, every run of
    spaces, tabs and line breaks one space, none at either end."""
    if text.isprintable() and "  " not in text and text.strip(" ") == text:
        return text  # most text: nothing to remove (checked at C speed)
    return " ".join(visible(text).split())


def multi_line(text: str) -> str:
    """Multi-line text (notes, messages): each line as `one_line`, lines separated by "\\n",
    at most one blank line in a row, none at either end."""
    lines = "\n".join(one_line(line) for line in visible(text).split("\n"))
    return _BLANK_LINES.sub("\n\n", lines).strip("\n")
