"""One client for every OpenAI-compatible endpoint (vLLM, ``transformers serve``, llama.cpp,
OpenAI), built on the ``openai`` package, with what a data-generation episode needs on top:

- **retries** with exponential backoff on 429, 5xx, timeouts and dropped connections (a
  ``Retry-After`` header is honoured, up to ``max_backoff``). They are ours, not the ``openai``
  package's (``max_retries=0`` there), because every failed attempt is counted by its reason;
- **N requests in flight** (``concurrency``), from a thread pool over one ``openai.OpenAI``
  client (its HTTP connection pool is thread-safe);
- **a response cache on disk**, keyed by endpoint, model, messages, parameters and sample
  index, so that running or resuming an episode with the same seed replays the same replies
  and makes no request;
- **token accounting** (``LLMUsage``): requests, prompt and completion tokens, cache hits,
  failures by reason;
- **a token budget**: once the tokens of the replies (cached ones included, so that a replay
  takes the same path) reach it, no more requests are made and each call says so.

A call never raises for what the endpoint does: a reply that could not be had is an
``LLMReply`` with ``error`` set (and counted), so an agent can finish its episode whatever the
model or the network does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

from datagym.errors import ConfigError

log = logging.getLogger(__name__)

#: the key sent when the variable named by ``api_key_env`` is unset (local servers take any)
DUMMY_KEY = "EMPTY"
#: why an attempt failed, as counted in ``LLMUsage.failures``
RATE_LIMITED, SERVER_ERROR, TIMEOUT, CONNECTION, CLIENT_ERROR, BAD_REPLY, BUDGET = (
    "rate_limited", "server_error", "timeout", "connection", "client_error", "bad_reply", "token_budget",
)
RETRIED = (RATE_LIMITED, SERVER_ERROR, TIMEOUT, CONNECTION)

Message = dict[str, str]


@dataclass
class LLMSettings:
    """Where to send requests and how. Every field is a JSON value, so agents take them as options."""

    base_url: str = "http://127.0.0.1:8000/v1"  # the endpoint's OpenAI-compatible root (…/v1)
    model: str = ""  # the model name the endpoint serves
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the key (unset: a dummy key)
    temperature: float = 0.0  # sampling temperature
    seed: int | None = 0  # sampling seed, for endpoints that honour it
    max_tokens: int = 1024  # the longest reply, in tokens
    timeout: float = 60.0  # seconds one attempt may take
    max_retries: int = 4  # further attempts after a retryable failure (429, 5xx, timeout, dropped connection)
    backoff: float = 0.5  # seconds before the first retry; doubled each time
    max_backoff: float = 30.0  # the longest wait between attempts (a Retry-After header included)
    concurrency: int = 4  # requests in flight at once
    cache_dir: str | None = None  # replies are kept here and replayed (None: no cache)
    token_budget: int | None = None  # prompt + completion tokens an episode may spend (None: no limit)

    def __post_init__(self) -> None:
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"Expected base_url to be an http(s) URL such as 'http://127.0.0.1:8000/v1', "
                              f"got {self.base_url!r}.")
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(f"Expected model to name the model the endpoint serves (e.g. 'Qwen/Qwen2.5-7B-Instruct'), "
                              f"got {self.model!r}.")
        for name in ("max_tokens", "concurrency"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Expected {name} to be a positive integer, got {value!r}.")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(f"Expected max_retries to be an integer >= 0, got {self.max_retries!r}.")
        for name in ("timeout", "backoff", "max_backoff", "temperature"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (name == "timeout" and value == 0):
                raise ConfigError(f"Expected {name} to be a number >= 0{' (above 0)' if name == 'timeout' else ''}, "
                                  f"got {value!r}.")
        budget = self.token_budget
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
            raise ConfigError(f"Expected token_budget to be a positive integer or None, got {budget!r}.")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "LLMSettings":
        """Settings from agent or engine options; an unknown key raises ConfigError naming the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"Unknown LLM option(s) {unknown}; expected some of {sorted(known)}.")
        return cls(**options)


def default_cache_dir() -> str:
    """Where replies are cached when the options name no ``cache_dir``: ``$DATAGYM_LLM_CACHE``,
    else ``~/.cache/datagym/llm``."""
    return os.environ.get("DATAGYM_LLM_CACHE") or str(Path.home() / ".cache" / "datagym" / "llm")


