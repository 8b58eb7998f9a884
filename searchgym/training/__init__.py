"""What a training loop needs beside its algorithm: logging, checkpoints, curves.

:class:`RunLogger` writes every logged scalar to ``metrics.jsonl`` (the record a plot or a
reviewer reads), to TensorBoard when ``tensorboard`` is installed, and to Weights & Biases when
``wandb`` is installed and asked for. :mod:`~searchgym.training.checkpoint` saves and restores a
run (model, optimizer, trainer state) atomically so a killed job resumes where it stopped.
:func:`~searchgym.training.plots.plot_training_curves` draws the panels a trainer shows.
``baselines/train_curriculum.py`` is the loop that uses them.
"""

from searchgym.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from searchgym.training.logger import RunLogger, read_metrics
from searchgym.training.plots import plot_training_curves

__all__ = [
    "RunLogger",
    "latest_checkpoint",
    "load_checkpoint",
    "plot_training_curves",
    "read_metrics",
    "save_checkpoint",
]
