"""verl curriculum sampler: a searchgym curriculum picks the rows of verl's training dataloader.

verl's interface (``verl/experimental/dataset/sampler.py``, verl 0.4-0.8):
``AbstractCurriculumSampler(data_source, data_config)`` is a ``torch.utils.data.Sampler[int]``
over dataset row indices with ``update(batch: DataProto)``, which ``RayPPOTrainer`` calls after
scoring each batch (``data.sampler.class_path`` / ``class_name`` select it,
``data.dataloader_num_workers=0``). verl 0.9 dropped that hook; there the sampler is handed to
``RayPPOTrainer(train_sampler=...)`` and ``update`` is called by the training loop's owner.

:class:`SearchGymCurriculumSampler` maps the dataset's rows (exported by ``searchgym export
--format verl``: ``extra_info.task_key``) to task keys, draws each next row from a
:class:`~searchgym.curricula.TaskSampler` (default: the tier curriculum, promoted by tier on
measured success), and feeds it the batch's outcomes in ``update``: per row its ``task_key`` and
its score (``token_level_scores`` summed over the response, or a ``score`` / ``em`` column of the
reward's extra info).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sized
from typing import Any

from torch.utils.data import Sampler

from searchgym.curricula import TIER_STAGES, StageCurriculum


def _base_class() -> type:
    """verl's abstract class where it exists (a torch ``Sampler``), else torch's ``Sampler``."""
    try:
        return importlib.import_module("verl.experimental.dataset.sampler").AbstractCurriculumSampler
    except Exception:  # noqa: BLE001 - verl absent, or 0.9+ without the experimental sampler module
        return Sampler


_Base: Any = _base_class()

__all__ = ["SearchGymCurriculumSampler", "row_task_keys"]


def _get(config: Any, key: str, default: Any = None) -> Any:
    if config is None:
        return default
    if isinstance(config, Mapping):
        return config.get(key, default)
    getter = getattr(config, "get", None)
    return getter(key, default) if callable(getter) else getattr(config, key, default)


def row_task_keys(data_source: Any) -> list[str]:
    """The ``task_key`` of every row: from verl's ``RLHFDataset.dataframe`` when present (no
    tokenisation), else from each item's ``extra_info``."""
    frame = getattr(data_source, "dataframe", None)
    if frame is not None:
        column = frame["extra_info"]
        rows = column if isinstance(column, list) else list(column)
    else:
        rows = [data_source[i].get("extra_info") or {} for i in range(len(data_source))]
    keys = []
    for index, extra in enumerate(rows):
        key = (extra or {}).get("task_key")
        if not key:
            raise ValueError(f"row {index} has no extra_info.task_key: export the dataset with searchgym export")
        keys.append(str(key))
    return keys


class SearchGymCurriculumSampler(_Base):
    """verl ``AbstractCurriculumSampler`` over a searchgym-exported dataset.

    Args:
        data_source: verl's train dataset (``RLHFDataset``) or any sized dataset of rows with
            ``extra_info.task_key``.
        data_config: verl's ``data`` config; ``data.sampler`` may hold ``env_id`` (default: the
            rows' env), ``overrides`` (the env overrides the dataset was exported with),
            ``stages`` (default: :data:`~searchgym.curricula.TIER_STAGES`), ``promote_at``,
            ``demote_at``, ``window``, ``min_episodes``, ``success_threshold`` and ``seed``.
        curriculum: a ready :class:`~searchgym.curricula.TaskSampler` (replaces the config).
    """

    def __init__(self, data_source: Sized, data_config: Any = None, *, curriculum: Any = None) -> None:
        self.data_source = data_source
        self.keys = row_task_keys(data_source)
        self.rows: dict[str, list[int]] = {}
        for index, key in enumerate(self.keys):
            self.rows.setdefault(key, []).append(index)
        options = _get(data_config, "sampler", None) or {}
        self.success_threshold = float(_get(options, "success_threshold", 1.0))
        self.curriculum = curriculum if curriculum is not None else self._tier_curriculum(options)
        self._draws = 0

    def _tier_curriculum(self, options: Any) -> StageCurriculum:
        from searchgym.integrations.tool_session import make_env

        env_id = _get(options, "env_id", None) or _first_env_id(self.data_source)
        overrides = dict(_get(options, "overrides", None) or {})
        env = make_env(str(env_id), **overrides)
        stages = [dict(s) for s in (_get(options, "stages", None) or TIER_STAGES)]
        curriculum = StageCurriculum.for_env(
            env,
            stages,
            promote_at=float(_get(options, "promote_at", 0.6)),
            demote_at=float(_get(options, "demote_at", 0.2)),
            window=int(_get(options, "window", 50)),
            min_episodes=_get(options, "min_episodes", None),
            success_threshold=self.success_threshold,
            seed=int(_get(options, "seed", 0)),
        )
        # keep only the tasks this dataset holds (a stage the dataset lacks is an error)
        for index, keys in enumerate(curriculum.stage_keys):
            kept = [key for key in keys if key in self.rows]
            if not kept:
                raise ValueError(f"stage {index} {curriculum.stages[index]} has no task in this dataset")
            curriculum.stage_keys[index] = kept
        return curriculum

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[int]:
        """``len(dataset)`` row indices, each drawn when the dataloader asks for it, so a
        promotion applied by :meth:`update` takes effect within the epoch."""
        for _ in range(len(self.keys)):
            key = self.curriculum.sample()
            rows = self.rows[key]
            self._draws += 1
            yield rows[self._draws % len(rows)]

    def update(self, batch: Any) -> None:
        """Feed the outcomes of a scored batch (verl ``DataProto``) to the curriculum."""
        extra = batch.non_tensor_batch.get("extra_info")
        if extra is None:
            return
        scores = _batch_scores(batch)
        metric = getattr(self.curriculum, "success_metric", "em")  # the info key the curriculum reads
        for index, info in enumerate(extra):
            key = (info or {}).get("task_key")
            if key is not None and index < len(scores):
                self.curriculum.observe({"task_key": key, metric: scores[index]})

    def state_dict(self) -> dict[str, Any]:
        return {"curriculum": self.curriculum.state_dict(), "draws": self._draws}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.curriculum.load_state_dict(state["curriculum"])
        self._draws = int(state.get("draws", 0))


def _first_env_id(data_source: Any) -> str:
    frame = getattr(data_source, "dataframe", None)
    row = frame[0] if frame is not None else data_source[0]
    return str((row.get("extra_info") or {}).get("env_id") or row.get("data_source") or "SearchQA-v0")


def _batch_scores(batch: Any) -> list[float]:
    """Per-row outcome of a scored verl batch."""
    tensors = getattr(batch, "batch", None)
    if tensors is not None and "token_level_scores" in tensors.keys():  # noqa: SIM118 - a TensorDict
        return [float(x) for x in tensors["token_level_scores"].sum(-1).tolist()]
    for key in ("score", "em", "acc"):
        column = batch.non_tensor_batch.get(key)
        if column is not None:
            return [float(x) for x in column]
    return []
