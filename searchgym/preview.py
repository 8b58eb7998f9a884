"""``searchgym preview --schema NAME``: sample pages and questions of a schema, for its author.

Writing a world means writing its wording; the quickest check of a wording file is to read what
it produces. The preview builds a small world of the schema (linted like every build), opens one
page of each entity type as the env's ``<access>`` shows it, and generates a few verified tasks
(with their answers, hop counts and measured depth), so a missing word or an awkward template is
seen in seconds rather than after a training run.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

__all__ = ["add_preview_parser", "preview_text"]


def preview_text(schema: str, *, size: int = 300, seed: int = 0, pages: int = 0, questions: int = 2) -> str:
    """The preview as plain text: ``pages`` pages per entity type (0: one per type) and
    ``questions`` tasks per task stratum."""
    from searchgym.corpus import write_corpus
    from searchgym.corpus.lint import lint_corpus
    from searchgym.corpus.page import open_page
    from searchgym.tasks import TaskOptions, generate_tasks
    from searchgym.world import build_world, load_schema
    from searchgym.world.lint import lint_world

    loaded = load_schema(schema)
    world = build_world(loaded, size, seed)
    lint_world(world)
    corpus = write_corpus(world)
    lint_corpus(world, corpus)
    lines = [f"# {world.world_id}: {len(world)} entities, {len(world.edges)} edges, {len(corpus)} passages", ""]
    per_type = max(1, pages)
    for spec in loaded.entity_types:
        # the best-connected entities make the most telling pages
        ranked = sorted(world.of_type(spec.name), key=lambda e: (-len(corpus.pages.get(e, ())), e))
        for entity_id in ranked[:per_type]:
            first = corpus[corpus.pages[entity_id][0]]
            page = open_page(world, corpus, first)
            assert page is not None
            lines += [f"## {spec.name}: {page.title}  ({len(page.doc_ids)} passages)", page.text, ""]
    if questions > 0:
        tasks = generate_tasks(world, corpus, TaskOptions(per_type=questions, max_hops=4, depth_top_k=3))
        lines.append("## questions")
        for task in tasks:
            lines.append(
                f"- [{task.task_type}, {task.hops} hop(s), min_searches {task.min_searches}] "
                f"{task.question}  ->  {task.answer}"
            )
    return "\n".join(lines)


def _cmd_preview(args: argparse.Namespace) -> int:
    from searchgym.world import SchemaError

    if not 20 <= args.size <= 20000:
        raise SystemExit("--size must be in [20, 20000] (a preview is meant to be quick)")
    try:
        text = preview_text(args.schema, size=args.size, seed=args.seed, pages=args.pages, questions=args.questions)
    except SchemaError as error:
        raise SystemExit(f"searchgym preview: {error}") from None
    Console(highlight=False, soft_wrap=True).print(text, markup=False)
    return 0


def add_preview_parser(commands: Any) -> None:
    preview = commands.add_parser("preview", help="print sample pages and questions of a world schema")
    preview.add_argument("--schema", default="default", help="a bundled schema name or a path to a schema TOML")
    preview.add_argument("--size", type=int, default=300, help="entities of the preview world")
    preview.add_argument("--seed", type=int, default=0)
    preview.add_argument("--pages", type=int, default=1, help="pages shown per entity type")
    preview.add_argument("--questions", type=int, default=2, help="tasks shown per task stratum (0: none)")
    preview.set_defaults(func=_cmd_preview)