def cached_settings(options: dict[str, Any], named_by: str = "the LLM options") -> LLMSettings:
    """Settings from an agent's, the engine's or discovery's options, cached in ``default_cache_dir()``
    unless they say otherwise (``"cache_dir": null`` turns the cache off). Options without a model
    raise ConfigError naming where they came from (``named_by``) and what they need."""
    if not options.get("model"):
        raise ConfigError(
            f"Expected {named_by} to name the model and the endpoint, e.g. "
            "'{\"base_url\": \"http://127.0.0.1:8000/v1\", \"model\": \"Qwen/Qwen2.5-7B-Instruct\"}'; got "
            f"{sorted(options) or 'none'}."
        )
    return LLMSettings.from_options({"cache_dir": default_cache_dir(), **options})


@dataclass
class LLMReply:
    """One reply: its text, or why there is none (``error``, one of the failure reasons)."""

    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class LLMUsage:
    """What a client has spent: counters that only grow (``since`` gives a step's share)."""

    requests: int = 0  # HTTP attempts made (each retry is one)
    replies: int = 0  # calls answered, from the endpoint or the cache
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    failures: Counter = field(default_factory=Counter)  # failed attempts and refused calls, by reason
    budget_exhausted: bool = False

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def copy(self) -> "LLMUsage":
        return LLMUsage(self.requests, self.replies, self.prompt_tokens, self.completion_tokens, self.cache_hits,
                        Counter(self.failures), self.budget_exhausted)

    def since(self, earlier: "LLMUsage") -> "LLMUsage":
        failures = Counter(self.failures)
        failures.subtract(earlier.failures)
        return LLMUsage(self.requests - earlier.requests, self.replies - earlier.replies,
                        self.prompt_tokens - earlier.prompt_tokens, self.completion_tokens - earlier.completion_tokens,
                        self.cache_hits - earlier.cache_hits, +failures, self.budget_exhausted)

    def info(self, prefix: str = "teacher/llm_") -> dict[str, Any]:
        """The counters as ``info`` keys (``teacher/llm_requests``, ...)."""
        return {
            f"{prefix}requests": self.requests, f"{prefix}replies": self.replies,
            f"{prefix}prompt_tokens": self.prompt_tokens, f"{prefix}completion_tokens": self.completion_tokens,
            f"{prefix}cache_hits": self.cache_hits, f"{prefix}failures": dict(sorted(self.failures.items())),
            f"{prefix}budget_exhausted": self.budget_exhausted,
        }

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["failures"] = dict(sorted(self.failures.items()))
        return out


