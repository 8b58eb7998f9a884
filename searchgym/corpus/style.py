"""Known wording defects, found by pattern: the checks the corpus linter and the tests share.

Each pattern is a defect seen in generated text at some point ("is located is located",
"has X as its mentor of?", "stars A and stars B", "an university", "is a person listed in this
encyclopedia", "friends from in the larger cities", "is often wrote about", "has scored 1 goals",
"Old postcards devotes a chapter", "spends a chapter to"); keeping them in one list means a new
defect is fixed once and guarded forever.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["DEFECT_PATTERNS", "NAME_SENSITIVE_DEFECTS", "wording_defects"]

DEFECT_PATTERNS: dict[str, re.Pattern[str]] = {
    "repeated word": re.compile(r"\b(\w+) \1\b", re.IGNORECASE),
    "repeated phrase": re.compile(r"\b(\w+ \w+) \1\b", re.IGNORECASE),
    "clause ending twice": re.compile(r"\b(is|was) (\w+ed) (is|was) \2\b", re.IGNORECASE),
    "'as its ... of'": re.compile(r"\bas (?:its|their|his|her) \w+ of\b"),
    "verb repeated around 'and'": re.compile(r"\b([a-z]+) [A-Z][\w']*(?: [A-Z][\w']*)* and \1 [A-Z]"),
    "'an' before a consonant sound": re.compile(r"\b[Aa]n (?:uni|use|usu|eu|one\b|[bcdfgjklmnpqrstvwxyz])"),
    "'a' before a vowel sound": re.compile(r"\b[Aa] (?!uni|use|usu|eu|one\b)[aeiou]", re.IGNORECASE),
    "meta reference to the encyclopedia": re.compile(r"listed in this encyclopedia|in this encyclopedia", re.I),
    "unfilled slot": re.compile(r"[{}]"),
    "space before punctuation": re.compile(r" [.,;:?!]"),
    "double space": re.compile(r"  "),
    "doubled punctuation": re.compile(r"(?<!\.)\.\.(?!\.)|,,|\?\?|\.\?|\?\."),
    "lower-case sentence start": re.compile(r"(?:^|[.!?] )[a-z]"),
    "stacked prepositions": re.compile(r"\bfrom (?:in|on|at) the\b"),
    "'wrote' as a participle": re.compile(r"\b(?:is|are|was|were|been|being) (?:\w+ )?wrote\b"),
    "plural noun after the number 1": re.compile(
        r"(?<![\w.,])1 (?!(?:million|billion|thousand|hundred|on|by|in|at|of|for|to|per|than) )(?:[a-z]+ )?"
        r"(?!(?:was|has|does|is|this|thus|its|plus|across|less|series|species|news|means)\b)[a-z]{2,}(?<!ss|us|is)s\b"
    ),
    "plural source with a singular verb": re.compile(
        r"\b(?:postcards|newspapers|records|archives|biographers|historians|reviewers|commentators|residents|scholars"
        r"|journalists) (?:devotes|gives|dedicates|is|has|was|puts|mentions|describes|notes|says)\b",
        re.IGNORECASE,
    ),
    "'spends' a part of a text 'to'": re.compile(r"\bspends (?:a chapter|several pages|a long passage) to\b"),
}


#: Defects a proper name can show without being one: a world may name a person "Heiro Heiro"
#: (as the real world has "Duran Duran"), and a page writes that name as it is.
NAME_SENSITIVE_DEFECTS = ("repeated word", "repeated phrase")
_NAME_PLACEHOLDER = "Xq"


def wording_defects(text: str, names: Iterable[str] = ()) -> list[str]:
    """The names of the defect patterns found in ``text`` (empty when it reads clean).

    ``names``: the proper names ``text`` may write (its entity's and its mentions'). A
    :data:`NAME_SENSITIVE_DEFECTS` match is kept only if it is still there with each written
    name replaced by one placeholder word, so "Heiro Heiro appeared in ..." reads clean while
    "Heiro appeared in in ..." and a name written twice in a row do not. Other defects are
    judged on the text as written (an "an" before a name is still a defect).
    """
    found = [name for name, pattern in DEFECT_PATTERNS.items() if pattern.search(text)]
    if any(defect in NAME_SENSITIVE_DEFECTS for defect in found):
        masked = text
        for name in sorted({name for name in names if name}, key=len, reverse=True):
            masked = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", _NAME_PLACEHOLDER, masked)
        found = [d for d in found if d not in NAME_SENSITIVE_DEFECTS or DEFECT_PATTERNS[d].search(masked)]
    return found
