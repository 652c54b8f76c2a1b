"""Identifiers taken out of free text: the visit event markers people type.

A marker such as "started minoxidil 2025-01-06 for Ann Example" may hold what
identifies the patient. :func:`redact_event` takes out what a de-identified
export must not carry: absolute dates, the patient's code and recorded name,
names after a title (Dr Lee), e-mail addresses and phone numbers. :func:`redact_names` takes out the name
alone, for a report that carries the code only. Free text can hold other
identifiers that no pattern knows (an address, a relative's name): the app
asks people to type neutral markers only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_MONTHS = (
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
)
#: Absolute dates written in free text: ISO / EXIF (2025-01-06, 2025:01:06,
#: 2025/1/6), day-month-year or month-day-year with digits (06.01.2025, 1/6/25),
#: compact (20250106), and with a month name (6 Jan 2025, January 6, 2025, Jan 2025).
_DATE_PATTERNS = re.compile(
    "|".join(
        (
            r"\b\d{4}[-/.:]\d{1,2}[-/.:]\d{1,2}\b",
            r"\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b",
            r"\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b",
            r"\b\d{1,2}(?:st|nd|rd|th)?\.?\s+" + _MONTHS + r",?\s+\d{2,4}\b",
            r"\b" + _MONTHS + r"\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{2,4}\b",
            r"\b" + _MONTHS + r"\s+\d{4}\b",
        )
    ),
    re.IGNORECASE,
)
#: A title and the capitalised name after it (Dr Jones, Mrs. Ann Lee): anyone's
#: name, not only the patient's.
_TITLED_NAME = re.compile(
    r"\b(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof|Professor|Doctor|Nurse)\.?\s+[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
#: A phone number: digits with spaces, dots, dashes or brackets between them,
#: at least PHONE_DIGITS digits in all (a dose such as "2 x 1.5 ml" has far fewer).
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d\s().-]*\d(?![\w.])")
PHONE_DIGITS = 7
#: Parts of a name shorter than this are initials: left in (they rarely
#: identify, and would take every "a" and "J." out of the text).
NAME_PART_LETTERS = 2

DATE_REMOVED = "[date removed]"
CODE_REMOVED = "[code removed]"
NAME_REMOVED = "[name removed]"
EMAIL_REMOVED = "[email removed]"
PHONE_REMOVED = "[phone removed]"


def _name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """Each name whole and each of its parts of NAME_PART_LETTERS letters or
    more, as whole words, longest first (so a whole name goes as one)."""
    words: set[str] = set()
    for name in names:
        if not name or not name.strip():
            continue
        words.add(" ".join(name.split()))
        words.update(re.findall(r"[^\W\d_]{%d,}" % NAME_PART_LETTERS, name))
    if not words:
        return None
    alternatives = "|".join(
        r"\s+".join(re.escape(w) for w in word.split()) for word in sorted(words, key=len, reverse=True)
    )
    # Whole words, and not parts of an e-mail address (ann.example@...), which
    # an export either keeps whole or takes out whole.
    return re.compile(r"(?<![\w.@])(?:" + alternatives + r")(?![\w@]|\.\w)", re.IGNORECASE)


def redact_names(text: str, names: Iterable[str]) -> str:
    """`text` with the given names, and each part of them, taken out.

    Examples
    --------
    >>> redact_names("follow-up for Ann Example; Example, A. asked", ["Ann Example"])
    'follow-up for [name removed]; [name removed], A. asked'
    """
    pattern = _name_pattern(names)
    return text if pattern is None else pattern.sub(NAME_REMOVED, text)


def _phone(match: re.Match[str]) -> str:
    number = match.group(0)
    return PHONE_REMOVED if sum(c.isdigit() for c in number) >= PHONE_DIGITS else number


def redact_event(text: str, patient_code: str, names: Iterable[str] = ()) -> str:
    """An event marker with e-mail addresses, absolute dates, phone numbers,
    the patient's code, the given names and names after a title (Dr, Mrs, ...)
    taken out.

    Examples
    --------
    >>> redact_event("treatment started 2025-01-06 (P-7)", "P-7")
    'treatment started [date removed] ([code removed])'
    >>> redact_event("Ann Example called Dr Lee, 555-123-4567, ann@example.org", "P-7", ["Ann Example"])
    '[name removed] called [name removed], [phone removed], [email removed]'
    """
    text = _EMAIL.sub(EMAIL_REMOVED, text)
    text = _TITLED_NAME.sub(NAME_REMOVED, text)
    text = _DATE_PATTERNS.sub(DATE_REMOVED, text)
    text = _PHONE.sub(_phone, text)
    if patient_code:
        text = re.sub(
            r"(?<![\w.-])" + re.escape(patient_code) + r"(?![\w-])",
            CODE_REMOVED,
            text,
            flags=re.IGNORECASE,
        )
    return redact_names(text, names)
