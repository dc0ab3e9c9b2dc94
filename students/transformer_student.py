"""The CPU default student: a small transformers causal LM built from a config, no download.

Training is a plain PyTorch loop over pre-tokenised, length-bucketed batches (no padding
inside a batch, so no attention masks are needed and nothing is wasted on pad tokens);
evaluation is batched greedy decoding with the model's KV cache, questions grouped by prompt
length so that every row of a batch decodes in lock step without padding.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from datagym.errors import ConfigError
from datagym.student import TRAINING_MODES, Student, config_from_kwargs
from datagym.types import Example
from datagym.students.char_tokenizer import DEFAULT_ALPHABET, EOS, PAD, CharTokenizer, alphabet_for

if TYPE_CHECKING:
    from datagym.task import Task

#: the name of the KV-cache argument (and output field) of the model's ``forward``: transformers
#: renamed ``past_key_values`` to ``cache`` in 5.x and warns on the old name, so use whichever
#: the installed version declares (both work, neither warns)
CACHE_ARGUMENT = "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters else "past_key_values"


#: how training examples are cut into batches: ``length`` groups sequences of one length (no
#: padding; in arithmetic that is mostly one skill per batch); ``mixed`` draws batches at random
#: and right-pads them (a causal model never attends from a real token to a pad on its right, so
#: no attention mask is needed; pads carry no loss)
BATCHINGS = ("length", "mixed")
#: the learning rate over one ``train`` call (a step's training): constant, or a linear warm-up
#: over its first 5% of updates and a cosine decay to 10% of the peak by its last
LR_SCHEDULES = ("constant", "cosine")


def cosine_factor(update: int, total: int, warmup: float = 0.05, floor: float = 0.1) -> float:
    """The learning-rate multiplier of update ``update`` (0-based) of ``total`` under ``cosine``."""
    warm = max(int(round(warmup * total)), 1)
    if update < warm:
        return (update + 1) / warm
    progress = (update - warm) / max(total - warm - 1, 1)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


@dataclass
class TransformerStudentConfig:
    """Settings of the default student (the v1 envs'). Defaults finish the default 10-step
    episode in under a minute on 2 cores; ``V0_SETTINGS`` are the v0 envs' differences."""

    n_layer: int = 2  # transformer blocks
    n_embd: int = 64  # hidden size (v0: 128)
    n_head: int = 4  # attention heads
    learning_rate: float = 1e-3  # AdamW learning rate
    weight_decay: float = 0.0  # AdamW weight decay
    batch_size: int = 32  # examples per optimiser update (v0: 16)
    epochs: int = 8  # passes over each step's new data (continual) or over all data (retrain)
    replay: float = 1.0  # continual: also train on this many old examples per new one (a replay sample)
    mode: str = "continual"  # continual | retrain
    max_new_tokens: int = 8  # longest answer the student can write
    eval_batch_size: int = 1024  # questions decoded together
    torch_threads: int | str = "auto"  # torch intra-op threads; 0 leaves torch's alone; "auto": a Ray worker's CPUs, else every core (v0: 1)
    reverse_digits: bool = True  # write answers' digits least-significant first, as carries flow (v0: False)
    alphabet: str | None = None  # a fixed vocabulary (must cover the task's characters); None: built from the task
    batching: str = "mixed"  # mixed: random, right-padded | length: batches of one sequence length, no padding (v0)
    fused_adamw: bool = True  # torch's fused AdamW kernel (same algorithm, ~7% faster updates, last-bit differences; v0: False)
    lr_schedule: str = "constant"  # constant | cosine: each train() call warms up over 5% of its updates, then decays to 10%

    def __post_init__(self) -> None:
        if self.mode not in TRAINING_MODES:
            raise ConfigError(f"Expected student mode one of {TRAINING_MODES}, got {self.mode!r}.")
        for name in ("n_layer", "n_embd", "n_head", "batch_size", "epochs", "max_new_tokens", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Expected student {name} to be a positive integer, got {value!r}.")
        if self.n_embd % self.n_head:
            raise ConfigError(
                f"Expected n_embd divisible by n_head, got n_embd={self.n_embd}, n_head={self.n_head}."
            )
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (lr > 0 and math.isfinite(lr)):
            raise ConfigError(f"Expected a positive learning_rate, got {self.learning_rate!r}.")
        if not (isinstance(self.replay, (int, float)) and 0 <= self.replay < math.inf):
            raise ConfigError(f"Expected replay >= 0 (old examples per new one), got {self.replay!r}.")
        threads = self.torch_threads
        if threads != "auto" and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 0):
            raise ConfigError(f"Expected torch_threads an integer >= 0 or 'auto', got {self.torch_threads!r}.")
        if self.batching not in BATCHINGS:
            raise ConfigError(f"Expected student batching one of {BATCHINGS}, got {self.batching!r}.")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"Expected student lr_schedule one of {LR_SCHEDULES}, got {self.lr_schedule!r}.")
        if not isinstance(self.fused_adamw, bool):
            raise ConfigError(f"Expected student fused_adamw to be true or false, got {self.fused_adamw!r}.")
        if self.alphabet is not None:
            if not isinstance(self.alphabet, str):
                raise ConfigError(
                    f"Expected student alphabet to be a string of characters (or None to build it from the "
                    f"task), got {self.alphabet!r}."
                )
            CharTokenizer(self.alphabet)  # no repeats, contains '='

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "TransformerStudentConfig":
        return config_from_kwargs(cls, kwargs)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A config pickled before an option existed was a v0 student's: fill the option in
        # with its v0 value, not with today's default.
        self.__dict__.update({**v0_values(), **state})


