"""The wheel carries envs/ and corpora/ so an installed package finds its specs and schemas."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_bundled_data_and_resolves_it(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    wheel = next(tmp_path.glob("searchgym-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "searchgym/_data/envs/SearchQA-v0.toml" in names
    assert "searchgym/_data/corpora/schemas/default.toml" in names
    # Unpack it and check that the installed layout (no repo root around it) resolves the data.
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import searchgym.resources as r; "
             "print(r.data_path('envs')); print(r.data_path('corpora'))")
    out = subprocess.run([sys.executable, "-c", probe, str(target)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert all(line.startswith(str(target)) for line in out.stdout.split())
