"""Baseline agents: oracle (ceiling), classical heuristic, random (floor), and LLM agents."""

from searchgym.agents.base import Agent
from searchgym.agents.heuristic import HeuristicAgent
from searchgym.agents.llm import LLMAgent, OpenAIAgent
from searchgym.agents.oracle import OracleAgent
from searchgym.agents.random_agent import RandomAgent
from searchgym.agents.registry import AGENTS, make_agent

__all__ = ["AGENTS", "Agent", "HeuristicAgent", "LLMAgent", "OpenAIAgent", "OracleAgent", "RandomAgent", "make_agent"]