#: the settings in which the v0 envs' student (``transformer_v0``, datagym/Arithmetic-*-v0)
#: differs from today's defaults; with them, v0 episodes reproduce exactly
V0_SETTINGS: dict[str, Any] = {
    "n_embd": 128,
    "batch_size": 16,
    "torch_threads": 1,
    "reverse_digits": False,
    "batching": "length",
    "fused_adamw": False,
}


def v0_values() -> dict[str, Any]:
    """Every option of the v0 student, as ``asdict`` gives it (the fill-in for old saves)."""
    return {**{f.name: f.default for f in fields(TransformerStudentConfig)}, **V0_SETTINGS}


def auto_threads() -> int:
    """``torch_threads="auto"``: inside a Ray worker the CPUs Ray assigned it (at least 1), so
    parallel trials do not fight over cores; anywhere else every core this process may use."""
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        context = ray.get_runtime_context()
        if context.worker.mode == ray._private.worker.WORKER_MODE:
            return max(int(context.get_assigned_resources().get("CPU", 1)), 1)
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


class TransformerStudent(Student):
    """A Llama-architecture causal LM of a few hundred thousand parameters on characters.

    Its vocabulary is one token per character. ``prepare(task)`` (the env calls it) builds it
    from the task: ``DEFAULT_ALPHABET`` first, then the task's other characters
    (``task.characters()``) in code-point order, so arithmetic keeps the ids it always had and a
    task with capitals, colons, quotes or newlines can be learned. The option ``alphabet``
    fixes the vocabulary instead; ``prepare`` then raises ``ConfigError`` if the task needs a
    character it lacks. Without ``prepare`` the vocabulary is ``alphabet`` or ``DEFAULT_ALPHABET``.
    """

    def __init__(self, config: TransformerStudentConfig | None = None, **kwargs: Any) -> None:
        if config is not None and kwargs:
            raise ConfigError("Pass either a TransformerStudentConfig or keyword options, not both.")
        self.config = config or TransformerStudentConfig.from_kwargs(**kwargs)
        self.mode = self.config.mode
        self.tokenizer = CharTokenizer(self.config.alphabet or DEFAULT_ALPHABET)
        self.model: LlamaForCausalLM | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._initial_weights: dict[str, torch.Tensor] | None = None
        self._seen: list[Example] = []
        self._rng = np.random.default_rng(0)

    # -- life cycle -------------------------------------------------------------------------
    def _model_config(self) -> LlamaConfig:
        c = self.config
        return LlamaConfig(
            vocab_size=self.tokenizer.vocab_size,
            hidden_size=c.n_embd,
            intermediate_size=4 * c.n_embd,
            num_hidden_layers=c.n_layer,
            num_attention_heads=c.n_head,
            num_key_value_heads=c.n_head,
            max_position_embeddings=128,
            attention_dropout=0.0,
            tie_word_embeddings=True,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
        )

    def prepare(self, task: "Task") -> None:
        """Build the vocabulary for ``task`` (see the class docstring); call before ``reset``.

        A vocabulary that changes drops the weights (call ``reset`` again): the embedding
        table's size is the vocabulary's.
        """
        needed = task.characters()
        if self.config.alphabet is not None:
            missing = self.tokenizer.unknown(needed)
            if missing:
                raise ConfigError(
                    f"Expected the student's alphabet to contain every character of task "
                    f"{getattr(task, 'name', type(task).__name__)!r}, but it cannot encode "
                    f"{', '.join(repr(ch) for ch in missing)} (they would all read as UNK, and the student could "
                    f"never write them). Add them to student_options['alphabet'], or leave alphabet unset (None) "
                    f"so the student builds its vocabulary from the task."
                )
            return
        alphabet = alphabet_for(needed)
        if alphabet != self.tokenizer.alphabet:
            self.tokenizer = CharTokenizer(alphabet)
            self.model = self.optimizer = self._initial_weights = None
            self._seen = []

    def unencodable(self, text: str) -> list[str]:
        """The characters of ``text`` outside the vocabulary, sorted by code point."""
        return self.tokenizer.unknown(text)

    def _set_threads(self) -> None:
        threads = auto_threads() if self.config.torch_threads == "auto" else self.config.torch_threads
        if threads and threads != torch.get_num_threads():
            torch.set_num_threads(threads)

    def reset(self, seed: int) -> None:
        self._set_threads()
        # Weight init draws from torch's global generator; fork it so the caller's is untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.model = LlamaForCausalLM(self._model_config())
        self.model.train()
        self._initial_weights = copy.deepcopy(self.model.state_dict())
        self.optimizer = self._new_optimizer()
        self._seen = []
        self._rng = np.random.default_rng(int(seed))

    def _new_optimizer(self) -> torch.optim.Optimizer:
        assert self.model is not None
        extra = {"fused": True} if self.config.fused_adamw else {}
        return torch.optim.AdamW(
            self.model.parameters(), lr=self.config.learning_rate, weight_decay=self.config.weight_decay, **extra
        )

    def _require_model(self) -> LlamaForCausalLM:
        if self.model is None:
            raise RuntimeError("The student has no weights yet: call reset(seed) first.")
        return self.model

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self._require_model().parameters())

    # -- training ---------------------------------------------------------------------------
    def _encode_example(self, example: Example) -> tuple[list[int], int]:
        prompt = self.tokenizer.encode_prompt(example.question)
        answer = self.tokenizer.encode(self._to_target(example.answer)) + [EOS]
        return prompt + answer, len(prompt)

    def make_batches(self, examples: Sequence[Example], rng: np.random.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled batches of (input_ids, labels): of one sequence length each (``batching=
        "length"``), or drawn at random and right-padded with PAD, its labels -100 (``"mixed"``)."""
        encoded = [self._encode_example(ex) for ex in examples]
        order = rng.permutation(len(encoded))
        if self.config.batching == "mixed":
            return [self._padded([encoded[int(i)] for i in order[start : start + self.config.batch_size]])
                    for start in range(0, len(order), self.config.batch_size)]
        by_length: dict[int, list[int]] = {}
        for i in order:
            by_length.setdefault(len(encoded[i][0]), []).append(int(i))
        batches = []
        bs = self.config.batch_size
        for idx in by_length.values():
            for start in range(0, len(idx), bs):
                chunk = [encoded[i] for i in idx[start : start + bs]]
                ids = torch.tensor([seq for seq, _ in chunk], dtype=torch.long)
                labels = ids.clone()
                for row, (_, n_prompt) in enumerate(chunk):
                    labels[row, :n_prompt] = -100
                batches.append((ids, labels))
        batch_order = rng.permutation(len(batches))
        return [batches[i] for i in batch_order]

    @staticmethod
    def _padded(chunk: list[tuple[list[int], int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(seq) for seq, _ in chunk)
        ids = torch.full((len(chunk), width), PAD, dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        for row, (seq, n_prompt) in enumerate(chunk):
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            labels[row, n_prompt : len(seq)] = ids[row, n_prompt : len(seq)]
        return ids, labels

    def train(self, examples: Sequence[Example]) -> dict[str, float]:
        model = self._require_model()
        assert self.optimizer is not None
        self._set_threads()
        examples = list(examples)
        old = self._seen
        self._seen = old + examples
        if self.mode == "retrain":
            model.load_state_dict(self._initial_weights)
            self.optimizer = self._new_optimizer()
            data = self._seen
        else:
            data = examples + self._replay_sample(old, len(examples))
        if not data:
            return {"loss": float("nan"), "updates": 0.0}
        model.train()
        total, updates = 0.0, 0
        epochs = [self.make_batches(data, self._rng) for _ in range(self.config.epochs)]
        planned = sum(len(batches) for batches in epochs)
        for batches in epochs:
            for ids, labels in batches:
                if self.config.lr_schedule == "cosine":
                    for group in self.optimizer.param_groups:
                        group["lr"] = self.config.learning_rate * cosine_factor(updates, planned)
                # use_cache=False: no KV cache is built for a forward that is only trained on
                logits = model(input_ids=ids, use_cache=False).logits
                loss = torch.nn.functional.cross_entropy(
                    logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), ignore_index=-100
                )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                total += float(loss.detach())
                updates += 1
        return {"loss": total / updates, "updates": float(updates)}

    def _replay_sample(self, old: list[Example], n_new: int) -> list[Example]:
        """``replay`` old examples per new one, drawn without replacement (continual mode)."""
        k = min(len(old), int(round(self.config.replay * n_new)))
        if k == 0:
            return []
        return [old[i] for i in self._rng.choice(len(old), size=k, replace=False)]

    @torch.inference_mode()
    def loss(self, examples: Sequence[Example]) -> list[float]:
        model = self._require_model()
        self._set_threads()
        model.eval()
        encoded = [self._encode_example(ex) for ex in examples]
        by_length: dict[int, list[int]] = {}
        for i, (seq, _) in enumerate(encoded):
            by_length.setdefault(len(seq), []).append(i)
        losses = [0.0] * len(encoded)
        for idx_all in by_length.values():
            for start in range(0, len(idx_all), self.config.eval_batch_size):
                idx = idx_all[start : start + self.config.eval_batch_size]
                ids = torch.tensor([encoded[i][0] for i in idx], dtype=torch.long)
                labels = ids.clone()
                for row, i in enumerate(idx):
                    labels[row, : encoded[i][1]] = -100
                logits = model(input_ids=ids, use_cache=False).logits[:, :-1]
                nll = torch.nn.functional.cross_entropy(
                    logits.transpose(1, 2), labels[:, 1:], ignore_index=-100, reduction="none"
                )
                per_example = nll.sum(1) / (labels[:, 1:] != -100).sum(1)
                for i, value in zip(idx, per_example.tolist()):
                    losses[i] = float(value)
        model.train()
        return losses

    # -- inference --------------------------------------------------------------------------
    @torch.inference_mode()
    def predict(self, questions: Sequence[str]) -> list[str]:
        model = self._require_model()
        self._set_threads()
        model.eval()
        prompts = [self.tokenizer.encode_prompt(q) for q in questions]
        by_length: dict[int, list[int]] = {}
        for i, p in enumerate(prompts):
            by_length.setdefault(len(p), []).append(i)
        answers = [""] * len(prompts)
        for idx_all in by_length.values():
            for start in range(0, len(idx_all), self.config.eval_batch_size):
                idx = idx_all[start : start + self.config.eval_batch_size]
                ids = torch.tensor([prompts[i] for i in idx], dtype=torch.long)
                for row, text in zip(idx, self._greedy(model, ids)):
                    answers[row] = text
        model.train()
        return answers

    def _greedy(self, model: LlamaForCausalLM, ids: torch.Tensor) -> list[str]:
        out = model(input_ids=ids, use_cache=True)
        cache = getattr(out, CACHE_ARGUMENT)
        generated = []
        done = torch.zeros(ids.size(0), dtype=torch.bool)
        next_ids = out.logits[:, -1].argmax(-1)
        for step in range(self.config.max_new_tokens):
            generated.append(next_ids)
            done |= next_ids == EOS
            if bool(done.all()) or step == self.config.max_new_tokens - 1:
                break
            out = model(input_ids=next_ids[:, None], use_cache=True, **{CACHE_ARGUMENT: cache})
            cache = getattr(out, CACHE_ARGUMENT)
            next_ids = out.logits[:, -1].argmax(-1)
        tokens = torch.stack(generated, dim=1).tolist()
        return [self._to_target(self.tokenizer.decode(row)) for row in tokens]

    def _to_target(self, answer: str) -> str:
        """Reverse the digits of a number (the sign stays in front); self-inverse."""
        if not self.config.reverse_digits:
            return answer
        sign = "-" if answer.startswith("-") else ""
        return sign + answer[len(sign) :][::-1]

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        model = self._require_model()
        assert self.optimizer is not None
        return {
            "config": asdict(self.config),
            "model": copy.deepcopy(model.state_dict()),
            "initial_model": copy.deepcopy(self._initial_weights),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "seen": [ex.to_json() for ex in self._seen],
            "rng": copy.deepcopy(self._rng.bit_generator.state),
            "alphabet": self.tokenizer.alphabet,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("config")
        if isinstance(saved, dict):
            saved = {**v0_values(), **saved}  # saved before some option existed: a v0 student's
        if saved != asdict(self.config):
            raise ConfigError(
                f"Expected a state saved by a student with config {asdict(self.config)}, "
                f"got one saved with {state.get('config')}."
            )
        # The state's vocabulary, which its weights were made for (states from before the
        # vocabulary was saved used the default one).
        alphabet = state.get("alphabet", DEFAULT_ALPHABET)
        if alphabet != self.tokenizer.alphabet:
            self.tokenizer = CharTokenizer(alphabet)
        with torch.random.fork_rng(devices=[]):
            self.model = LlamaForCausalLM(self._model_config())
        self.model.load_state_dict(state["model"])
        self.model.train()
        self._initial_weights = copy.deepcopy(state["initial_model"])
        self.optimizer = self._new_optimizer()
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self._seen = [Example.from_json(d) for d in state["seen"]]
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = copy.deepcopy(state["rng"])


class TransformerStudentV0(TransformerStudent):
    """The v0 envs' student (``student="transformer_v0"``): ``TransformerStudent`` with
    ``V0_SETTINGS`` as its defaults (128 wide, batches of 16 of one length, one thread, plain
    AdamW, answers written most-significant digit first). Options given still override them."""

    def __init__(self, config: TransformerStudentConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **({} if config is not None else {**V0_SETTINGS, **kwargs}))
