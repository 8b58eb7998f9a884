"""Fuzzy descriptions of an entity's attributes and name, each with an exact meaning.

Obfuscated questions never name an entity; they describe it the way SailorFog-QA and
BrowseComp do: a date becomes a period ("in the late 1970s", "in the 13th century", "before
1950"), a quantity a rounded figure or a range ("about three million", "between 170 and 180",
"over 2 million"), a name a few letters ("whose surname begins with \\"Tr\\""). A web pipeline
cannot check such a question for a unique answer; here every descriptor carries two exact
readings:

* the **strict** one, which the described entity satisfies by construction (``"about 3.1
  million"`` is written only for a value that rounds to it);
* the **loose** one, the widest reading a careful reader could take (``"about 3.1 million"``:
  within 10%; ``"in the late 1970s"``: 1976-1979; ``"in the 13th century"``: 1200-1300, both
  conventions), which the uniqueness check uses (:mod:`searchgym.tasks.subgraph`).

So the answer is unique under *any* reasonable reading, and every descriptor is decided by one
exact fact the corpus states (the attribute value, or the name on every page of the entity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from searchgym.world.schema import AttributeSpec
from searchgym.world.world import Entity

__all__ = ["NAME", "Descriptor", "describe_attribute", "describe_name", "exact_descriptor", "false_descriptor"]

NAME = "name"  # the pseudo-attribute of partial-name descriptors
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_ORDINAL = {1: "st", 2: "nd", 3: "rd"}
ABOUT_TOLERANCE = 0.10  # the loose reading of "about X": within 10% of X


@dataclass(frozen=True)
class Descriptor:
    """One constraint on an entity: ``attribute`` (or :data:`NAME`) read through ``kind``.

    ``phrase`` fills the wording's ``{v}``. Numeric kinds admit ``low <= value <= high`` in the
    loose reading and ``strict_low <= value <= strict_high`` in the strict one (``None``: open);
    ``category`` admits one value; name kinds admit names with the given letters.
    """

    attribute: str
    kind: str
    phrase: str
    low: float | None = None
    high: float | None = None
    strict_low: float | None = None
    strict_high: float | None = None
    letters: str = ""

    def admits(self, entity: Entity, *, strict: bool = False) -> bool:
        """Whether ``entity`` satisfies this descriptor (the loose reading unless ``strict``)."""
        if self.kind == "surname_prefix":
            return _surname(entity.name).startswith(self.letters)
        if self.kind == "name_suffix":
            return _letters(entity.name).endswith(self.letters)
        value = entity.attributes.get(self.attribute)
        if value is None:
            return False
        if self.kind == "category":
            return value == self.phrase
        if isinstance(value, str):  # a numeric reading of a category value admits nothing
            return False
        low, high = (self.strict_low, self.strict_high) if strict else (self.low, self.high)
        return (low is None or value >= low) and (high is None or value <= high)

    @property
    def is_name(self) -> bool:
        return self.attribute == NAME

    def key(self) -> tuple[Any, ...]:
        return (self.attribute, self.kind, self.phrase)


def _letters(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalpha())


def _surname(name: str) -> str:
    return _letters(name.split()[-1])


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else _ORDINAL.get(n % 10, "th")
    return f"{n}{suffix}"


def _number(value: float) -> str:
    """How a round figure reads: "three million", "2.5 million", "40,000", "180"."""
    if value >= 1_000_000:
        millions = value / 1_000_000
        if millions == int(millions) and millions <= 10:
            return f"{_NUMBER_WORDS[int(millions)]} million"
        return f"{millions:g} million"
    return f"{int(value):,}"


# -- years ---------------------------------------------------------------------------------------


def _year_forms(value: int) -> list[Descriptor]:
    decade, offset = value - value % 10, value % 10
    forms = [Descriptor("", "decade", f"in the {decade}s", decade, decade + 9, decade, decade + 9)]
    part, strict, loose = (
        ("early", (0, 3), (0, 4))
        if offset <= 3
        else ("mid-", (4, 6), (3, 7))
        if offset <= 6
        else ("late", (7, 9), (6, 9))
    )
    gap = "" if part.endswith("-") else " "
    forms.append(
        Descriptor(
            "",
            "decade_part",
            f"in the {part}{gap}{decade}s",
            decade + loose[0],
            decade + loose[1],
            decade + strict[0],
            decade + strict[1],
        )
    )
    if value < 1900 and value % 100 not in (0, 1):  # both century conventions agree on the value
        century = value // 100 + 1
        forms.append(
            Descriptor(
                "",
                "century",
                f"in the {_ordinal(century)} century",
                100 * (century - 1),
                100 * century,
                100 * (century - 1) + 1,
                100 * century - 1,
            )
        )
    if offset:
        after, before = decade, decade + 10
        forms.append(Descriptor("", "before", f"before {before}", None, before, None, before - 1))
        forms.append(Descriptor("", "after", f"after {after}", after, None, after + 1, None))
    return forms


# -- numbers -------------------------------------------------------------------------------------


def _bracket(value: int) -> int:
    """The width of a round range around ``value``: half its order of magnitude (10 below 100)."""
    if value < 1000:
        return 10
    return 10 ** int(math.floor(math.log10(value))) // 2


def _number_forms(value: int) -> list[Descriptor]:
    forms = []
    if value >= 1000:
        step = 10 ** (int(math.floor(math.log10(value))) - 1)  # two significant figures
        rounded = round(value / step) * step
        tolerance = ABOUT_TOLERANCE * rounded
        forms.append(
            Descriptor(
                "",
                "about",
                f"about {_number(rounded)}",
                rounded - tolerance,
                rounded + tolerance,
                rounded - step / 2,
                rounded + step / 2,
            )
        )
    width = _bracket(value)
    low = value // width * width
    high = low + width
    if low < value < high and low > 0:
        forms.append(
            Descriptor("", "between", f"between {_number(low)} and {_number(high)}", low, high, low + 1, high - 1)
        )
    if low < value and low > 0:
        forms.append(Descriptor("", "over", f"over {_number(low)}", low, None, low + 1, None))
    if value < high:
        forms.append(Descriptor("", "under", f"under {_number(high)}", None, high, None, high - 1))
    return forms


def _with_attribute(descriptor: Descriptor, attribute: str) -> Descriptor:
    return Descriptor(
        attribute,
        descriptor.kind,
        descriptor.phrase,
        descriptor.low,
        descriptor.high,
        descriptor.strict_low,
        descriptor.strict_high,
        descriptor.letters,
    )


def attribute_forms(spec: AttributeSpec, value: Any) -> list[Descriptor]:
    """Every fuzzy descriptor of ``value`` that its attribute's kind allows (strictly true of it)."""
    if spec.kind == "category":
        return [Descriptor(spec.name, "category", str(value))]
    forms = _year_forms(int(value)) if spec.kind == "year" else _number_forms(int(value))
    return [_with_attribute(form, spec.name) for form in forms]


