"""The values the built-in engines' options take, checked when an env spec is read.

:func:`~searchgym.search.factory.validate_engine_options` rejects an option an engine does not
take; this module rejects a value it cannot take (``k1 = "high"``, ``index = "ivff"``,
``noise_prob = 2``), so a spec typo fails in milliseconds with one line naming the option, not
minutes later when the engine is built over a freshly generated world. The checks are the
constructors' rules, stated once here (the constructors call :func:`check_option_values`
too, so code that builds an engine directly meets the same rule and message) and importing
nothing heavy (the allowed names come
from the light modules that define them). Options not listed (``cache``, ``generator``,
``headers``...) are passed on unchecked; a registered third-party engine checks its own values.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from searchgym.search.bm25_index import BM25_METHODS, KERNELS
from searchgym.search.faiss_index import INDEX_KINDS
from searchgym.search.onnx_encoder import BACKENDS

__all__ = ["OPTION_VALUES", "check_option_values"]

Check = tuple[Callable[[Any], bool], str]


def _is_int(value: Any) -> bool:
    """An integer, numpy's included (``np.int64(8)``); never a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite real number, numpy's included (``np.float32(1.2)``); never a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _optional(check: Check) -> Check:
    """``check``, or none."""
    return (lambda v: v is None or check[0](v), check[1] + " or none")


def _or_none(check: Check, optional: bool) -> Check:
    return _optional(check) if optional else check


def _positive_int(optional: bool = False) -> Check:
    return _or_none((lambda v: _is_int(v) and v >= 1, "a positive integer"), optional)


def _integer(optional: bool = False) -> Check:
    return _or_none((_is_int, "an integer"), optional)


def _number(low: float, high: float | None = None, *, above: bool = False) -> Check:
    def ok(value: Any) -> bool:
        if not _is_number(value):
            return False
        return (value > low if above else value >= low) and (high is None or value <= high)

    bound = f"> {low}" if above else f">= {low}"
    return ok, f"a number {bound}" + (f" and <= {high}" if high is not None else "")


def _one_of(names: Sequence[str], optional: bool = False) -> Check:
    return _or_none((lambda v: v in names, f"one of {', '.join(map(repr, names))}"), optional)


def _text(optional: bool = False) -> Check:
    return _or_none((lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"), optional)


_FLAG: Check = (lambda v: isinstance(v, bool), "true or false")
_SIMULATED: dict[str, Check] = {
    "noise_prob": _number(0.0, 1.0),
    "seed": _integer(),
    "group_seed": _integer(),
    "docs_per_query": _positive_int(optional=True),
    "name": _text(optional=True),
}
_GENERATION: dict[str, Check] = {
    "max_new_tokens": _positive_int(),
    "temperature": _number(0.0),
    "top_p": _number(0.0, 1.0, above=True),
}

OPTION_VALUES: Mapping[str, Mapping[str, Check]] = {
    "bm25": {
        "k1": _number(0.0),  # 0: term frequency ignored (binary BM25), a legitimate setting
        "b": _number(0.0, 1.0),
        "method": _one_of(BM25_METHODS),
        "stemmer": _text(optional=True),
        "show_progress": _FLAG,
        "threads": _positive_int(optional=True),
        "kernel": _one_of(KERNELS, optional=True),
        "name": _text(),
    },
    "dense": {
        "model": (lambda v: v is None or isinstance(v, (str, os.PathLike)), "a path or none"),
        "index": _one_of(INDEX_KINDS),
        "batch_size": _positive_int(optional=True),
        "device": _text(optional=True),
        "normalize": _FLAG,
        "show_progress": _FLAG,
        "nlist": _positive_int(optional=True),
        "nprobe": _positive_int(),
        "hnsw_m": _positive_int(),
        "ef_construction": _positive_int(),
        "ef_search": _positive_int(),
        "backend": _one_of(BACKENDS),
        "name": _text(),
    },
    "hybrid": {
        "rrf_k": _number(0.0),
        "depth": _positive_int(),
        "name": _text(optional=True),
        "weights": (
            lambda v: (
                v is None
                or (
                    isinstance(v, Sequence | np.ndarray)
                    and not isinstance(v, str)
                    and all(_is_number(w) and w >= 0 for w in v)
                    and any(w > 0 for w in v)
                )
            ),
            "a list of non-negative numbers, one positive",
        ),
        "show_progress": _FLAG,
    },
    "remote": {
        "url": (
            lambda v: isinstance(v, str) and v.strip().startswith(("http://", "https://")),
            "an http:// or https:// URL",
        ),
        "timeout": _optional(_number(0.0, above=True)),  # none: no timeout (httpx's reading)
        "max_retries": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
        "backoff": _number(0.0),
        "batch_size": _positive_int(),
        "name": _text(),
        "api_key": _text(optional=True),
    },
    "simulated": _SIMULATED,
    "simulated_llm": {
        **_SIMULATED,
        **_GENERATION,
        "docs_per_query": _positive_int(),
        "include_answer": _FLAG,
        "max_facts": _positive_int(),
    },
    "self": {**_GENERATION, "seed": _integer(optional=True), "check": _FLAG, "prompt_template": _text()},
}


def check_option_values(engine: str, options: Mapping[str, Any], *, label: str | None = None) -> None:
    """Raise ``ValueError`` (one line) for the first option value ``engine`` cannot take;
    ``label`` names the component in the message when it is not the engine itself (the noise
    wrapper checks ``noise_prob`` by the simulated engine's rule)."""
    checks = OPTION_VALUES.get(engine, {})
    who = label or f"engine {engine!r}"
    for option in sorted(options):
        check = checks.get(option)
        if check is not None and not check[0](options[option]):
            raise ValueError(f"{who}: option {option!r} must be {check[1]}, got {options[option]!r}")
