"""verl's reward function for searchgym rollouts, on the env's one scoring path.

``custom_reward_function.path=<searchgym/integrations/verl.py> custom_reward_function.name=
compute_score`` (the names are re-exported there). A row exported by ``searchgym export``
carries its ``task_key``, env id and env overrides in ``extra_info``: :func:`compute_score` then
REPLAYS the response's agent turns (:func:`~searchgym.integrations.tool_session.transcript_actions`)
through a :class:`~searchgym.integrations.tool_session.ToolSession` on that task, so the score
is exactly the env's reward for those actions, including a spec's ``[reward]`` composition
(reward parts, evidence, citations, format) — the same number the single env, the vector envs
and every other adapter give. A row without a ``task_key`` (a dataset made elsewhere, or
``extra_info`` lost) is scored on its answer alone, on the env's answer table
(:mod:`searchgym.envs.answer_table`): by the answer
form its ground truth declares (a list by set match, an abstention with the spec's penalty), else
with the env's answer guard and the row's own candidates; a long-form profile row raises, since
its grade needs the passages its searches returned, which only the replay knows.

Either way only the agent's LAST answer counts, and never text inside ``<information>`` /
``<tool_response>`` blocks, so a retrieved document cannot be scored as the answer (SkyRL's and
Search-R1's history-wide regexes can).
"""

from __future__ import annotations

import json
import math
import numbers
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from searchgym.answer_guard import METRICS, CandidateIndex
from searchgym.envs.answer_table import AnswerScore, score_classic, score_form_step
from searchgym.envs.episode import EPISODE_METRIC_KEYS
from searchgym.integrations.tool_session import (
    DEFAULT_ENV_ID,
    ToolSession,
    extract_final_answer,
    make_env,
    transcript_actions,
)

__all__ = [
    "METRICS_FIELD",
    "compute_score",
    "compute_score_with_metrics",
    "episode_metrics",
    "ground_truth_answers",
    "replay_response",
    "row_form",
    "score_row_answer",
]

#: ``agent_data.extra_fields`` key (hence reward ``extra_info`` key) holding a trajectory's metrics.
METRICS_FIELD = "searchgym"
_ENVS = threading.local()  # per thread: (env id, overrides) -> env, reused across reward calls


def episode_metrics(session: ToolSession | None) -> dict[str, float]:
    """A session's metrics with exactly :data:`EPISODE_METRIC_KEYS` (zeros before any step)."""
    tracked = session.metrics() if session is not None else {}
    return {key: float(tracked.get(key, 0.0)) for key in EPISODE_METRIC_KEYS}


def ground_truth_answers(ground_truth: Any) -> list[str]:
    """Answers from verl's ``ground_truth``: ``{"target": [...]}``, a list/array, or a string."""
    if isinstance(ground_truth, Mapping):
        ground_truth = ground_truth.get("target", ground_truth.get("answers", ground_truth.get("answer")))
    if ground_truth is None:
        return []
    if isinstance(ground_truth, (str, bytes)):
        return [ground_truth.decode() if isinstance(ground_truth, bytes) else ground_truth]
    if hasattr(ground_truth, "tolist"):  # numpy arrays from parquet
        ground_truth = ground_truth.tolist()
    if isinstance(ground_truth, Iterable):
        return [str(item) for item in ground_truth]
    return [str(ground_truth)]


def _row_env(data_source: str, extra_info: Mapping[str, Any], metric: str | None) -> Any:
    """The env a row was exported from (cached per thread), or None for a row without a task."""
    task_key = extra_info.get("task_key")
    if not isinstance(task_key, str) or not task_key:
        return None
    env_id = str(extra_info.get("env_id") or data_source or DEFAULT_ENV_ID)
    raw = extra_info.get("env_overrides_json") or "{}"
    overrides = json.loads(raw) if isinstance(raw, str) else dict(raw)
    if metric is not None:
        overrides["reward"] = metric
    key = (env_id, json.dumps(overrides, sort_keys=True, default=str))
    cache = getattr(_ENVS, "envs", None)
    if cache is None:
        cache = _ENVS.envs = {}
    if key not in cache:
        cache[key] = make_env(env_id, **overrides)
    return cache[key]


def replay_response(
    data_source: str, solution_str: str, extra_info: Mapping[str, Any] | None, metric: str | None = None
) -> ToolSession | None:
    """The finished episode of a response replayed on its row's task (None without a task_key)."""
    env = _row_env(data_source, extra_info or {}, metric) if isinstance(extra_info, Mapping) else None
    if env is None:
        return None
    session = ToolSession(data_source, env=env)
    session.replay(str(extra_info["task_key"]), transcript_actions(solution_str or ""))  # type: ignore[index]
    return session


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    *,
    metric: str | None = None,
    format_score: float = 0.0,
    **_: Any,
) -> float:
    """verl rule reward for a searchgym rollout (see the module doc).

    Args:
        data_source: the row's ``data_source`` (env id).
        solution_str: the decoded response (may include tool responses / observations).
        ground_truth: ``reward_model.ground_truth`` (``{"target": [answer, *aliases]}``, plus
            ``answer_kind`` / ``answer_set`` for a task of a registered answer form and the
            spec's ``abstain_penalty``: :func:`searchgym.export.task_records`); used only for
            rows without a ``task_key``.
        extra_info: the row's ``extra_info`` (``task_key``, ``env_id``, ``env_overrides_json``).
        metric: ``em``, ``f1`` or ``substring_em`` overriding the env's ``reward`` (default: the
            env's; ``em`` for rows without a task).
        format_score: reward for an answered response whose reward is 0 (Search-R1's format
            shaping; a penalty stays negative); a response without any answer always scores 0.0.
    """
    return _score_row(data_source, solution_str, ground_truth, extra_info, metric, format_score)[0]