def describe_attribute(spec: AttributeSpec, value: Any, rng: np.random.Generator) -> Descriptor:
    """One fuzzy descriptor of ``value``, its form drawn by ``rng``."""
    forms = attribute_forms(spec, value)
    return forms[int(rng.integers(len(forms)))]


def exact_descriptor(spec: AttributeSpec, value: Any) -> Descriptor:
    """The value itself ("in 1955", "1,204,330", "painter"): what a question may state as context."""
    if spec.kind == "category":
        return Descriptor(spec.name, "category", str(value))
    phrase = f"in {value}" if spec.kind == "year" else _number(int(value))
    return Descriptor(spec.name, "exact", phrase, value, value, value, value)


def describe_name(entity: Entity, is_person: bool, rng: np.random.Generator) -> Descriptor:
    """A partial name: a person's surname's first two letters, else the name's last three."""
    if is_person and rng.random() < 0.5:
        letters = _surname(entity.name)[:2]
        return Descriptor(NAME, "surname_prefix", letters.capitalize(), letters=letters)
    letters = _letters(entity.name)[-3:]
    return Descriptor(NAME, "name_suffix", letters, letters=letters)


def false_descriptor(
    spec: AttributeSpec, entity: Entity, others: list[Entity], rng: np.random.Generator
) -> Descriptor | None:
    """A descriptor of the same attribute that ``entity`` clearly fails (not even its loose
    reading admits it), drawn from the values of ``others`` (a false premise must read like a
    true one: the same forms, over the values the world has)."""
    order = [others[int(i)] for i in rng.permutation(len(others))]
    for other in order[:32]:
        value = other.attributes.get(spec.name)
        if value is None or value == entity.attributes.get(spec.name):
            continue
        descriptor = describe_attribute(spec, value, rng)
        if not descriptor.admits(entity):
            return descriptor
    return None
