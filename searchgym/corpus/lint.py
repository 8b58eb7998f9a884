"""The corpus linter: every statement of every passage checked against the world.

Rewards and task verification trust provenance (which facts a passage states), so the build
checks it independently of the writer, for every passage:

* every recorded fact is a true fact of the world, and its object (name or written value) and
  its subject (unless it is the page's own subject) appear in the text;
* every entity name in the text is recorded as a mention, and every mention appears;
* every number in the text is a value of a recorded fact, or a rounded form (decade, "about
  3.0 million") of one — so no sentence states a number the graph does not back;
* every countable relation is listed completely on one page of its entity;
* the text has none of the known wording defects (:mod:`searchgym.corpus.style`).

Corpora of more than :data:`FULL_LINT_PASSAGES` passages are checked on a deterministic sample
of that many passages (the completeness check always covers every entity), which keeps a
million-passage build linear and bounded.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from searchgym.corpus.corpus import Corpus
from searchgym.corpus.realize import approximate_number, format_value
from searchgym.corpus.style import wording_defects
from searchgym.search.grounding import Grounder, normalize
from searchgym.types import Fact, Passage
from searchgym.world.lint import MAX_REPORTED, LintError
from searchgym.world.world import World

__all__ = ["FULL_LINT_PASSAGES", "corpus_violations", "lint_corpus", "passage_problems", "world_facts"]

FULL_LINT_PASSAGES = 200_000
_NUMBER = re.compile(r"(?<!\w)\d[\d,]*(?:\.\d+)?")


def world_facts(world: World) -> dict[str, Fact]:
    facts = {fact.fact_id: fact for fact in world.facts()}
    return facts


def _number_forms(value: object) -> set[str]:
    """Every way a fact's value may appear as a number in the text."""
    if not isinstance(value, int):
        return set()
    forms = {str(value), format_value(value)}
    if value >= 1000:
        for words in (False, True):
            forms.update(_NUMBER.findall(approximate_number(value, words=words)))
    forms.add(str(value - value % 10))  # "the late 1960s"
    return forms


def _contains(haystack: str, needle: str) -> bool:
    key = normalize(needle)
    return bool(key) and f" {key} " in f" {haystack} "


def _name_forms(world: World, entity_id: str) -> tuple[str, ...]:
    entity = world.entity(entity_id)
    return (entity.name, *entity.aliases)


def _as_word(form: str) -> str:
    """A regex for ``form`` as written, as whole words."""
    return rf"(?<!\w){re.escape(form)}(?!\w)"


def _named_exactly(world: World, entity_id: str, text: str) -> bool:
    return any(re.search(_as_word(form), text) for form in _name_forms(world, entity_id))


def _without_names(world: World, entity_ids: Sequence[str | None], text: str) -> str:
    """``text`` with every exact occurrence of these entities' names and aliases blanked, longest first."""
    forms = {form for entity_id in entity_ids if entity_id is not None for form in _name_forms(world, entity_id)}
    for form in sorted(forms, key=len, reverse=True):
        text = re.sub(_as_word(form), " ", text)
    return text


