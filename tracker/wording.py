"""The wording rules of the design notes, in one place.

The product shows observed change only: it never uses words that claim or
imply that a treatment worked, and wherever a change is shown it carries
:data:`OBSERVED_ONLY`. The tests scan every user-visible string for
:data:`BANNED_WORDS`.
"""

OBSERVED_ONLY = "Observed measurements only. They do not show that any treatment caused a change."

BANNED_WORDS = (
    "improvement",
    "improved",
    "worse",
    "effective",
    "works",
    "success",
    "regrowth achieved",
    "results of treatment",
)
