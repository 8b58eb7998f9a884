"""verl config files: the tool config (``multi_turn.tool_config_path``) for the search tools.

``tool="verl"`` targets verl's own ``verl.tools.search_tool.SearchTool`` (verl <= 0.8),
``tool="searchgym"`` the stateful :class:`~searchgym.integrations.verl.SearchGymSearchTool` /
:class:`~searchgym.integrations.verl.SearchGymAccessTool`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from searchgym.envs.tools import tool_schemas
from searchgym.integrations.tool_session import DEFAULT_ENV_ID

__all__ = ["search_tool_config", "write_search_tool_config", "write_yaml_config"]

_TOOLS_MODULE = "searchgym.integrations.verl"


def search_tool_config(
    url: str = "http://127.0.0.1:8000",
    *,
    tool: str = "searchgym",
    topk: int = 3,
    timeout: int = 30,
    num_workers: int = 120,
    rate_limit: int = 120,
    include_access: bool = True,
    env_id: str = DEFAULT_ENV_ID,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """verl ``tool_config_path`` content (a dict; :func:`write_search_tool_config` writes YAML).

    ``url`` is the ``searchgym serve`` base url (``/retrieve`` is appended when missing).
    ``tool="verl"`` configures verl's built-in ``SearchTool`` (search only);
    ``tool="searchgym"`` configures this module's tools (search and, with ``include_access``,
    access); ``overrides`` are the env overrides the dataset was exported with (the stateful
    tools rebuild that env to track each row's episode).
    """
    base = url.rstrip("/")
    retrieve = base if base.endswith("/retrieve") else base + "/retrieve"
    search_schema = tool_schemas(allow_access=False, multi_query=True)[0]
    if tool == "verl":
        return {
            "tools": [
                {
                    "class_name": "verl.tools.search_tool.SearchTool",
                    "config": {
                        "retrieval_service_url": retrieve,
                        "num_workers": num_workers,
                        "rate_limit": rate_limit,
                        "timeout": timeout,
                        "topk": topk,
                        "type": "native",
                    },
                    "tool_schema": search_schema,
                }
            ]
        }
    if tool != "searchgym":
        raise ValueError(f"tool must be 'searchgym' or 'verl', got {tool!r}")
    common = {"retrieval_service_url": retrieve, "topk": topk, "timeout": timeout, "env_id": env_id, "type": "native"}
    if overrides:
        common["overrides"] = dict(overrides)
    tools = [
        {"class_name": f"{_TOOLS_MODULE}.SearchGymSearchTool", "config": dict(common), "tool_schema": search_schema}
    ]
    if include_access:
        access_schema = next(s for s in tool_schemas(allow_access=True) if s["function"]["name"] == "access")
        tools.append(
            {"class_name": f"{_TOOLS_MODULE}.SearchGymAccessTool", "config": dict(common), "tool_schema": access_schema}
        )
    return {"tools": tools}


def write_yaml_config(path: str | Path, config: Any) -> Path:
    """Write a verl config file as YAML (JSON, a YAML subset, if PyYAML is missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import yaml

        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    except ImportError:  # pragma: no cover
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def write_search_tool_config(path: str | Path, url: str = "http://127.0.0.1:8000", **kwargs: Any) -> Path:
    """Write :func:`search_tool_config` to ``path`` (what ``multi_turn.tool_config_path`` reads)."""
    return write_yaml_config(path, search_tool_config(url, **kwargs))
