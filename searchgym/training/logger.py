"""One logging call for a training run: JSONL always, TensorBoard and W&B when available.

Why JSONL first: it is the record that survives (plots, reports and reviewers read it, and it is
small enough to commit); TensorBoard and W&B are views of the same numbers. Every row is
``{"kind": ..., "step": ..., **values}`` where ``kind`` names the stream (``train``, ``eval``,
``warm_start``) and becomes the TensorBoard tag prefix (``eval/em``). On resume the rows at or
after the resumed step are dropped first, so a crash between a checkpoint and the next one never
leaves the same step logged twice (TensorBoard gets the same ``purge_step``) — except evaluations
*at* the resumed step: they measured the very model the checkpoint holds, so they stay (and are
written to TensorBoard again after its purge), and the trainer need not evaluate it twice.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from numbers import Real
from pathlib import Path
from typing import Any

from searchgym.cache import atomic_write_lines

logger = logging.getLogger(__name__)

__all__ = ["RunLogger", "read_metrics"]


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl`` (a torn last line, from a kill mid-write, is skipped)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _kept_on_resume(row: Mapping[str, Any], resume_step: int) -> bool:
    step = int(row.get("step", 0))
    return step < resume_step or row.get("kind") == "warm_start" or (row.get("kind") == "eval" and step == resume_step)


def _scalars(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric values (bools as 0/1): what TensorBoard and W&B can plot."""
    out = {}
    for key, value in values.items():
        if isinstance(value, Real) and math.isfinite(float(value)):
            out[key] = float(value)
    return out


def _wandb_wanted(requested: bool | None) -> bool:
    """``True``/``False`` is the user's choice; ``None`` (auto) means on when W&B is configured
    in the environment, so a run never stops at W&B's interactive login prompt."""
    if requested is not None:
        return requested
    return bool(os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_MODE"))


class RunLogger:
    """Log rows to ``out_dir/metrics.jsonl``, ``out_dir/tensorboard`` and optionally W&B.

    Args:
        out_dir: the run folder.
        config: the run's configuration (passed to W&B; the trainer saves it as ``config.json``).
        tensorboard: write TensorBoard event files (skipped with one warning when the
            ``tensorboard`` package is not installed).
        wandb: ``True``/``False``, or ``None`` for "when installed and configured".
        resume_step: keep the rows logged before this step and drop the rest (``None``: a new run,
            the file is emptied).
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        config: Mapping[str, Any] | None = None,
        tensorboard: bool = True,
        wandb: bool | None = None,
        wandb_project: str = "searchgym",
        resume_step: int | None = None,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / "metrics.jsonl"
        kept: list[dict[str, Any]] = []
        if resume_step is not None and self.path.exists():
            kept = [r for r in read_metrics(self.path) if _kept_on_resume(r, resume_step)]
        atomic_write_lines(self.path, [json.dumps(r, ensure_ascii=False) + "\n" for r in kept])
        self.rows_kept = kept
        self._handle = self.path.open("a", encoding="utf-8")
        self.tensorboard = self._open_tensorboard(resume_step) if tensorboard else None
        if self.tensorboard is not None and resume_step is not None:
            for row in kept:
                if int(row.get("step", 0)) >= resume_step:  # purged from TensorBoard, kept here
                    values = {key: value for key, value in row.items() if key not in ("kind", "step")}
                    self._send_tensorboard(str(row["kind"]), int(row["step"]), _scalars(values))
        self.wandb = self._open_wandb(config or {}, wandb_project) if _wandb_wanted(wandb) else None

    def _open_tensorboard(self, resume_step: int | None) -> Any:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            logger.warning("tensorboard is not installed (pip install tensorboard): logging to metrics.jsonl only")
            return None
        return SummaryWriter(str(self.out_dir / "tensorboard"), purge_step=resume_step)

    def _open_wandb(self, config: Mapping[str, Any], project: str) -> Any:
        try:
            import wandb
        except ImportError:
            logger.warning("wandb is not installed (pip install wandb): not logging to Weights & Biases")
            return None
        return wandb.init(
            project=project, config=dict(config), dir=str(self.out_dir), name=self.out_dir.name, resume="allow"
        )

    def log(self, kind: str, step: int, values: Mapping[str, Any]) -> dict[str, Any]:
        """Append one row and send its numeric values to TensorBoard/W&B as ``kind/key``."""
        row = {"kind": kind, "step": int(step), **values}
        self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._handle.flush()
        scalars = _scalars(values)
        self._send_tensorboard(kind, int(step), scalars)
        if self.wandb is not None:
            self.wandb.log({f"{kind}/{key}": value for key, value in scalars.items()}, step=int(step))
        return row

    def logged(self, kind: str, step: int) -> bool:
        """Whether a row of ``kind`` at ``step`` survived the resume (so it need not be made again)."""
        return any(row.get("kind") == kind and int(row.get("step", -1)) == step for row in self.rows_kept)

    def _send_tensorboard(self, kind: str, step: int, scalars: Mapping[str, float]) -> None:
        if self.tensorboard is None:
            return
        for key, value in scalars.items():
            self.tensorboard.add_scalar(f"{kind}/{key}", value, step)
        self.tensorboard.flush()

    def close(self) -> None:
        self._handle.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.wandb is not None:
            self.wandb.finish()

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
