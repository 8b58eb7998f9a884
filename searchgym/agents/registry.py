"""Agent names for the CLI (``--agents oracle,heuristic,random,llm``) and custom agents.

``--agents`` takes registered names and import specs: ``my_pkg.my_mod:MyAgent`` (a module on
the path; the current directory is searched first, as ``python -m`` would) or
``path/to/file.py:MyAgent``. The object named is a class or a factory; it is called with the
``--agent-option``\\ s its signature accepts. :func:`register_agent` adds a name.

Each entry knows which options it takes, so the CLI can warn about an option no agent of the
run uses instead of ignoring it silently.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from searchgym.agents.base import Agent, PrivilegedAgent

__all__ = ["AGENTS", "AgentError", "accepted_options", "load_object", "make_agent", "register_agent"]


class AgentError(ValueError):
    """An agent name, import spec or option is wrong; the message is one line for the CLI."""


@dataclass(frozen=True)
class AgentEntry:
    factory: Callable[..., Agent | PrivilegedAgent]
    options: frozenset[str] | None  # the option names it takes; None: any (it accepts **kwargs)


def _oracle(**_: Any) -> PrivilegedAgent:
    from searchgym.agents.oracle import OracleAgent

    return OracleAgent()


def _heuristic(**_: Any) -> Agent:
    from searchgym.agents.heuristic import HeuristicAgent

    return HeuristicAgent()


def _random(**_: Any) -> Agent:
    from searchgym.agents.random_agent import RandomAgent

    return RandomAgent()


_LLM_OPTIONS = ("max_new_tokens", "temperature", "top_p", "seed", "batch_size", "chat")
_LOCAL_OPTIONS = _LLM_OPTIONS + ("model", "device", "dtype", "num_threads")
_OPENAI_OPTIONS = _LLM_OPTIONS + ("base_url", "model", "api_key", "timeout", "max_retries")


def _pick(options: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {name: options[name] for name in names if name in options}


def _llm(**options: Any) -> Agent:
    """``--agents llm --agent-option model=/path/to/hf_folder`` (default: bundled SmolLM2)."""
    from searchgym.agents.llm import LLMAgent

    picked = _pick(options, _LOCAL_OPTIONS)
    model = picked.pop("model", None)
    return LLMAgent(None if model is None else str(model), **picked)


def _openai(**options: Any) -> Agent:
    """``--agents openai --agent-option base_url=http://host:8000/v1 --agent-option model=name``."""
    from searchgym.agents.llm import OpenAIAgent

    if not options.get("base_url") or not options.get("model"):
        raise AgentError(
            "the openai agent needs --agent-option base_url=http://host:port/v1 "
            "and --agent-option model=<served model id>"
        )
    picked = _pick(options, _OPENAI_OPTIONS)
    return OpenAIAgent(str(picked.pop("base_url")), str(picked.pop("model")), **picked)


AGENTS: dict[str, AgentEntry] = {
    "oracle": AgentEntry(_oracle, frozenset()),
    "heuristic": AgentEntry(_heuristic, frozenset()),
    "random": AgentEntry(_random, frozenset()),
    "llm": AgentEntry(_llm, frozenset(_LOCAL_OPTIONS)),
    "openai": AgentEntry(_openai, frozenset(_OPENAI_OPTIONS)),
}


def _signature_options(factory: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword options a callable takes (``None`` if it takes ``**kwargs``)."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return frozenset(
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    )


def register_agent(name: str, factory: Callable[..., Agent], options: Iterable[str] | None = None) -> None:
    """Make ``--agents NAME`` build an agent with ``factory(**options)``.

    ``options``: the ``--agent-option`` names the factory takes (default: read from its
    signature; a factory taking ``**kwargs`` gets every option). Options it does not take are
    not passed, and the CLI warns when no agent of a run takes one.
    """
    if not name or "," in name or ":" in name:
        raise AgentError(f"agent name {name!r} must be non-empty without ',' or ':'")
    AGENTS[name] = AgentEntry(factory, frozenset(options) if options is not None else _signature_options(factory))


def load_object(spec: str) -> Any:
    """The object ``module.path:attr`` or ``file.py:attr`` names (one-line :class:`AgentError`)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise AgentError(f"{spec!r} is not an import spec; write module.path:Name or path/to/file.py:Name")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).resolve()
            if not path.is_file():
                raise AgentError(f"--agents {spec}: no file {module_name}")
            loader = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(loader)  # type: ignore[arg-type]
            sys.modules.setdefault(path.stem, module)
            loader.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))  # what `python -m` does; console scripts do not
            module = importlib.import_module(module_name)
    except AgentError:
        raise
    except ImportError as error:
        raise AgentError(f"--agents {spec}: cannot import {module_name!r} ({error})") from None
    except Exception as error:  # noqa: BLE001 - the user's module failed at import: say where
        raise AgentError(f"--agents {spec}: importing {module_name!r} raised {type(error).__name__}: {error}") from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(module) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise AgentError(f"--agents {spec}: {module_name} has no attribute {part!r}{hint}")
        target = getattr(target, part)
    return target


def accepted_options(name: str) -> frozenset[str] | None:
    """The option names agent ``name`` (registered or an import spec) takes; ``None``: any."""
    if name in AGENTS:
        return AGENTS[name].options
    if ":" in name:
        return _signature_options(load_object(name))
    raise _unknown(name)


def _unknown(name: str) -> AgentError:
    close = difflib.get_close_matches(name, list(AGENTS), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return AgentError(
        f"unknown agent {name!r}; {hint}available: {', '.join(sorted(AGENTS))}, "
        "or a custom agent as module.path:ClassName"
    )


def _check_protocol(agent: Any, name: str) -> Agent:
    missing = [method for method in ("begin", "act") if not callable(getattr(agent, method, None))]
    if missing:
        raise AgentError(f"{name} is not an agent: it has no {' or '.join(missing)}() (see the Agent protocol)")
    if not isinstance(getattr(agent, "name", None), str) or not agent.name:
        try:
            agent.name = name.rpartition(":")[2].rpartition(".")[2]
        except AttributeError:
            raise AgentError(f"{name} has no 'name' attribute and none can be set") from None
    return agent


def make_agent(name: str, **options: Any) -> Agent:
    """Build agent ``name`` (registered, or ``module:Class``) with the options it takes."""
    if name in AGENTS:
        entry = AGENTS[name]
    elif ":" in name:
        factory = load_object(name)
        if not callable(factory):
            raise AgentError(f"--agents {name}: {factory!r} is not a class or a function")
        entry = AgentEntry(factory, _signature_options(factory))
    else:
        raise _unknown(name)
    given = options if entry.options is None else {k: v for k, v in options.items() if k in entry.options}
    try:
        agent = entry.factory(**given)
    except AgentError:
        raise
    except (TypeError, ValueError) as error:
        raise AgentError(f"cannot build agent {name!r} with options {given}: {error}") from None
    return _check_protocol(agent, name)
