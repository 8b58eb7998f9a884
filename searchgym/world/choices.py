"""Choice groups and lexicon pools: how one template becomes many sentence shapes.

A template may hold ``[a|b|c]`` (one alternative is drawn; ``[word|]`` makes a word optional)
and ``[@pool]`` (one phrase of the wording's ``[lexicon]`` pool is drawn; a pool's phrases may
draw from other pools, never in a cycle). Every expansion is something the wording's author
wrote, so prose varies without going random; an expansion that reads with a defect expansion
can cause ("a local local guidebook") is drawn again. Validation lives here too, so the rules
of the syntax and the checks of a wording file are one piece of code.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "WordingError",
    "check_choices",
    "check_pools",
    "expand_choices",
    "expand_clean",
    "parse_lexicon",
    "pick_template",
    "plain_choices",
    "reads_badly",
    "template_slots",
]


class WordingError(ValueError):
    """The wording file is malformed or does not cover the schema; the message names the key."""


def template_slots(template: str) -> set[str]:
    """The ``{slot}`` names a template uses."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise WordingError(f"template {template!r} is not a valid format string: {error}") from None


_CHOICE = re.compile(r"\[([^\[\]]*)\]")
_POOL_TRIES = 8
_SLOT = re.compile(r"\{\w+\}")


def _choice_groups(template: str) -> list[list[str]]:
    return [group.split("|") for group in _CHOICE.findall(template)]


def expand_choices(template: str, rng: Any, lexicon: Mapping[str, tuple[str, ...]] | None = None) -> str:
    """Pick one alternative of every ``[a|b|c]`` group (``[very |]`` makes a word optional) and
    one phrase of the lexicon for every ``[@pool]`` group.

    Choice groups multiply one template into many sentence shapes while keeping each shape
    something the wording's author wrote and checked, so prose varies without going random.
    """
    if "[" not in template:
        return template
    drawn: set[str] = set()

    def choose(match: re.Match[str]) -> str:
        parts = match.group(1).split("|")
        part = parts[int(rng.integers(len(parts)))] if len(parts) > 1 else parts[0]
        if part.startswith("@") and lexicon is not None:
            phrases = lexicon[part[1:]]
            for _ in range(_POOL_TRIES):  # one sentence never draws the same phrase twice
                phrase = phrases[int(rng.integers(len(phrases)))]
                if phrase not in drawn:
                    break
            drawn.add(phrase)
            # a pool phrase may itself draw from other pools ("according to [@source]"; never a cycle)
            return _CHOICE.sub(choose, phrase)
        return part

    return _CHOICE.sub(choose, template)


class _FirstAlternative:
    """An rng stand-in for :func:`expand_choices` that always draws the first alternative."""

    @staticmethod
    def integers(high: int) -> int:
        return 0


def plain_choices(template: str, lexicon: Mapping[str, tuple[str, ...]] | None = None) -> str:
    """The template with the first alternative of every group (and of every pool) taken: its
    plainest reading, for statements that must not vary (a grounded engine's true facts)."""
    return expand_choices(template, _FirstAlternative(), lexicon)


def pick_template(
    rng: Any, options: tuple[str, ...] | list[str], lexicon: Mapping[str, tuple[str, ...]] | None = None
) -> str:
    """One of ``options`` (uniformly), with its choice groups expanded; an expansion that reads
    with a known defect (:func:`reads_badly`: "a local local guidebook") is drawn again."""
    return expand_clean(options[int(rng.integers(len(options)))], rng, lexicon)


def expand_clean(template: str, rng: Any, lexicon: Mapping[str, tuple[str, ...]] | None = None) -> str:
    """:func:`expand_choices`, drawn again (a few times) while the expansion reads badly."""
    for _ in range(_POOL_TRIES):
        expanded = expand_choices(template, rng, lexicon)
        if expanded == template or not reads_badly(expanded):
            break
    return expanded


_EXPANSION_DEFECTS = (
    "repeated word",
    "repeated phrase",
    "double space",
    "doubled punctuation",
    "space before punctuation",
)