class LLMClient:
    """Chat completions from an OpenAI-compatible endpoint; see the module docstring.

    >>> client = LLMClient(LLMSettings(base_url="http://127.0.0.1:8000/v1", model="my-model"))  # doctest: +SKIP
    >>> client.complete([{"role": "user", "content": "Say hi."}]).text  # doctest: +SKIP
    """

    def __init__(self, settings: LLMSettings | None = None, **options: Any) -> None:
        if settings is not None and options:
            raise ConfigError("Expected LLMSettings or keyword options, got both.")
        self.settings = settings if settings is not None else LLMSettings.from_options(options)
        self.usage = LLMUsage()
        self._lock = threading.Lock()
        self._openai: Any = None
        self._cache = Path(self.settings.cache_dir) if self.settings.cache_dir else None

    # -- pickling: the settings and the usage travel, the HTTP client does not -------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings, "usage": self.usage}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["settings"])
        self.usage = state["usage"]

    @property
    def openai(self) -> Any:
        if self._openai is None:
            import openai

            key = os.environ.get(self.settings.api_key_env) or DUMMY_KEY
            self._openai = openai.OpenAI(base_url=self.settings.base_url, api_key=key,
                                         timeout=self.settings.timeout, max_retries=0)
        return self._openai

    def close(self) -> None:
        if self._openai is not None:
            self._openai.close()
            self._openai = None

    # -- calls -------------------------------------------------------------------------------
    def complete(self, messages: Sequence[Message], sample: Any = 0, **params: Any) -> LLMReply:
        """One chat completion of ``messages``. ``sample`` tells apart calls with the same messages
        (the k-th sample of a prompt; any JSON value, e.g. ``[seed, step, k]``); ``params`` are extra
        request fields (``response_format``...)."""
        messages = _checked_messages(messages)
        request = self._request(messages, params)
        key = self._key(request, sample)
        cached = self._cached(key)
        if cached is not None:
            return self._account(cached, from_cache=True)
        with self._lock:
            if self.settings.token_budget is not None and self.usage.tokens >= self.settings.token_budget:
                self.usage.budget_exhausted = True
                self.usage.failures[BUDGET] += 1
                return LLMReply(None, error=BUDGET)
        reply = self._send(request)
        if reply.ok:
            self._store(key, reply)
        return self._account(reply, from_cache=False)

    def complete_many(self, conversations: Sequence[Sequence[Message]], samples: Sequence[Any] | None = None,
                      **params: Any) -> list[LLMReply]:
        """``complete`` for each conversation, ``concurrency`` at a time; the replies in order."""
        samples = list(range(len(conversations))) if samples is None else list(samples)
        if len(samples) != len(conversations):
            raise ValueError(f"Expected one sample index per conversation ({len(conversations)}), got {len(samples)}.")
        if self.settings.concurrency == 1 or len(conversations) < 2:
            return [self.complete(c, s, **params) for c, s in zip(conversations, samples)]
        with ThreadPoolExecutor(max_workers=self.settings.concurrency) as pool:
            return list(pool.map(lambda pair: self.complete(pair[0], pair[1], **params), zip(conversations, samples)))

    # -- the parts ---------------------------------------------------------------------------
    def _request(self, messages: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        request = {"model": s.model, "messages": messages, "temperature": s.temperature, "max_tokens": s.max_tokens}
        if s.seed is not None:
            request["seed"] = s.seed
        request.update(params)
        return request

    def _key(self, request: dict[str, Any], sample: Any) -> str:
        blob = json.dumps({"endpoint": self.settings.base_url.rstrip("/"), "request": request, "sample": sample},
                          sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _cached(self, key: str) -> LLMReply | None:
        if self._cache is None:
            return None
        path = self._cache / key[:2] / f"{key}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return LLMReply(data["text"], data["prompt_tokens"], data["completion_tokens"], cached=True)

    def _store(self, key: str, reply: LLMReply) -> None:
        if self._cache is None:
            return
        folder = self._cache / key[:2]
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
        temporary.write_text(json.dumps({"text": reply.text, "prompt_tokens": reply.prompt_tokens,
                                         "completion_tokens": reply.completion_tokens}))
        os.replace(temporary, folder / f"{key}.json")  # whole or absent: a killed run leaves no torn entry

    def _account(self, reply: LLMReply, from_cache: bool) -> LLMReply:
        with self._lock:
            if reply.ok:
                self.usage.replies += 1
                self.usage.prompt_tokens += reply.prompt_tokens
                self.usage.completion_tokens += reply.completion_tokens
                self.usage.cache_hits += int(from_cache)
        return reply

    def _send(self, request: dict[str, Any]) -> LLMReply:
        import openai

        s = self.settings
        wait = s.backoff
        reason = CONNECTION
        for attempt in range(s.max_retries + 1):
            with self._lock:
                self.usage.requests += 1
            retry_after = None
            try:
                response = self.openai.chat.completions.create(**request)
            except openai.APITimeoutError:
                reason = TIMEOUT
            except openai.APIConnectionError:
                reason = CONNECTION
            except openai.RateLimitError as exc:
                reason, retry_after = RATE_LIMITED, _retry_after(exc)
            except openai.APIStatusError as exc:
                if exc.status_code >= 500:
                    reason, retry_after = SERVER_ERROR, _retry_after(exc)
                else:
                    log.warning("LLM request refused (%s): %s", exc.status_code, str(exc)[:200])
                    return self._failed(CLIENT_ERROR)
            except openai.OpenAIError as exc:  # a reply the package could not read
                log.warning("LLM reply unreadable: %s", str(exc)[:200])
                return self._failed(BAD_REPLY)
            else:
                return _reply_of(response) or self._failed(BAD_REPLY)
            with self._lock:
                self.usage.failures[reason] += 1
            if attempt < s.max_retries:
                time.sleep(min(s.max_backoff, retry_after if retry_after is not None else wait))
                wait *= 2
        log.warning("LLM request given up after %d attempts (last: %s)", s.max_retries + 1, reason)
        return LLMReply(None, error=reason)

    def record_failure(self, reason: str) -> None:
        """Count a failure of ``reason`` (the structured-reply layer counts ``invalid_json`` here)."""
        with self._lock:
            self.usage.failures[reason] += 1

    def _failed(self, reason: str) -> LLMReply:
        self.record_failure(reason)
        return LLMReply(None, error=reason)


def _checked_messages(messages: Sequence[Message]) -> list[Message]:
    out = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or not isinstance(
            message.get("content"), str
        ):
            raise TypeError(f"Expected messages as {{'role': str, 'content': str}} dicts, got {message!r}.")
        out.append({"role": message["role"], "content": message["content"]})
    return out


def _retry_after(exc: Any) -> float | None:
    try:
        return max(0.0, float(exc.response.headers.get("retry-after")))
    except (AttributeError, TypeError, ValueError):
        return None


def _reply_of(response: Any) -> LLMReply | None:
    try:
        text = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        return None
    if not isinstance(text, str):
        return None
    usage = getattr(response, "usage", None)
    return LLMReply(text, int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0))
