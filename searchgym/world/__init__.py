"""Synthetic worlds: fictional knowledge graphs generated from a schema, a size and a seed."""

from searchgym.world.generate import build_world, entity_counts
from searchgym.world.schema import Schema, SchemaError, parse_schema
from searchgym.world.schema_loading import load_schema
from searchgym.world.world import Entity, World

__all__ = ["Entity", "Schema", "SchemaError", "World", "build_world", "entity_counts", "load_schema", "parse_schema"]