def reads_badly(template: str) -> bool:
    """Whether an expanded template shows a defect that expansion can introduce ("a local local
    guidebook"), whatever fills its slots (articles are fixed later, when the sentence is rendered)."""
    from searchgym.corpus.style import DEFECT_PATTERNS

    preview = _SLOT.sub("Xq", template)
    return any(DEFECT_PATTERNS[name].search(preview) for name in _EXPANSION_DEFECTS)


def check_choices(template: str, where: str, required: set[str]) -> None:
    """Balanced, unnested groups of two or more alternatives; a required slot in all or none."""
    stripped = _CHOICE.sub("", template)
    if "[" in stripped or "]" in stripped:
        raise WordingError(f"{where}: {template!r} has an unbalanced or nested [choice] group")
    for group in _choice_groups(template):
        if len(group) == 1 and group[0].startswith("@"):
            continue  # a lexicon pool, checked against the lexicon once it is parsed
        if len(group) < 2:
            raise WordingError(
                f"{where}: {template!r} has a [choice] group with one alternative; write [word|] for an optional word"
            )
        slot_sets = [template_slots(part) for part in group]
        varying = set[str]().union(*slot_sets) - set[str].intersection(*slot_sets)
        if varying & required:
            raise WordingError(
                f"{where}: {template!r}: a required slot {sorted(varying & required)} appears in "
                f"some alternatives of a [choice] group but not all"
            )


def parse_lexicon(value: Any) -> dict[str, tuple[str, ...]]:
    """``[lexicon]``: named pools of phrases (no slots, no choices) that templates draw from
    with ``[@pool]``; large pools are what make connective narrative read differently on every page."""
    pools = {}
    for name, phrases in _table(value, "lexicon").items():
        where = f"lexicon.{name}"
        if not re.fullmatch(r"[a-z_]+", name):
            raise WordingError(f"{where}: pool names are lower-case words with underscores")
        if not isinstance(phrases, list) or len(phrases) < 2 or not all(isinstance(p, str) for p in phrases):
            raise WordingError(f"{where}: must be a list of at least two strings")
        if len(set(phrases)) != len(phrases):
            raise WordingError(f"{where}: duplicate phrases")
        for phrase in phrases:
            groups = _choice_groups(phrase)
            if (
                template_slots(phrase)
                or any(len(g) != 1 or not g[0].startswith("@") for g in groups)
                or "[" in _CHOICE.sub("", phrase)
                or "]" in _CHOICE.sub("", phrase)
            ):
                raise WordingError(
                    f"{where}: {phrase!r}: pool phrases take no slots and no choices (only [@other_pool] groups)"
                )
        pools[name] = tuple(phrases)
    uses = {
        name: {part[1:] for phrase in phrases for (part,) in _choice_groups(phrase)} for name, phrases in pools.items()
    }
    for name, used in uses.items():
        if used - set(pools):
            raise WordingError(f"lexicon.{name}: draws from unknown pool(s) {sorted(used - set(pools))}")
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:  # pools may nest, never in a cycle
        if name in path:
            raise WordingError(f"lexicon: pools draw from each other in a cycle: {' -> '.join((*path, name))}")
        if name not in done:
            for other in sorted(uses[name]):
                visit(other, (*path, name))
            done.add(name)

    for name in pools:
        visit(name, ())
    return pools


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WordingError(f"{where}: must be a table")
    return value


def check_pools(templates: Iterable[tuple[str, str]], lexicon: Mapping[str, tuple[str, ...]]) -> None:
    """Every ``[@pool]`` of the ``(where, template)`` pairs names a pool of ``lexicon``."""
    for where, template in templates:
        for group in _choice_groups(template):
            for part in group:
                if part.startswith("@") and part[1:] not in lexicon:
                    raise WordingError(
                        f"{where}: {template!r}: [{part}] names no pool of [lexicon] ({sorted(lexicon)})"
                    )
