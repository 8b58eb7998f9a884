"""One reward composition, declared once, applied identically on every path.

A composition is a list of weighted reward terms plus the weight kept by the reward it receives
(``env_weight``). It is written the same way everywhere:

* in an env spec, as a ``[reward]`` table (see :func:`normalize_reward_table`)::

      [reward]
      env_weight = 0.0                              # optional: weight of the env's own reward
      answer = { weight = 1.0, metric = "f1" }      # a term with options
      format = 0.2                                  # a bare weight
      evidence_strict = { term = "evidence", weight = 0.5, per_fact = 0.2 }  # a renamed copy

* as an override (``gym.make("SearchQA-v0", reward_terms={...})``, a ToolSession, a vector env,
  an adapter's ``overrides``): the same mapping;
* with wrappers: :func:`~searchgym.wrappers.rewards.compose_rewards` /
  :class:`~searchgym.wrappers.rewards.WeightedReward`.

All of them run :meth:`RewardComposition.apply`, so one composition gives the same reward,
``info["reward_parts"]`` and ``info["reward_weights"]`` whether the env scores it itself (the
spec form, which is what reaches the vector envs, Ray and every trainer adapter) or a wrapper
does. A reward term is one :class:`~searchgym.wrappers.reward_base.RewardTerm` subclass plus one
:func:`register_reward` line; its constructor arguments are its options (checked here, one line
per mistake).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from searchgym.wrappers.reward_base import RewardTerm, StepContext, merge_reward_parts

__all__ = [
    "REWARD_TERMS",
    "RewardComposition",
    "normalize_reward_table",
    "register_reward",
    "term_class",
]

#: name -> term class: the whole registry a spec, ``compose_rewards`` and ``TermReward`` read.
#: Filled by :mod:`searchgym.wrappers.rewards` (one line per term) on import.
REWARD_TERMS: dict[str, type[RewardTerm]] = {}
_TABLE_KEYS = ("term", "weight")  # keys of a term's table that are not the term's options


def register_reward(name: str, term_cls: type[RewardTerm], wrapper_cls: Any = None) -> None:
    """Make a term usable by name in specs, :func:`compose_rewards` and :class:`WeightedReward`.

    ``wrapper_cls`` is accepted for the older ``(name, wrapper, term)`` form; a term needs no
    wrapper class of its own (:class:`~searchgym.wrappers.rewards.TermReward` applies any term).
    """
    if isinstance(term_cls, type) and not issubclass(term_cls, RewardTerm) and wrapper_cls is not None:
        term_cls, wrapper_cls = wrapper_cls, term_cls  # the older (wrapper, term) argument order
    if not (isinstance(term_cls, type) and issubclass(term_cls, RewardTerm)):
        raise TypeError(f"register_reward({name!r}, ...) needs a RewardTerm subclass, got {term_cls!r}")
    REWARD_TERMS[name] = term_cls
    if wrapper_cls is not None:
        from searchgym.wrappers import rewards

        rewards.REWARD_WRAPPERS[name] = (wrapper_cls, term_cls)


def term_class(name: str) -> type[RewardTerm]:
    _load_registry()
    if name not in REWARD_TERMS:
        raise ValueError(f"unknown reward term {name!r}; known terms: {sorted(REWARD_TERMS)}")
    return REWARD_TERMS[name]


def _load_registry() -> None:
    if not REWARD_TERMS:
        import searchgym.wrappers.rewards  # noqa: F401 - fills REWARD_TERMS


def term_options(term_cls: type[RewardTerm]) -> list[str]:
    """The options a term takes: its constructor's named parameters."""
    parameters = inspect.signature(term_cls.__init__).parameters
    return [
        name for name, p in parameters.items() if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def normalize_reward_table(table: Any, *, origin: str = "[reward]") -> dict[str, Any]:
    """Check a ``[reward]`` table (or override) and return its canonical form
    ``{"env_weight": w, part name: {"term": registry name, "weight": w, **options}, ...}``.

    Every mistake is one line naming the key: an unknown term (with the known ones), an unknown
    option (with the valid ones), a weight that is not a number, an option the term rejects.
    """
    if not isinstance(table, Mapping):
        raise ValueError(
            f"{origin} must be a table of term = weight or term = {{ weight = ..., options }}, got {table!r}"
        )
    normalized: dict[str, Any] = {}
    env_weight = table.get("env_weight", 0.0)
    if not _is_number(env_weight):
        raise ValueError(f"{origin}: env_weight must be a number, got {env_weight!r}")
    normalized["env_weight"] = float(env_weight)
    for part, spec in table.items():
        if part == "env_weight":
            continue
        where = f"{origin}.{part}"
        if _is_number(spec):
            spec = {"weight": spec}
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where} must be a weight or a table {{ weight = ..., options }}, got {spec!r}")
        name = spec.get("term", part)
        if not isinstance(name, str):
            raise ValueError(f"{where}: term must be a registered term name, got {name!r}")
        try:
            term_cls = term_class(name)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        weight = spec.get("weight", 1.0)
        if not _is_number(weight):
            raise ValueError(f"{where}: weight must be a number, got {weight!r}")
        options = {key: value for key, value in spec.items() if key not in _TABLE_KEYS}
        valid = term_options(term_cls)
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(f"{where}: unknown option(s) {unknown} for term {name!r}; valid: {valid}")
        try:
            term_cls(**options)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None
        normalized[str(part)] = {"term": name, "weight": float(weight), **options}
    if len(normalized) == 1:
        raise ValueError(f"{origin} names no reward term; known terms: {sorted(REWARD_TERMS)}")
    return normalized


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class RewardComposition:
    """Weighted reward terms applied to one episode at a time.

    Args:
        terms: ``(part name, term, weight)`` in scoring order.
        env_weight: weight of the reward received (the env's own outcome reward, or the total of
            reward wrappers below); 0 drops it from the total (it stays visible as a part).
    """

    def __init__(self, terms: Sequence[tuple[str, RewardTerm, float]], env_weight: float = 0.0) -> None:
        if not terms:
            raise ValueError("a reward composition needs at least one term")
        self.terms = [(str(name), term, float(weight)) for name, term, weight in terms]
        self.env_weight = float(env_weight)

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> RewardComposition:
        """Build from a (normalized or raw) ``[reward]`` table."""
        table = normalize_reward_table(table)
        terms = []
        for part, spec in table.items():
            if part == "env_weight":
                continue
            options = {key: value for key, value in spec.items() if key not in _TABLE_KEYS}
            terms.append((part, term_class(spec["term"])(**options), spec["weight"]))
        return cls(terms, table["env_weight"])

    @property
    def weights(self) -> dict[str, float]:
        return {name: weight for name, _, weight in self.terms}

    def reset(self, env: Any, observation: str, info: dict[str, Any]) -> None:
        for _, term, _ in self.terms:
            term.reset(env, observation, info)

    def preprocess_action(self, env: Any, action: Any) -> Any:
        """The action as the env must see it (the citation term strips citations from answers)."""
        for _, term, _ in self.terms:
            action = term.preprocess_action(env, action)
        return action

    def apply(
        self,
        env: Any,
        action: Any,
        observation: str,
        reward: float,
        terminated: bool,
        truncated: bool,
        info: dict[str, Any],
    ) -> float:
        """Score every term on this step, record the parts in ``info`` and return the total.

        ``env`` is whatever the terms read the episode from (``state``, ``task``, ``config``:
        the unwrapped env or an :class:`~searchgym.envs.episode.Episode`), ``action`` the action
        as received (before :meth:`preprocess_action`), ``reward`` the reward received.
        """
        ctx = StepContext(env, action, observation, float(reward), terminated, truncated, info)
        scored = [(name, float(term.score(ctx)), weight, term.details()) for name, term, weight in self.terms]
        had_parts = bool(info.get("reward_parts"))
        total = merge_reward_parts(info, float(reward), scored, "replace")
        if self.env_weight:
            key = "env"
            if had_parts:  # above other reward wrappers: their total is the "inner" part
                key = "inner"
                while key in info["reward_parts"]:
                    key += "'"
                info["reward_parts"][key] = float(reward)
            info["reward_weights"][key] = self.env_weight
            total += self.env_weight * float(reward)
        return total

    def snapshot(self) -> list[dict[str, Any]]:
        """The terms' per-episode state (scorers and other callables are shared, not copied)."""
        return [
            {key: value if callable(value) else copy.deepcopy(value) for key, value in vars(term).items()}
            for _, term, _ in self.terms
        ]

    def restore(self, states: Sequence[Mapping[str, Any]]) -> None:
        for (_, term, _), state in zip(self.terms, states):
            for key, value in state.items():
                setattr(term, key, value if callable(value) else copy.deepcopy(value))
