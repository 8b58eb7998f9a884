"""A Gymnasium text space that admits any Python string, for LLM observations and actions.

``gymnasium.spaces.Text`` only contains strings made of its charset (alphanumeric by default),
so real questions, documents and model outputs fall outside it and ``check_env`` fails
("The observation returned by `env.reset(seed=123)` is not within the observation space").
A charset of all of Unicode is impractical (over a million characters, surrogates). The
accepted fix, as MiniWoB++'s ``Unicode`` space does, is a ``Text`` subclass whose ``contains``
only checks the type and the length, while ``sample`` still draws from a small printable
charset with ``self.np_random`` (so sampling is seedable and deterministic).

The environment's action space is an :class:`AnyText`. ``step`` also accepts structured
tool-call mappings (see :mod:`searchgym.envs.actions`), but ``contains`` returns False for a
mapping: the declared space is the text protocol, and ``check_env`` only ever samples text.

Not flattenable: characters outside the sampling charset have no index, so
``is_np_flattenable`` is False; use vector envs with ``shared_memory=False``.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
from gymnasium.spaces import Text

__all__ = ["AnyText", "PRINTABLE"]

PRINTABLE: str = string.ascii_letters + string.digits + string.punctuation + " "
"""Default sampling charset: printable ASCII without control whitespace."""


class AnyText(Text):
    """Any ``str`` with ``min_length <= len(s) <= max_length``, over the full Unicode range.

    ``charset`` only drives :meth:`sample` (and ``character_set``); membership ignores it.
    """

    def __init__(
        self,
        max_length: int,
        *,
        min_length: int = 0,
        charset: frozenset[str] | str = PRINTABLE,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(max_length, min_length=min_length, charset=charset, seed=seed)

    def contains(self, x: Any) -> bool:
        """True for any ``str`` within the length bounds, whatever its characters."""
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"AnyText({self.min_length}, {self.max_length})"

    def __eq__(self, other: object, /) -> bool:
        return (
            isinstance(other, AnyText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
            and self.character_set == other.character_set
        )