def passage_problems(world: World, passage: Passage, facts: dict[str, Fact], grounder: Grounder) -> list[str]:
    """Every way ``passage`` breaks the rules above (empty when it is sound); shared with the
    LLM writer's verifier, which checks a rewrite exactly as the build checks a template passage."""
    where = f"passage {passage.doc_id} ({passage.title})"
    problems = []
    text = normalize(passage.text)
    numbers: set[str] = set()
    for fact_id in passage.facts:
        fact = facts.get(fact_id)
        if fact is None:
            problems.append(f"{where}: records {fact_id!r}, which is not a fact of the world")
            continue
        if fact.is_relation:
            obj = world.name(str(fact.object))
            if fact.object != passage.entity_id and not _contains(text, obj):
                problems.append(f"{where}: states {fact_id} but does not name {obj!r}")
        else:
            numbers |= _number_forms(fact.object)
            if not any(_contains(text, form) for form in {str(fact.object), format_value(fact.object)}):
                problems.append(f"{where}: states {fact_id} but does not write its value {fact.object!r}")
        if fact.subject != passage.entity_id and not _contains(text, world.name(fact.subject)):
            problems.append(f"{where}: states {fact_id} but does not name its subject")
    found = {mention.entity_id for mention in grounder.mentions(passage.text)}
    recorded = set(passage.mentions) - {passage.entity_id}
    # matching is case-insensitive (agents write in any case), but a page's "Deiye works as a
    # banker" does not name the firm "Deiye Works", and "letters from Sofial Thaebia" (the film
    # "Letters from Sofial" took "Sofial") does not name the city "Thaebia": an unrecorded match
    # must be written as named, outside the names the passage records
    unrecorded = found - set(passage.mentions)
    if unrecorded:
        rest = _without_names(world, [*passage.mentions, passage.entity_id], passage.text)
        unrecorded = {entity_id for entity_id in unrecorded if _named_exactly(world, entity_id, rest)}
    if unrecorded:
        problems.append(f"{where}: names {sorted(unrecorded)} without recording them as mentions")
    if recorded - found:
        problems.append(f"{where}: records mentions {sorted(recorded - found)} it does not name")
    for number in _NUMBER.findall(passage.text):
        if number.rstrip(",") not in numbers:
            problems.append(f"{where}: writes the number {number!r}, which no recorded fact backs")
            break
    # the names it writes, looked up only if a defect a name can show is found (a generator)
    names = (
        form
        for entity_id in (*passage.mentions, passage.entity_id)
        if entity_id
        for form in _name_forms(world, entity_id)
    )
    for defect in wording_defects(passage.text, names):
        problems.append(f"{where}: wording defect ({defect}): {passage.text[:160]!r}")
    return problems


def _check_complete_lists(world: World, corpus: Corpus) -> list[str]:
    """Every countable relation of every entity is stated completely on that entity's page."""
    problems = []
    stated_on_page: dict[str, set[str]] = defaultdict(set)
    for passage in corpus:
        if passage.entity_id is not None and passage.kind == "page":
            stated_on_page[passage.entity_id].update(passage.facts)
    for relation in world.schema.relations:
        if not relation.countable:
            continue
        counted_type = relation.source if relation.cardinality == "1-n" else relation.target
        for entity_id in world.of_type(counted_type):
            if relation.cardinality == "1-n":
                members = [Fact(entity_id, relation.name, t).fact_id for t in world.targets(entity_id, relation.name)]
            else:
                members = [Fact(s, relation.name, entity_id).fact_id for s in world.sources(entity_id, relation.name)]
            missing = set(members) - stated_on_page[entity_id]
            if missing:
                problems.append(
                    f"{entity_id}: its page leaves {len(missing)} {relation.name} fact(s) out of a "
                    f"complete list, e.g. {sorted(missing)[0]}"
                )
    return problems


def corpus_violations(world: World, corpus: Corpus) -> list[str]:
    """Every statement of the corpus that the world does not back, one readable line each."""
    if corpus.world_id != world.world_id:
        return [f"corpus of {corpus.world_id} checked against world {world.world_id}"]
    facts = world_facts(world)
    grounder = Grounder(world, max_edit_distance=0)
    passages: Sequence[Passage] = corpus.passages
    if len(passages) > FULL_LINT_PASSAGES:
        stride = len(passages) / FULL_LINT_PASSAGES
        passages = [passages[int(i * stride)] for i in range(FULL_LINT_PASSAGES)]
    problems: list[str] = []
    for passage in passages:
        problems.extend(passage_problems(world, passage, facts, grounder))
        if len(problems) > 10 * MAX_REPORTED:
            break
    problems.extend(_check_complete_lists(world, corpus))
    return problems


def lint_corpus(world: World, corpus: Corpus) -> None:
    """Raise :class:`~searchgym.world.lint.LintError` listing the violations, if any."""
    problems = corpus_violations(world, corpus)
    if problems:
        shown = "\n  ".join(problems[:MAX_REPORTED])
        more = f"\n  ... and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
        raise LintError(
            f"corpus of {world.world_id} has {len(problems)} statement(s) the world does not back:\n  {shown}{more}"
        )
