"""Checkpoints a killed training job resumes from.

A checkpoint is a folder ``checkpoints/step-NNNNNN`` holding ``model/`` (``save_pretrained``
output, so the folder is itself a model ``searchgym eval --agents llm --agent-option
model=...`` can load), ``optimizer.pt``, ``rng.pt`` (torch's RNG) and ``state.json`` (the
trainer's own state: next step, curriculum, noise schedule, anything JSON). It is written to a
hidden temporary sibling and renamed into place, so a kill mid-save leaves the previous
checkpoint intact and never a half-written one that :func:`latest_checkpoint` would pick.
Only the newest ``keep`` checkpoints are kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from searchgym.cache import atomic_write_text

__all__ = ["Checkpoint", "latest_checkpoint", "load_checkpoint", "save_checkpoint"]

_NAME = re.compile(r"^step-(\d{6,})$")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int
    state: dict[str, Any]

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    def load_optimizer(self, optimizer: Any) -> None:
        import torch

        optimizer.load_state_dict(torch.load(self.path / "optimizer.pt", weights_only=True))

    def restore_rng(self) -> None:
        import torch

        torch.set_rng_state(torch.load(self.path / "rng.pt", weights_only=True))


def _complete(root: Path) -> list[tuple[int, Path]]:
    found = []
    if root.is_dir():
        for path in root.iterdir():
            match = _NAME.match(path.name)
            if match and (path / "state.json").is_file():
                found.append((int(match.group(1)), path))
    return sorted(found)


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    *,
    model: Any,
    optimizer: Any,
    state: dict[str, Any],
    tokenizer: Any = None,
    keep: int = 2,
) -> Path:
    """Save a checkpoint for resuming at ``step``; returns its folder."""
    import torch

    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{int(step):06d}"
    staging = root / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging / "model")
    if tokenizer is not None:
        tokenizer.save_pretrained(staging / "model")
    torch.save(optimizer.state_dict(), staging / "optimizer.pt")
    torch.save(torch.get_rng_state(), staging / "rng.pt")
    atomic_write_text(staging / "state.json", json.dumps({"step": int(step), **state}, indent=1))
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    for _, old in _complete(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: str | Path) -> Checkpoint | None:
    """The newest complete checkpoint of a run, or ``None``."""
    found = _complete(Path(run_dir) / "checkpoints")
    return load_checkpoint(found[-1][1]) if found else None


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    return Checkpoint(path=path, step=int(state["step"]), state=state)
