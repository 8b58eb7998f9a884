"""Invented names, built from syllables so that no pretrained model has memorised them.

Each entity type has its own style (people get given name + family name, organizations a word
plus a corporate suffix, ...). Names are unique across the whole world after normalisation, so
an answer string always identifies one entity. A small share of names are deliberate
look-alikes of existing ones (one letter changed), the distractors that make careless agents fail.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

_ONSETS = (
    "b",
    "br",
    "c",
    "d",
    "dr",
    "f",
    "g",
    "gr",
    "h",
    "k",
    "kr",
    "l",
    "m",
    "n",
    "p",
    "pr",
    "r",
    "s",
    "sk",
    "st",
    "t",
    "tr",
    "v",
    "vr",
    "z",
    "th",
    "sh",
    "j",
    "y",
    "w",
)
_VOWELS = ("a", "e", "i", "o", "u", "ae", "ia", "ou", "ei", "y")
_CODAS = ("", "", "", "n", "r", "l", "s", "th", "m", "k", "nd", "rn", "st", "x")

_CITY_SUFFIXES = ("", "", "", "ville", "grad", "port", "heim", "mar", "ora", "ton", "vik", "burg")
_COUNTRY_SUFFIXES = ("ia", "land", "ara", "ovia", "eth", "istan", "onia", "mark")
_COUNTRY_FORMS = ("Republic", "Kingdom", "Federation", "Commonwealth", "Principality")
_ORG_SUFFIXES = (
    "Holdings",
    "Works",
    "Group",
    "Industries",
    "Consortium",
    "Foundry",
    "Laboratories",
    "Trading Company",
    "Studios",
    "Partners",
    "Collective",
    "Mills",
)
_UNIVERSITY_FORMS = (
    "University of {w}",
    "{w} University",
    "{w} Institute of Technology",
    "{w} College",
    "Royal Academy of {w}",
    "{w} State University",
    "Technical University of {w}",
    "{w} Polytechnic",
    "Free University of {w}",
    "{w} School of Economics",
    "{w} Normal University",
    "{w} Conservatory",
    "University College {w}",
    "{w} Academy of Sciences",
)
_FILM_FORMS = (
    "{w}",
    "The {w}",
    "The {w} of {v}",
    "Return to {w}",
    "Beyond {w}",
    "A Winter in {w}",
    "The Last {w}",
    "{w} Rising",
    "Letters from {w}",
    "Night over {w}",
    "The Road to {w}",
    "Summer at {w}",
    "{w} Station",
    "Under the {w} Sky",
    "The Girl from {w}",
    "Echoes of {w}",
    "The {w} Affair",
    "Far from {w}",
    "Daughters of {w}",
    "The House on {w} Street",
    "Song of {w}",
    "Storm over {w}",
    "After {w}",
    "The Long Way to {w}",
    "{v} of the {w}",
    "{w} Nights",
    "The Silence of {w}",
    "Blue {w}",
    "Children of {w}",
    "The {w} Years",
)


_FORMS_BY_STYLE = {"organization": _ORG_SUFFIXES, "university": _UNIVERSITY_FORMS, "film": _FILM_FORMS}


def _form_words(style_key: str) -> frozenset[str]:
    """The fixed words of a style's name forms ("Summer", "at"), which a look-alike keeps."""
    forms = (
        style_key.removeprefix("forms:").split("|")
        if style_key.startswith("forms:")
        else _FORMS_BY_STYLE.get(style_key, ())
    )
    return frozenset(word for form in forms for word in re.sub(r"\{\w+\}", " ", form).split())


# A name that contains a list separator would make "A, B and C" ambiguous (and let a stuffed
# answer look like a name), so generated names never contain one.
LIST_SEPARATORS = re.compile(r"[,;/|&+:]|\b(?:and|or|nor|vs)\b", re.IGNORECASE)


def has_list_separator(name: str) -> bool:
    return LIST_SEPARATORS.search(name) is not None