def _score_row(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None,
    metric: str | None,
    format_score: float,
) -> tuple[float, ToolSession | None, AnswerScore | None]:
    """``(reward, the replayed session or None, the answer's score for a row without a task,
    None when it has no answer)``."""
    if metric is not None and metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    session = replay_response(data_source, solution_str, extra_info, metric)
    if session is not None:
        answered = session.base.state.prediction is not None
        return _shaped(session.reward, format_score) if answered else session.reward, session, None
    prediction = extract_final_answer(solution_str or "")
    if prediction is None:
        return 0.0, None, None
    scored = score_row_answer(prediction, ground_truth, extra_info, metric or "em")
    return _shaped(scored.reward, format_score), None, scored


def _shaped(reward: float, format_score: float) -> float:
    """Search-R1's format shaping: an answered response the reward left at exactly 0 earns
    ``format_score``. A negative reward (a penalty: abstaining on an answerable task, a spec's
    costs) stays, or abstaining everywhere would earn as much as answering honestly wrong."""
    return float(format_score) if reward == 0.0 and format_score else float(reward)


def row_form(ground_truth: Any) -> tuple[dict[str, Any], float]:
    """The answer form (``answer_kind``, ``answer_set``) and abstention penalty a row's ground
    truth declares (:func:`searchgym.export.task_records`); ``({}, 0.0)`` for a classic row."""
    if not isinstance(ground_truth, Mapping):
        return {}, 0.0
    meta: dict[str, Any] = {}
    kind = ground_truth.get("answer_kind")
    if isinstance(kind, str) and kind:
        meta["answer_kind"] = kind
        raw_set: Any = ground_truth.get("answer_set")
        if hasattr(raw_set, "tolist"):  # numpy arrays from parquet
            raw_set = raw_set.tolist()
        meta["answer_set"] = [ground_truth_answers(aliases) for aliases in raw_set or []]
    penalty = ground_truth.get("abstain_penalty")
    if penalty is None:
        return meta, 0.0
    if isinstance(penalty, bool) or not isinstance(penalty, numbers.Real) or not math.isfinite(penalty) or penalty < 0:
        raise ValueError(f"ground_truth.abstain_penalty must be a finite number >= 0, got {penalty!r}")
    return meta, float(penalty)


def score_row_answer(
    prediction: str, ground_truth: Any, extra_info: Mapping[str, Any] | None, metric: str
) -> AnswerScore:
    """An answer of a row without a task, on the env's answer table: the row's declared form
    (a list by its set, an abstention by the spec's penalty), else the anti-stuffing guard
    with the candidates the row knows (its answers and the names in its question: a hedged
    "A B" on "A or B?" must not pay). A long-form row cannot be graded this way (its grade
    needs the passages its searches returned, which only a replay on its task knows): error."""
    meta, penalty = row_form(ground_truth)
    if meta.get("answer_kind") == "longform":
        raise ValueError(
            "a long-form profile row is graded against the passages its searches returned: it "
            "needs extra_info.task_key (rows written by `searchgym export` carry it)"
        )
    by_form = score_form_step(meta, prediction, metric, penalty)
    if by_form is not None:
        return by_form
    answers = ground_truth_answers(ground_truth)
    question = (extra_info or {}).get("question") if isinstance(extra_info, Mapping) else None
    return score_classic(
        prediction,
        answers,
        metric,
        lambda: CandidateIndex.from_texts(answers, question if isinstance(question, str) else None),
    )


def compute_score_with_metrics(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """:func:`compute_score` plus the episode's metrics (verl logs every key of a dict reward).

    A row with a ``task_key`` reports the replayed episode's metrics (EM, F1, evidence recall,
    turns, searches ...). Otherwise the metrics the stateful tools stored in
    ``extra_info["searchgym"]`` are reported, with ``em`` / ``reward`` / ``answered`` from the
    transcript's answer (in tool mode the env never sees the answer); zeros when neither exists
    (same keys for every row, as verl requires).
    """
    score, session, scored = _score_row(
        data_source,
        solution_str,
        ground_truth,
        extra_info,
        kwargs.get("metric"),
        float(kwargs.get("format_score", 0.0)),
    )
    if session is not None:
        return {"score": score, **episode_metrics(session), "reward": score}
    tracked = (extra_info or {}).get(METRICS_FIELD) or {}
    metrics = {key: float(tracked.get(key, 0.0)) for key in EPISODE_METRIC_KEYS}
    metrics.update(  # EM and F1 of an answer do not depend on the metric that pays it
        reward=score,
        answered=float(scored is not None),
        em=0.0 if scored is None else float(scored.em),
        f1=0.0 if scored is None else float(scored.f1),
    )
    return {"score": score, **metrics}
