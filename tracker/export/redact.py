"""Identifiers taken out of free text: the visit event markers people type.

A marker such as "started minoxidil 2025-01-06 for Ann Example" may hold what
identifies the patient. :func:`redact_event` takes out what a de-identified
export must not carry: dates written with digits or a month's name, the
patient's code and recorded name, names after a title (Dr Lee), e-mail
addresses and phone numbers. :func:`redact_names` takes out the name alone,
for a report that carries the code only. Free text can hold other identifiers
that no pattern knows (an address, a relative's name): the app asks people to
type neutral markers only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
#: Digits that are not part of a longer number or a decimal (0.5-1.25 mg is a dose).
_START, _END = r"(?<![\d.])", r"(?![.]?\d)"
#: Absolute dates written in free text: ISO / EXIF (2025-01-06, 2025:01:06,
#: 2025/1/6), day-month-year or month-day-year with digits (06.01.2025, 1/6/25),
#: compact (20250106), month and year (3/2025, 2025-01), and with a month's
#: name (6 Jan 2025, January 6, 2025, Jan 2025).
_DATE_PATTERNS = re.compile(
    "|".join(
        (
            _START + r"\d{4}[-/.:]\d{1,2}[-/.:]\d{1,2}" + _END,
            _START + r"\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}" + _END,
            _START + r"(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])" + _END,
            _START + r"(?:0?[1-9]|1[0-2])[-/.](?:19|20)\d{2}" + _END,
            _START + r"(?:19|20)\d{2}[-/.](?:0?[1-9]|1[0-2])" + _END,
            r"\b\d{1,2}(?:st|nd|rd|th)?\.?\s+" + _MONTHS + r",?\s+\d{2,4}\b",
            r"\b" + _MONTHS + r"\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{2,4}\b",
            r"\b" + _MONTHS + r"\s+\d{4}\b",
            # a day and a month's name without the year (15 July, 3rd of March)
            r"\b\d{1,2}(?:st|nd|rd|th)?\.?\s+(?:of\s+)?" + _MONTHS,
        )
    ),
    re.IGNORECASE,
)
#: A month's name and a day without the year (July 15th). The month must be
#: capitalised: "may 2" in running text is a verb and a number.
_MONTH_DAY = re.compile(
    r"\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b\.?\s+\d{1,2}(?:st|nd|rd|th)?(?![.]?\d)\b"
)
#: A title, then the name after it: one or two capitalised words (Dr Lee, Dr.
#: Élodie Martin), after lower-case particles (Dr de Vries). An all-capital
#: word (Dr PRP session) is an abbreviation, not a name.
_TITLE = re.compile(
    r"\b(?:dr|mr|mrs|ms|mx|miss|prof|professor)\b\.?\s*"
    r"(?P<particles>(?:(?:de|da|di|du|van|von|der|den|la|le|bin|al)\s+)*)(?P<name>[^\W\d_][\w'’-]*)"
    r"(?P<more>\s+[^\W\d_][\w'’-]*)?",
    re.IGNORECASE,
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


def _plain(text: str) -> str:
    """`text` without accents, lower case: how a name is compared."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def _possessive(word: str) -> tuple[str, str]:
    """A word and its possessive ending, if it has one ("Lee's" -> ("Lee", "'s"))."""
    match = re.fullmatch(r"(.+?)(['’]s?)", word)
    return (match.group(1), match.group(2)) if match else (word, "")


def redact_names(text: str, names: Iterable[str]) -> str:
    """`text` with the given names taken out: each name whole, in any case,
    and each part of it (split at spaces and hyphens) of NAME_PART_LETTERS
    letters or more where it is written capitalised, as a name is; accents
    may be left off.

    Examples
    --------
    >>> redact_names("follow-up for ANN EXAMPLE; Example, A. asked", ["Ann Example"])
    'follow-up for [name removed]; [name removed], A. asked'
    >>> redact_names("Jose Nunez's call; long hair cut short", ["José Núñez", "Grace Long"])
    "[name removed]'s call; long hair cut short"
    """
    wholes, parts = set(), set()
    for name in names:
        words = name.split()
        if not words:
            continue
        wholes.add(tuple(_plain(w) for w in words))
        parts.update(_plain(p) for w in words for p in w.split("-") if len(p) >= NAME_PART_LETTERS)
    if not wholes:
        return text
    # Words (letters, digits, apostrophes) and what lies between them; a name is
    # looked for along the words, whole names first.
    tokens = re.split(r"([^\w'’]+)", text)
    words = [_possessive(w) for w in tokens[::2]]
    out = list(tokens)
    k = 0
    while k < len(words):
        for whole in sorted(wholes, key=len, reverse=True):
            n = len(whole)
            if tuple(_plain(w) for w, _ in words[k : k + n]) == whole and all(
                tokens[2 * j + 1].isspace() for j in range(k, k + n - 1)
            ):
                out[2 * k : 2 * (k + n) - 1] = [NAME_REMOVED + words[k + n - 1][1]] + [""] * (2 * n - 2)
                k += n
                break
        else:
            word, ending = words[k]
            if _plain(word) in parts and word[:1].isupper():
                out[2 * k] = NAME_REMOVED + ending
            k += 1
    return "".join(out)


def _is_name(word: str) -> bool:
    """Capitalised, and not an all-capital abbreviation (PRP)."""
    return word[:1].isupper() and not (len(word) > 1 and word.isupper())


def _titled(match: re.Match[str]) -> str:
    if not _is_name(match.group("name")):
        return match.group(0)  # "dr appointment", "Dr PRP session": no name follows
    more = match.group("more")
    if more and not _is_name(more.strip()):  # a first and a last name, or a name and a word after it
        return NAME_REMOVED + more
    return NAME_REMOVED


def _phone(match: re.Match[str]) -> str:
    number = match.group(0)
    return PHONE_REMOVED if sum(c.isdigit() for c in number) >= PHONE_DIGITS else number


def redact_event(text: str, patient_code: str, names: Iterable[str] = ()) -> str:
    """An event marker with e-mail addresses, dates, phone numbers, the
    patient's code, the given names and names after a title (Dr, Mrs, ...)
    taken out.

    Examples
    --------
    >>> redact_event("treatment started 2025-01-06 (P-7)", "P-7")
    'treatment started [date removed] ([code removed])'
    >>> redact_event("Ann Example called Dr Lee, 555-123-4567, ann@example.org", "P-7", ["Ann Example"])
    '[name removed] called [name removed], [phone removed], [email removed]'
    >>> redact_event("Augmentin 1000 mg, minoxidil 0.5-1.25 mg, Dr PRP session 2", "P-7")
    'Augmentin 1000 mg, minoxidil 0.5-1.25 mg, Dr PRP session 2'
    >>> redact_event("minoxidil started 15 July, PRP on March 3rd; may 2 weeks", "P-7")
    'minoxidil started [date removed], PRP on [date removed]; may 2 weeks'
    """
    text = _EMAIL.sub(EMAIL_REMOVED, text)
    text = _DATE_PATTERNS.sub(DATE_REMOVED, text)
    text = _MONTH_DAY.sub(DATE_REMOVED, text)
    text = _PHONE.sub(_phone, text)
    text = _TITLE.sub(_titled, text)
    if patient_code:
        text = re.sub(
            r"(?<![\w.-])" + re.escape(patient_code) + r"(?![\w-])",
            CODE_REMOVED,
            text,
            flags=re.IGNORECASE,
        )
    return redact_names(text, names)
