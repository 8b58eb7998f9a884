"""Where the bundled data (``envs/`` specs, ``corpora/`` schemas) lives.

In a source checkout or an editable install the folders sit at the repository root; in a wheel
they are packed inside the package as ``searchgym/_data/`` (see ``pyproject.toml``). Every
reader goes through :func:`data_path` so both layouts work.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_FOLDERS = ("envs", "corpora")


def data_path(folder: str) -> Path:
    """The directory of a bundled data folder (``"envs"`` or ``"corpora"``)."""
    if folder not in BUNDLED_FOLDERS:
        raise ValueError(f"unknown data folder {folder!r}; expected one of {BUNDLED_FOLDERS}")
    for candidate in (_PACKAGE_DIR / "_data" / folder, _PACKAGE_DIR.parent / folder):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"searchgym's bundled {folder!r} folder is missing (looked in {_PACKAGE_DIR / '_data'} and "
        f"{_PACKAGE_DIR.parent}); reinstall the package"
    )