def normalize_name(name: str) -> str:
    """The identity of a name for uniqueness checks: case, accents, punctuation and
    leading articles do not distinguish two names (they don't under answer normalisation)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9 ]+", " ", text)
    text = re.sub(r"\b(the|a|an)\b", " ", text)
    return " ".join(text.split())


class ReservedPhrases:
    """Words and phrases the wording writes, which no name may be.

    Invented names are built from syllables, and now and then one is an English phrase the prose
    uses ("Drama Group" beside "a small drama group"): the grounding matcher would then read the
    prose as naming that entity. A one-word name may be no word of the wording; a longer one no
    phrase of its literal text (slots, choices and pools cut the text into fragments).
    """

    def __init__(self, texts: list[str]) -> None:
        fragments = [normalize_name(part) for text in texts for part in re.split(r"[{}\[\]|@]", text)]
        fragments = [f for f in fragments if f]
        self.words = {word for fragment in fragments for word in fragment.split()}
        self.text = " | ".join(fragments)
        # every run of 2..PHRASE_WORDS words of a fragment: a set lookup per drawn name, where
        # scanning the whole text cost a millisecond a name (minutes for a 1M-entity world)
        self._phrases = {
            " ".join(words[i : i + n])
            for words in (f.split() for f in fragments)
            for n in range(2, self.PHRASE_WORDS + 1)
            for i in range(len(words) - n + 1)
        }

    PHRASE_WORDS = 6

    def holds(self, key: str) -> bool:
        """Whether the normalised ``key`` is a word of the wording (one word) or a run of whole
        words of one of its fragments (several)."""
        if " " not in key:
            return key in self.words
        if key.count(" ") < self.PHRASE_WORDS:
            return key in self._phrases
        return f" {key} " in f" {self.text} "  # fragments never hold "|", so no run crosses two


class NameGenerator:
    """Draws unique names for every style from one random generator."""

    def __init__(
        self, rng: np.random.Generator, similar_rate: float = 0.04, reserved: ReservedPhrases | None = None
    ) -> None:
        self._rng = rng
        self._similar_rate = similar_rate
        self._reserved = reserved
        self._taken: set[str] = set()
        self._by_style: dict[str, list[str]] = {}

    def _pick(self, options: tuple[str, ...]) -> str:
        return options[int(self._rng.integers(len(options)))]

    def word(self, min_syllables: int = 2, max_syllables: int = 3) -> str:
        count = int(self._rng.integers(min_syllables, max_syllables + 1))
        parts = [self._pick(_ONSETS) + self._pick(_VOWELS) for _ in range(count)]
        parts[-1] += self._pick(_CODAS)
        return "".join(parts).capitalize()

    def _fresh(self, style: str) -> tuple[str, tuple[str, ...]]:
        if style == "person":
            return f"{self.word(2, 2)} {self.word(2, 3)}", ()
        if style == "city":
            return (self.word(2, 2) + self._pick(_CITY_SUFFIXES)).capitalize(), ()
        if style == "country":
            base = (self.word(1, 2) + self._pick(_COUNTRY_SUFFIXES)).capitalize()
            return base, (f"{self._pick(_COUNTRY_FORMS)} of {base}",)
        if style == "organization":
            return f"{self.word(2, 3)} {self._pick(_ORG_SUFFIXES)}", ()
        if style == "university":
            return self._pick(_UNIVERSITY_FORMS).format(w=self.word(2, 3)), ()
        if style == "film":
            return self._pick(_FILM_FORMS).format(w=self.word(2, 3), v=self.word(2, 2)), ()
        return self.word(2, 4), ()

    def _look_alike(self, style: str) -> tuple[str, str] | None:
        """One letter of an existing name of the same style changed: a deliberate distractor.

        Only a drawn word changes, never a word of the name's form ("Summer at X" must not become
        "Summer an X": the article fixer would then rewrite the name in running text).
        """
        pool = self._by_style.get(style)
        if not pool:
            return None
        original = pool[int(self._rng.integers(len(pool)))]
        fixed = _form_words(style)
        positions = [
            match.start() + i
            for match in re.finditer(r"\S+", original)
            if match.group() not in fixed
            for i, ch in enumerate(match.group())
            if ch.islower() and ch not in "aeiouy"
        ]
        if not positions:
            return None
        position = positions[int(self._rng.integers(len(positions)))]
        letter = self._pick(tuple("bcdfgklmnprstvz"))
        return original[:position] + letter + original[position + 1 :], original

    def _claim(self, name: str, aliases: tuple[str, ...]) -> bool:
        keys = [normalize_name(name), *(normalize_name(alias) for alias in aliases)]
        if any(not key or key in self._taken for key in keys) or len(set(keys)) != len(keys):
            return False
        if any(has_list_separator(text) for text in (name, *aliases)):
            return False
        if self._reserved is not None and any(self._reserved.holds(key) for key in keys):
            return False
        self._taken.update(keys)
        return True

    def _from_forms(self, forms: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        form = self._pick(forms)
        return form.format(w=self.word(2, 3), v=self.word(2, 2), person=f"{self.word(2, 2)} {self.word(2, 3)}"), ()

    def new(self, style: str, forms: tuple[str, ...] = ()) -> tuple[str, tuple[str, ...], str | None]:
        """A unique (name, aliases, look_alike_of) triple for an entity of ``style`` (or, when
        given, of the schema's name ``forms``: see :class:`~searchgym.world.schema.EntityTypeSpec`)."""
        key = style if not forms else "forms:" + "|".join(forms)
        if self._rng.random() < self._similar_rate:
            drawn = self._look_alike(key)
            if drawn is not None and self._claim(drawn[0], ()):
                self._by_style[key].append(drawn[0])
                return drawn[0], (), drawn[1]
        for _ in range(1000):
            name, aliases = self._from_forms(forms) if forms else self._fresh(style)
            if self._claim(name, aliases):
                self._by_style.setdefault(key, []).append(name)
                return name, aliases, None
        raise RuntimeError(f"could not find a fresh {style} name after 1000 tries; the name space is exhausted")
