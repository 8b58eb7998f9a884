"""Long-form rubric grading: nuggets stated, cited from retrieved passages, contradictions.

A profile task ("Could you write a short profile of X covering the birth year, the mentor and
the employer?", :mod:`searchgym.tasks.profiles`) has a rubric of *nuggets*: the gold facts
``(X, aspect, value)`` of the world graph, each stated by known passages of the aligned corpus
(the task's evidence unit ``i`` lists every passage stating nugget ``i``). The answer is free
text with citations in the syntax of :mod:`searchgym.citations` (``[doc: <id>]`` after the
sentence it supports). Grading (Search-Gen-V's nugget-as-rubric, CaRR's citation check) reads
each sentence's claims with the grounding matcher of :mod:`searchgym.claims`:

* a sentence **states** nugget ``i`` when, among its claims about X under the nugget's aspect,
  there is exactly one, it is the nugget, and the sentence makes no false claim about X (one
  value: hedging "born in 1950, 1951 or 1957" states nothing, nor does "the country of X is A
  or B", whatever aspect the wrong value is read under; naming the aspect without a value, as
  the question does, states nothing);
* the nugget is **supported** when a sentence stating it cites a passage that a *search* of
  this episode returned and that states the fact, and every passage that sentence cites is
  such a passage for a nugget it states (citation precision 1: citing every retrieved passage
  supports nothing). Ids never shown, ids reached only by guessing an ``<access>``, and every
  document of an engine whose documents the agent writes itself (self-search) support nothing;
* a **contradiction** is a distinct claim about any world entity that the graph refutes.

Scores (``AnswerScore`` keys): ``nugget_recall`` (share stated), ``citation_support`` (share
supported), ``contradictions`` (their number), ``f1`` = ``max(0, (supported - contradictions)
/ nuggets)`` (the graded reward: each contradiction cancels one supported nugget, so hedging
over candidate values never pays) and ``em`` = 1 exactly when every nugget is supported and
nothing is contradicted. An empty answer, a restated question and an answer of wrong values
all score 0, the floor, below any honest answer with one supported nugget.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from searchgym.citations import cited_sentences
from searchgym.claims import Claim, claim_reader
from searchgym.world.world import World

__all__ = ["LONGFORM_TERMS", "grade_longform", "states_nugget"]

LONGFORM_TERMS = ("nugget_recall", "citation_support", "contradictions")


def states_nugget(claims: Sequence[Claim], subject: str, nugget: dict[str, Any]) -> bool:
    """Whether ``claims`` (one sentence's) state ``nugget`` and nothing else under its aspect.

    A sentence that also makes a false claim about the subject states no nugget: a hedge over
    entities ("the country of X is A or B or C") can read its wrong values under a neighbouring
    aspect (A is X's country, B and C "its capital's country"), which would leave the right
    value alone under the nugget's aspect."""
    key, value = nugget["key"], nugget["value"]
    if any(not c.true and subject in (c.subject, c.value) for c in claims):
        return False
    if nugget["entity"]:
        pairs = {
            frozenset((c.subject, str(c.value))) for c in claims if c.key == key and subject in (c.subject, c.value)
        }
        return pairs == {frozenset((subject, value))}
    values = {c.value for c in claims if c.key == key and c.subject == subject}
    return len(values) == 1 and next(iter(values)) == value


def grade_longform(
    meta: dict[str, Any],
    answer: str | None,
    evidence: Sequence[Collection[str]],
    shown: Collection[str],
    world: World,
    *,
    trusted: bool = True,
) -> dict[str, float]:
    """The rubric scores of ``answer`` (see the module doc). ``evidence[i]``: the passages
    stating nugget ``i``; ``shown``: the ids searches returned this episode; ``trusted``: False
    when the engine's documents are the agent's own words (then nothing is supported)."""
    nuggets: list[dict[str, Any]] = meta["nuggets"]
    subject: str = meta["subject"]
    reader = claim_reader(world)
    stated: set[int] = set()
    supported: set[int] = set()
    false: set[tuple[str, str, Any]] = set()
    for sentence in cited_sentences(answer):
        claims = reader.claims(sentence.text, subject)
        false.update((c.subject, c.key, c.value) for c in claims if not c.true)
        credited = [i for i, nugget in enumerate(nuggets) if states_nugget(claims, subject, nugget)]
        stated.update(credited)
        if not credited or not sentence.cited or not trusted:
            continue
        stating = {i: set(evidence[i]).intersection(shown) for i in credited}
        if all(any(doc in docs for docs in stating.values()) for doc in sentence.cited):
            supported.update(i for i, docs in stating.items() if docs.intersection(sentence.cited))
    total = max(1, len(nuggets))
    score = max(0.0, (len(supported) - len(false)) / total)
    return {
        "em": float(len(supported) == len(nuggets) and not false),
        "f1": score,
        "nugget_recall": len(stated) / total,
        "citation_support": len(supported) / total,
        "contradictions": float(len(false)),
    }
