"""Word description trees, lists and profiles from the schema's deep-research wording.

A described entity reads as an indefinite noun phrase: its type noun (a category value may
stand for it: "a painter", "a noir film"), then its descriptors ("born in the late 1950s",
"whose surname begins with \\"Tr\\"") and its relations to the entities it leads to, each
described the same way ("who mentored a person born in a city with about three million
inhabitants"). A named entity (premise questions) reads as its name. Questions come from the
``questions`` frames of :mod:`searchgym.world.deep_wording`; every wording is drawn by the
task's random generator, and one with a known defect (:mod:`searchgym.corpus.style`) is
redrawn, as :mod:`searchgym.tasks.questions` does for the classic forms.

:meth:`DescriptionWriter.parts` gives the *local* description of each described entity ("a
painter born in the late 1950s"): a search agent's natural queries, which the depth meter
lets the knowledge-free agent issue as well (:class:`searchgym.tasks.depth.DepthQuery`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from searchgym.corpus.realize import fix_articles, join_names
from searchgym.corpus.style import wording_defects
from searchgym.tasks.fuzzy import Descriptor
from searchgym.tasks.questions import WordingExhausted
from searchgym.tasks.subgraph import Node
from searchgym.world.deep_wording import DeepWording
from searchgym.world.world import World

__all__ = ["DescriptionWriter", "MissingDeepWording"]

_TRIES = 16


class MissingDeepWording(ValueError):
    """The schema has no ``*.deep.wording.toml``: deep task types cannot be worded."""


def _choose(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _join(phrases: list[str]) -> str:
    return join_names(phrases) if phrases else ""


class DescriptionWriter:
    """Noun phrases, questions and query parts for one world's deep-research wording."""

    def __init__(self, world: World) -> None:
        wording = world.schema.wording
        deep = getattr(wording, "deep", None)
        if deep is None:
            raise MissingDeepWording(
                f"schema {world.schema.name!r} has no deep-research wording: add "
                f"{world.schema.name}.deep.wording.toml beside it (see corpora/schemas/default.deep.wording.toml)"
            )
        self.world = world
        self.deep: DeepWording = deep

    # -- pieces -----------------------------------------------------------------------------------
    def _folded(self, node: Node) -> tuple[str, list[Descriptor]]:
        """The node's noun, a category descriptor folded into it when the wording allows."""
        noun = self.deep.types[node.type].noun
        rest = list(node.descriptors)
        for descriptor in rest:
            folded = self.deep.attributes.get(descriptor.attribute)
            if descriptor.kind == "category" and folded is not None and folded.noun:
                rest.remove(descriptor)
                return folded.noun.format(v=descriptor.phrase), rest
        return noun, rest

    def descriptor_phrase(self, descriptor: Descriptor, rng: np.random.Generator) -> str:
        if descriptor.is_name:
            return _choose(rng, self.deep.names[descriptor.kind]).format(v=descriptor.phrase)
        return _choose(rng, self.deep.attributes[descriptor.attribute].modifier).format(v=descriptor.phrase)

    def filter_phrase(self, descriptor: Descriptor, rng: np.random.Generator) -> str:
        """A descriptor as a plural predicate ("were released in the 1970s")."""
        return _choose(rng, self.deep.attributes[descriptor.attribute].plural).format(v=descriptor.phrase)

    def _modifiers(self, node: Node, rest: list[Descriptor], rng: np.random.Generator, *, relations: bool) -> str:
        who = self.deep.types[node.type].relative
        phrases = [self.descriptor_phrase(d, rng) for d in rest]
        if relations:
            for edge in node.edges:
                words = self.deep.relations[edge.relation]
                template = _choose(rng, words.forward if edge.forward else words.inverse)
                phrases.append(template.format(y=self.phrase(edge.child, rng), who=who))
        return _join(phrases)

    def phrase(self, node: Node, rng: np.random.Generator) -> str:
        """The node as a noun phrase: its name, or "a <noun> <modifiers>"."""
        if node.named:
            return self.world.name(node.entity)
        noun, rest = self._folded(node)
        modifiers = self._modifiers(node, rest, rng, relations=True)
        return f"a {noun} {modifiers}".strip()

    def parts(self, root: Node) -> tuple[str, ...]:
        """The local description of every described node that has descriptors (no relations)."""
        rng = np.random.default_rng(0)  # the first wording of each piece: queries, not prose
        out = []
        for node, _ in root.walk():
            if node.named or not node.descriptors:
                continue
            noun, rest = self._folded(node)
            out.append(fix_articles(f"a {noun} {self._modifiers(node, rest, rng, relations=False)}".strip()))
        return tuple(dict.fromkeys(out))

    # -- questions ----------------------------------------------------------------------------------
    def _clean(self, rng: np.random.Generator, make: Callable[[np.random.Generator], str]) -> str:
        for _ in range(_TRIES):
            text = fix_articles(make(rng))
            text = text[:1].upper() + text[1:]
            if not wording_defects(text):
                return text
        raise WordingExhausted(f"every wording tried has a defect, e.g. {text!r}")

    def described(self, root: Node, rng: np.random.Generator) -> str:
        """ "What is the name of the noir film released in the late 1970s and directed by ...?\""""

        def make(draw: np.random.Generator) -> str:
            noun, rest = self._folded(root)
            mods = self._modifiers(root, rest, draw, relations=True)
            frame = _choose(draw, self.deep.questions["described"])
            return frame.format(noun=noun, mods=mods, who=self.deep.types[root.type].relative)

        return self._clean(rng, make)

    def members(self, relation: str, forward: bool, subject: str, rng: np.random.Generator) -> str:
        words = self.deep.relations[relation]
        return _choose(rng, words.members_forward if forward else words.members).format(x=subject)

    def list_question(
        self, relation: str, forward: bool, subject: str, rng: np.random.Generator, descriptor: Descriptor | None = None
    ) -> str:
        """ "Which films directed by the mentor of X were released in the 1970s?\""""

        def make(draw: np.random.Generator) -> str:
            members = self.members(relation, forward, subject, draw)
            if descriptor is None:
                return _choose(draw, self.deep.questions["list"]).format(members=members)
            return _choose(draw, self.deep.questions["list_filtered"]).format(
                members=members, f=self.filter_phrase(descriptor, draw)
            )

        return self._clean(rng, make)

    def aspect(self, kind: str, forward: bool = True) -> str:
        if kind in self.deep.attributes:
            return self.deep.attributes[kind].aspect
        words = self.deep.relations[kind]
        return words.aspect if forward else words.inverse_aspect

    def profile(self, subject: str, aspects: list[str], rng: np.random.Generator) -> str:
        """ "Could you write a short profile of X covering the birth year, the mentor and ...?\""""
        listed = join_names([f"the {aspect}" for aspect in aspects])
        return self._clean(
            rng, lambda draw: _choose(draw, self.deep.questions["profile"]).format(x=subject, aspects=listed)
        )
