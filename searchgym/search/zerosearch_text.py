"""ZeroSearch's simulation prompt and the parser of the documents a model writes for it.

Why a module of its own: the LLM simulator (:mod:`searchgym.search.simulated_llm`) prompts with it
and self-search (:mod:`searchgym.search.self_search`) parses policy-written documents with the same
parser; neither engine's module should be imported for the other's text handling.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["parse_documents", "zerosearch_prompt"]

_NUMBER_WORDS = {
    1: "one",
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
}


def _number_word(count: int) -> str:
    return _NUMBER_WORDS.get(count, str(count))


def zerosearch_prompt(
    query: str,
    *,
    useful: bool,
    num_docs: int = 5,
    question: str | None = None,
    answer: str | None = None,
    facts: Sequence[str] = (),
    avoid: Sequence[str] = (),
) -> str:
    """ZeroSearch's simulation prompt (``search_simulate_sft``), plus a grounding block.

    The first lines are ZeroSearch's, word for word (with ``five`` replaced by ``num_docs``).
    ``question``/``answer`` add its "The user is trying to answer ..." line (useful calls only, as
    in its prompt-based mode). ``facts`` are the only facts the model may state; ``avoid`` names
    entities a noisy document must say nothing about.
    """
    mode = "useful" if useful else "noisy"
    count = _number_word(num_docs)
    lines = [
        "You are the Google search engine.",
        f"Given a query, you need to generate {count} {mode} documents for the query.",
        "",
    ]
    if useful and question and answer:
        lines += [f'The user is trying to answer the question: "{question}" whose answer is {answer}.']
    lines += [
        f"Each document should contain about 30 words, and these documents should contain {mode} information.",
        "",
    ]
    if facts:
        head = (
            "Use only these facts, and state no other fact about the entities they name:"
            if useful
            else "Write only about the entities in these facts, using only these facts:"
        )
        lines += [head, *(f"- {fact}" for fact in facts), ""]
    if avoid:
        lines += [f"Do not state anything about {', '.join(avoid)}.", ""]
    elif not useful and not facts:
        lines += ["The documents should be related to the query but must not answer it.", ""]
    lines += [
        'Write each document on one line starting with "Doc 1:", "Doc 2:" and so on.',
        "",
        f"Query: {query}",
        f"{mode.capitalize()} Output:",
    ]
    return "\n".join(lines)


_DOC_MARKER = re.compile(r"(?:^|\n)\s*\**\s*(?:Doc(?:ument)?\s*\d+|\d+)\s*[:.)\-]\**\s*", re.IGNORECASE)


def parse_documents(text: str, num_docs: int) -> list[str]:
    """Split generated text into at most ``num_docs`` documents.

    ZeroSearch's post-processing (collapse blank lines, cut at ``Doc {k+1}``) generalised:
    ``Doc i:`` / ``i.`` markers when present, else one document per non-empty line.
    """
    text = text.replace("\r\n", "\n").replace("\n\n", "\n").strip()
    if not text:
        return []
    parts = _DOC_MARKER.split("\n" + text)
    if len(parts) > 1:
        docs = [" ".join(part.split()) for part in parts[1:]]
    else:
        docs = [" ".join(line.split()) for line in text.split("\n")]
    return [doc for doc in docs if doc][:num_docs]
