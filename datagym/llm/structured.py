"""Structured replies: JSON read out of an LLM's text, validated by a pydantic model, with one
repair turn. Models wrap JSON in prose and code fences, trail commas or stop mid-object; the
first reply that fails is shown back to the model with the validation error, once. A second
failure is counted (``invalid_json`` in the client's ``usage.failures``) and gives None: an
agent goes on without it, never crashes."""

from __future__ import annotations

import json
import re
from typing import Any, Sequence, TypeVar

from pydantic import BaseModel, ValidationError

from datagym.llm.client import LLMClient, LLMReply, Message

INVALID_JSON = "invalid_json"
_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\r?\n?(.*?)```", re.DOTALL | re.IGNORECASE)

ModelT = TypeVar("ModelT", bound=BaseModel)


def extract_json(text: str) -> Any:
    """The JSON value in ``text``: the whole text, else the first fenced block, else the first
    balanced ``{...}`` or ``[...]``. Raises ValueError when there is none."""
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                return decoder.raw_decode(text, i)[0]
            except ValueError:
                continue
    raise ValueError("no JSON value in the reply")


def parse(text: str, model: type[ModelT]) -> ModelT:
    """``text``'s JSON validated as ``model``; ValueError (or pydantic's ValidationError) says why not."""
    return model.model_validate(extract_json(text))


def complete_structured(
    client: LLMClient, messages: Sequence[Message], model: type[ModelT], sample: Any = 0
) -> tuple[ModelT | None, list[LLMReply]]:
    """Ask, parse as ``model``, and on failure repair once; (the value or None, the replies)."""
    conversation = list(messages)
    replies = []
    for turn in range(2):
        reply = client.complete(conversation, sample=sample)
        replies.append(reply)
        if not reply.ok:
            return None, replies
        try:
            return parse(reply.text or "", model), replies
        except (ValueError, ValidationError) as exc:
            problem = _describe(exc)
        if turn == 0:
            conversation += [
                {"role": "assistant", "content": reply.text or ""},
                {"role": "user", "content": (
                    f"That reply could not be used: {problem}. Reply again with only a JSON value that matches "
                    f"this JSON schema, and nothing else:\n{json.dumps(model.model_json_schema())}"
                )},
            ]
    client.record_failure(INVALID_JSON)
    return None, replies


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        errors = exc.errors()[:3]
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in errors)
    return str(exc)


def complete_structured_many(
    client: LLMClient, conversations: Sequence[Sequence[Message]], model: type[ModelT], samples: Sequence[Any]
) -> list[ModelT | None]:
    """``complete_structured`` for each conversation (its sample index from ``samples``), the
    client's ``concurrency`` at a time; the values (or None) in order."""
    from concurrent.futures import ThreadPoolExecutor

    def ask(k: int) -> ModelT | None:
        return complete_structured(client, conversations[k], model, sample=samples[k])[0]

    workers = min(client.settings.concurrency, len(conversations))
    if workers <= 1:
        return [ask(k) for k in range(len(conversations))]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(ask, range(len(conversations))))
