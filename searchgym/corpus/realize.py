"""Turn a template and its slots into a sentence: references, values, lists, articles.

The writer decides *what* a sentence states (its facts) and *how the page's subject is referred
to* (full name, short name or pronoun); this module only renders. Keeping rendering in one
place means the corpus, the simulated search engines and the linter all agree on how a value
is written ("1,204,330", "1993", "3.0 million").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from searchgym.types import Literal

__all__ = [
    "Reference",
    "approximate_number",
    "capitalize_first",
    "decade_phrase",
    "fix_articles",
    "fix_number_agreement",
    "format_value",
    "join_names",
    "possessive",
    "render",
    "starts_with_subject",
]

_PRONOUN_FORMS = {"he": ("he", "his"), "she": ("she", "her"), "it": ("it", "its")}
_SUBJECT_SLOTS = ("s", "t")  # the page's entity, as source ("s") or target ("t") of a fact
_SLOT = re.compile(r"\{(\w+)\}")
_SENTENCE_START = re.compile(r"(^|[.!?] )([a-z])")
# the subject first, or after a short opener without slots ("In later years, {s} ...")
_OPENS_WITH_SUBJECT = re.compile(r"(?:[A-Z][^{}.]*, )?\{(s|t)(_pos)?\}")


@dataclass(frozen=True)
class Reference:
    """How the page's subject may be named: full name, short name, pronoun."""

    name: str
    short: str
    pronoun: str  # "he", "she" or "it"
    description: str = ""  # "the film": a definite description, where the type's wording has one

    def _noun(self, mode: str) -> str:
        if mode == "description" and self.description:
            return self.description
        return self.short if mode == "short" else self.name

    def nominative(self, mode: str) -> str:
        if mode == "pronoun":
            return _PRONOUN_FORMS[self.pronoun][0]
        return self._noun(mode)

    def possessive(self, mode: str) -> str:
        if mode == "pronoun":
            return _PRONOUN_FORMS[self.pronoun][1]
        return possessive(self._noun(mode))


def possessive(name: str) -> str:
    return name + ("'" if name.endswith("s") else "'s")


def format_value(value: Literal) -> str:
    """How a literal is written in prose: thousands separators for big numbers, not for years."""
    if isinstance(value, int) and value >= 10000:
        return f"{value:,}"
    return str(value)


def join_names(names: list[str]) -> str:
    """ "A", "A and B", "A, B and C". Names never contain separators, so the list parses back."""
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def approximate_number(value: int, *, words: bool = False) -> str:
    """A rounded form for prose ("about 3.0 million", "about three million", "about 290,000").

    Never stated as a fact: the exact value is written elsewhere on the page.
    """
    if value >= 1_000_000:
        millions = value / 1_000_000
        if words and round(millions) <= 10 and abs(millions - round(millions)) < 0.25:
            return f"about {_NUMBER_WORDS[round(millions)]} million"
        return f"about {millions:.1f} million"
    if value >= 10_000:
        return f"about {round(value, -4 if value >= 100_000 else -3):,}"
    return f"about {round(value, -2 if value >= 1000 else -1):,}"


def decade_phrase(year: int) -> str:
    """ "the early 1990s" for 1990-1993, "the mid-1990s" for 1994-1996, "the late 1990s" after."""
    decade, offset = year - year % 10, year % 10
    part = "early" if offset <= 3 else "mid-" if offset <= 6 else "late"
    return f"the {part}{'' if part.endswith('-') else ' '}{decade}s"


def starts_with_subject(template: str) -> bool:
    """Whether the sentence opens with the page's subject (perhaps after a short opener such as
    "In later years,"), the only place a pronoun reads well."""
    return bool(_OPENS_WITH_SUBJECT.match(template))


def capitalize_first(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


_A_AN = re.compile(r"\b([Aa])n? (?=(\w+))")
# Words spelt with a vowel but said with a consonant ("a university"), and the reverse.
_CONSONANT_SOUND = re.compile(r"^(uni|use|usu|eu|one|ur[aeiou])", re.IGNORECASE)
_VOWEL_SOUND = re.compile(r"^(hour|honest|honou?r)", re.IGNORECASE)


def _article_for(word: str) -> str:
    if _VOWEL_SOUND.match(word):
        return "an"
    if word[:1].lower() in "aeiou" and not _CONSONANT_SOUND.match(word):
        return "an"
    return "a"


def fix_articles(text: str) -> str:
    """Choose "a" or "an" by the sound of the next word: "an economist", "a university"."""

    def replace(match: re.Match[str]) -> str:
        article = _article_for(match.group(2))
        return (article.capitalize() if match.group(1).isupper() else article) + " "

    return _A_AN.sub(replace, text)


_ONE_THEN_NOUN = re.compile(r"(?<![\w.,])1 ([a-z]+ )?([a-z]{3,}s)\b")
# a word between "1" and the noun that is not a modifier of it ("1 million people", "1 on the ...")
_NOT_MODIFIER = frozenset(
    {
        "on",
        "by",
        "in",
        "at",
        "of",
        "for",
        "to",
        "and",
        "or",
        "the",
        "a",
        "an",
        "per",
        "than",
        "million",
        "billion",
        "thousand",
        "hundred",
    }
)
# words ending in "s" that are not plural nouns, or whose singular is not the rule's
_NOT_PLURAL = frozenset(
    {
        "was",
        "has",
        "does",
        "is",
        "this",
        "thus",
        "its",
        "plus",
        "across",
        "less",
        "unless",
        "series",
        "species",
        "news",
        "means",
        "always",
        "perhaps",
        "whereas",
        "various",
    }
)


def _singular(word: str) -> str:
    if word in _NOT_PLURAL or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    return word[:-1]


def fix_number_agreement(text: str) -> str:
    """Make a noun after the number 1 singular: "1 goals" becomes "1 goal", "1 league titles" "1 league title".

    Templates are written once for every value ("{s} has scored {v} goals"), so agreement with the
    value is settled here, after the value is known; "21 goals" and "1.5 goals" are left alone.
    """

    def singular(match: re.Match[str]) -> str:
        modifier = match.group(1) or ""
        if modifier.strip() in _NOT_MODIFIER:
            return match.group(0)
        return "1 " + modifier + _singular(match.group(2))

    return _ONE_THEN_NOUN.sub(singular, text)


def render(template: str, subject: Reference | None, mode: str, slots: dict[str, str]) -> str:
    """Fill ``template``: the first mention of the subject in ``mode``, later ones as pronouns.

    ``mode`` is ``"name"``, ``"short"``, ``"description"`` or ``"pronoun"``; a pronoun is only used for a template
    that opens with the subject (:func:`starts_with_subject`), otherwise the short name is used.
    """
    if mode == "pronoun" and not starts_with_subject(template):
        mode = "short"  # a pronoun would read badly mid-sentence; the short name does not
    seen_subject = False

    def fill(match: re.Match[str]) -> str:
        nonlocal seen_subject
        slot = match.group(1)
        base, _, pos = slot.partition("_")
        if base in _SUBJECT_SLOTS and pos in ("", "pos") and subject is not None:
            use = "pronoun" if seen_subject else mode
            seen_subject = True
            return subject.possessive(use) if pos else subject.nominative(use)
        return slots[slot]

    filled = _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), _SLOT.sub(fill, template))
    return fix_number_agreement(fix_articles(filled))
