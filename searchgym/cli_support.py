"""What every ``searchgym`` subcommand shares: one-line errors, checked flags, quiet progress.

Bad user input (an unknown env, agent, split or setting, a value of the wrong type, an output
path whose extension does not match its format) is a :class:`UsageError` whose one-line message
names the flag and, where it can, the closest valid value; the CLI prints it without a
traceback (``SEARCHGYM_DEBUG=1`` shows one). Progress bars go to stderr and only to a terminal;
third-party bars (bm25s, sentence-transformers, transformers) are always silenced so that piped
output is exactly the results.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = [
    "HelpFormatter",
    "Parser",
    "UsageError",
    "check_env_id",
    "check_settings",
    "closest",
    "parse_overrides",
    "port_number",
    "positive_int",
    "progress_enabled",
    "quiet_third_party_progress",
    "warn",
]


class UsageError(Exception):
    """Bad input from the user; its message is the whole (one-line) explanation."""


def closest(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""``."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def warn(message: str) -> None:
    print(f"searchgym: warning: {message}", file=sys.stderr)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in every ``--help`` (``(default: ...)``), descriptions printed as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is False or default is argparse.SUPPRESS or default == []:
            return text
        return super()._get_help_string(action) or text


_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, with the closest choice suggested."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        match = _CHOICE.search(message)
        if match:
            choices = re.findall(r"'([^']*)'", match.group(2))
            message += closest(match.group(1), choices)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return number


def port_number(value: str) -> int:
    """A TCP port in 1..65535 (the OS would otherwise wrap or refuse it, and the server would
    report a port it does not listen on)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {value!r}") from None
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"must be in 1..65535, got {value}")
    return number


def progress_enabled(no_progress: bool = False) -> bool:
    """Progress bars only on a terminal (stderr), and never with ``--no-progress``."""
    return not no_progress and sys.stderr.isatty()


def quiet_third_party_progress() -> None:
    """Silence the tqdm bars of bm25s, sentence-transformers and transformers in this process:
    searchgym draws its own (rich, on stderr) and piped output must hold only results."""
    os.environ["TQDM_DISABLE"] = "1"
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def parse_overrides(pairs: Sequence[str], flag: str = "--set") -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values are parsed as JSON when they can be (numbers, lists)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, equals, raw = pair.partition("=")
        if not equals or not key.strip():
            raise UsageError(f"{flag} expects KEY=VALUE, got {pair!r}")
        try:
            overrides[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key.strip()] = raw
    return overrides


def known_env_ids() -> list[str]:
    import gymnasium as gym

    import searchgym  # noqa: F401  (registers the envs)

    return sorted(
        env_id
        for env_id, spec in gym.registry.items()
        if "searchgym" in str(spec.entry_point) and spec.namespace is None
    )


def check_env_id(env_id: str) -> None:
    """An unknown env id is a one-line error naming the closest bundled one."""
    import gymnasium as gym

    import searchgym  # noqa: F401

    if env_id in gym.registry:
        return
    ids = known_env_ids()
    raise UsageError(
        f"unknown env {env_id!r}{closest(env_id, ids)} (bundled: {', '.join(ids)}; `searchgym info` lists them)"
    )


INTERNAL_SETTINGS = frozenset({"id", "description"})  # set by the spec file, not overridable


def user_settings() -> dict[str, Any]:
    """The :class:`~searchgym.envs.config.EnvConfig` fields a user may override, with defaults."""
    from searchgym.envs.config import FLAT_SETTINGS, EnvConfig

    defaults = EnvConfig()
    return {name: getattr(defaults, name) for name in FLAT_SETTINGS if name not in INTERNAL_SETTINGS}


def check_settings(env_id: str, overrides: dict[str, Any], flag: str = "--set") -> dict[str, Any]:
    """Check ``--set`` overrides against the env's spec before anything is built: flat settings
    (``top_k=5``) or dotted ones (``episode.top_k=5``, ``engine_options.threads=2``).

    Unknown keys get the closest setting and the list of valid ones (never internal fields);
    values of the wrong type or out of range get the spec's own one-line reason, with the default."""
    from searchgym.envs.config import SECTIONS, SpecError, load_spec

    settings = user_settings()
    for key in overrides:
        head = key.partition(".")[0]  # a dotted name: a section's field (episode.top_k) or a table's entry
        if head not in settings and (head not in SECTIONS or head == key):
            raise UsageError(
                f"{flag} {key}: unknown setting{closest(key, settings)} (settings: {', '.join(sorted(settings))})"
            )
    try:
        load_spec(env_id).with_overrides(overrides)
    except (SpecError, ValueError, TypeError) as error:
        bad = next((k for k in overrides if re.search(rf"\b{re.escape(k)}\b", str(error))), None)
        default = f" (default {settings[bad]!r})" if bad else ""
        raise UsageError(f"{flag}: {error}{default}") from None
    return overrides


def check_output_path(path: str | Path, extensions: Sequence[str], what: str) -> Path:
    """``path`` must end with one of ``extensions`` (what it will contain is ``what``)."""
    path = Path(path)
    if path.suffix.lower() not in extensions:
        raise UsageError(
            f"--output {path}: {what} goes to a {' or '.join(extensions)} file, "
            f"not {path.suffix or 'a file without extension'}"
        )
    return path
