"""What every LLM policy shares: its client, its prompt templates, and its per-step accounting.

An LLM agent's options are the client's settings (``datagym.llm.LLMSettings``: ``base_url``,
``model``, ``api_key_env``, ``temperature``, ``seed``, ``max_tokens``, ``timeout``,
``max_retries``, ``backoff``, ``concurrency``, ``cache_dir``, ``token_budget``) plus the few of
its own, so ``--agent-options '{"base_url": "http://127.0.0.1:8000/v1", "model": "..."}'`` is
all a user writes. Replies are cached on disk (``cache_dir``, by default ``$DATAGYM_LLM_CACHE``
or ``~/.cache/datagym/llm``), so a re-run or a resumed run with the same seed replays them
and makes no request.

Prompts are Jinja templates in ``agents/prompts/``, rendered with ``StrictUndefined``: a
template that names a field the observation does not have raises instead of rendering blank
(DataEnvGym's MATH template once rendered its error examples empty through a wrong attribute
path, silently).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datagym.llm import LLMClient, LLMUsage, cached_settings

PROMPTS = Path(__file__).parent / "prompts"
SYSTEM = "You are a teacher who plans training data for a machine-learning student. You reply with JSON only."
#: the longest rationale kept in a step's record (the run directory's steps.jsonl)
MAX_RATIONALE_CHARS = 2000


def render(template: str, **fields: Any) -> str:
    """The prompt template ``template`` (a file name in ``agents/prompts/``) with ``fields``;
    a field or attribute the template names and ``fields`` lacks raises ``jinja2.UndefinedError``."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PROMPTS)), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True, autoescape=False,
    )
    return environment.get_template(template).render(**fields).strip() + "\n"


class LLMPolicy:
    """The LLM half of an agent: a client built from the options, and the step's usage in ``info``.

    An agent class inherits from this first and from its level's agent base; it calls
    ``_init_llm(options)`` with the options that are not its own, ``_begin_step()`` at each act,
    ``_ask(prompt, model, k)`` for the step's k-th structured request (its cache key's sample
    index is ``[seed, step, k]``: the same seed, step and k replay the same reply). ``reset``,
    ``state_dict`` and ``load_state_dict`` are this class's, the LLM state on top of the base's.
    """

    #: LLM agents need an endpoint; offline sweeps and the generic agent tests leave them out
    needs_endpoint = True

    def _init_llm(self, options: dict[str, Any]) -> None:
        self.client = LLMClient(cached_settings(options, named_by="the LLM agent's options (--agent-options)"))
        self.episode_seed = 0
        self.steps_taken = 0
        self._mark = self.client.usage.copy()
        self._step_extra: dict[str, Any] = {}
        #: the last observation's accuracy, for the trend the prompts show (None before the first step)
        self._previous: Any = None

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)  # the agent base's: its random generator
        self.episode_seed = 0 if seed is None else int(seed)
        self.steps_taken = 0
        self.client.usage = LLMUsage()  # the token budget is the episode's
        self._mark = self.client.usage.copy()
        self._step_extra = {}
        self._previous = None

    def _begin_step(self) -> None:
        self.steps_taken += 1
        self._mark = self.client.usage.copy()
        self._step_extra = {}

    def _sample(self, k: int) -> list[int]:
        return [self.episode_seed, self.steps_taken, k]

    def step_info(self) -> dict[str, Any]:
        """This step's LLM usage (``teacher/llm_...``), merged into the step's record by the runner."""
        return {**self.client.usage.since(self._mark).info(), **self._step_extra}

    def episode_info(self) -> dict[str, Any]:
        """The episode's LLM usage, for ``summary.json``."""
        return {"teacher_llm": self.client.usage.to_dict()}

    def _ask(self, prompt: str, model: type, k: int = 0) -> Any:
        """One structured request (system and user message), the parsed value or None (counted)."""
        from datagym.llm import complete_structured

        conversation = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        return complete_structured(self.client, conversation, model, sample=self._sample(k))[0]

    def state_dict(self) -> dict[str, Any]:
        llm = {"usage": self.client.usage.copy(), "episode_seed": self.episode_seed, "steps_taken": self.steps_taken,
               "previous": self._previous}
        return {**super().state_dict(), "llm": llm}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        llm = state["llm"]
        usage: LLMUsage = llm["usage"]
        self.client.usage = usage.copy()
        self.episode_seed, self.steps_taken, self._previous = llm["episode_seed"], llm["steps_taken"], llm["previous"]
        self._mark = self.client.usage.copy()
