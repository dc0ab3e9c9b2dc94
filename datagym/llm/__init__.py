"""The LLM side of datagym: one client for OpenAI-compatible endpoints, and structured replies."""

from datagym.llm.client import LLMClient, LLMReply, LLMSettings, LLMUsage, cached_settings, default_cache_dir
from datagym.llm.structured import complete_structured, complete_structured_many, extract_json, parse

__all__ = ["LLMClient", "LLMReply", "LLMSettings", "LLMUsage", "cached_settings", "default_cache_dir", "complete_structured", "complete_structured_many", "extract_json", "parse"]
