"""Baseline agents: oracle (ceiling), classical heuristic, random (floor), and LLM agents.

Write your own with the :class:`Agent` protocol (``name``, ``begin(observation, info, seed)``,
``act(observation, info)``) and run it with ``searchgym eval --agents my_pkg.my_mod:MyAgent``,
or give it a name with :func:`register_agent`.
"""

from searchgym.agents.base import Agent, PrivilegedAgent, begin_episode, begin_episodes, is_privileged
from searchgym.agents.heuristic import HeuristicAgent
from searchgym.agents.llm import LLMAgent, OpenAIAgent
from searchgym.agents.oracle import OracleAgent
from searchgym.agents.random_agent import RandomAgent
from searchgym.agents.registry import AGENTS, AgentError, accepted_options, make_agent, register_agent

__all__ = [
    "AGENTS",
    "Agent",
    "AgentError",
    "HeuristicAgent",
    "LLMAgent",
    "OpenAIAgent",
    "OracleAgent",
    "PrivilegedAgent",
    "RandomAgent",
    "accepted_options",
    "begin_episode",
    "begin_episodes",
    "is_privileged",
    "make_agent",
    "register_agent",
]
