"""``HFStudent`` (student ``"hf"``): any Hugging Face causal LM, fully fine-tuned or with LoRA.

A pretrained model (a hub id or a local folder, ``student_options={"model": ...}``) is trained
on each step's examples with a plain PyTorch loop and answers with batched greedy generation:

- **prompts**: the tokenizer's chat template when it has one (an optional system message, the
  question as the user's turn, the answer as the assistant's), else ``prompt_template``; the
  loss is on the answer's tokens only (and the end-of-sequence token);
- **LoRA**: ``lora`` is a dict of peft ``LoraConfig`` fields (``{"r": 16, "lora_alpha": 32,
  "target_modules": ["q_proj", "v_proj"]}``); ``None`` trains every weight;
- **modes**: ``continual`` trains the current weights on each step's new data; ``retrain``
  trains a fresh adapter (or the base weights again) on all data so far, as DataEnvGym does;
- **answers**: the completion is cut to the answer by the task's ``answer_format``
  (``first_line``, the default; ``completion`` for code; ``boxed`` for math: the last
  ``\\boxed{...}``, else the last number), so extra text after an answer is not held against it;
- **inference**: ``hf`` (the default) answers with transformers' ``generate`` on the student's
  own model; ``vllm`` (the ``vllm`` extra, a CUDA device) answers with vLLM
  (``students/vllm_inference.py``) on the same GPU: after each ``train()`` the new adapter is
  served under a fresh ``LoRARequest`` name and id (never one vLLM has cached), or a full
  fine-tune's weights are loaded into the engine; vLLM takes ``vllm_gpu_memory_utilization`` of
  the GPU and, with ``vllm_sleep_mode``, sleeps while the student trains. Greedy either way.

``state_dict`` holds what is trained (the adapter's or the model's weights), the optimizer, the
random state and the data seen, never the base model, which is loaded again from ``model``:
a run resumes exactly and the student pickles (for Ray) as its settings and that state (a vLLM
engine is never pickled: the copy builds its own on first use).
"""

from __future__ import annotations

import copy
import importlib.util
import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from datagym.errors import ConfigError
from datagym.student import TRAINING_MODES, Student, config_from_kwargs
from datagym.types import Example

ANSWER_FORMATS = ("first_line", "completion", "boxed")
DTYPES = ("auto", "float32", "bfloat16", "float16")
INFERENCE = ("hf", "vllm")


@dataclass
class HFStudentConfig:
    """Settings of the Hugging Face student. ``model`` is required."""

    model: str = ""  # a hub id or a local folder holding a causal LM and its tokenizer
    dtype: str = "auto"  # auto (bfloat16 on a GPU, float32 on a CPU) | float32 | bfloat16 | float16
    device: str = "auto"  # auto (CUDA when present) | cpu | cuda | cuda:N
    lora: dict | None = None  # peft LoraConfig fields; None: full fine-tuning
    mode: str = "continual"  # continual | retrain (a fresh adapter or weights on all data so far)
    learning_rate: float = 1e-4  # AdamW learning rate
    weight_decay: float = 0.0
    epochs: int = 1  # passes over each step's data (continual) or over all data (retrain)
    batch_size: int = 8  # examples per forward pass
    gradient_accumulation: int = 1  # forward passes per optimiser update
    max_length: int = 512  # longest training sequence in tokens (longer ones are cut from the left of the prompt)
    warmup: float = 0.0  # share of each train() call's updates with a linearly rising learning rate
    gradient_checkpointing: bool = False
    max_new_tokens: int = 64  # longest completion
    eval_batch_size: int = 16  # questions generated together
    system_prompt: str | None = None  # a system message before each question (chat templates only)
    prompt_template: str = "Question: {question}\nAnswer: "  # without a chat template
    answer_format: str | None = None  # first_line | completion | boxed; None: the task's (first_line if it has none)
    inference: str = "hf"  # hf: transformers' generate | vllm: vLLM on the student's GPU (the vllm extra; CUDA only)
    vllm_gpu_memory_utilization: float = 0.5  # vllm: GPU share vLLM takes (weights, KV cache); training has the rest
    vllm_sleep_mode: bool = True  # vllm: vLLM frees its GPU memory while training (sleep level 1 LoRA, 2 full)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError("Expected student option model: a hub id or a local folder with a causal LM "
                              "(student_options={\"model\": \"Qwen/Qwen2.5-0.5B-Instruct\"}), got none.")
        if self.mode not in TRAINING_MODES:
            raise ConfigError(f"Expected student mode one of {TRAINING_MODES}, got {self.mode!r}.")
        if self.dtype not in DTYPES:
            raise ConfigError(f"Expected dtype one of {DTYPES}, got {self.dtype!r}.")
        for name in ("epochs", "batch_size", "gradient_accumulation", "max_length", "max_new_tokens", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Expected student {name} to be a positive integer, got {value!r}.")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ConfigError(f"Expected a positive learning_rate, got {self.learning_rate!r}.")
        if not (isinstance(self.warmup, (int, float)) and 0 <= self.warmup < 1):
            raise ConfigError(f"Expected warmup in [0, 1), got {self.warmup!r}.")
        if self.lora is not None and not isinstance(self.lora, dict):
            raise ConfigError(f"Expected lora to be a dict of peft LoraConfig fields or None, got {self.lora!r}.")
        if self.answer_format is not None and self.answer_format not in ANSWER_FORMATS:
            raise ConfigError(f"Expected answer_format one of {ANSWER_FORMATS} or None, got {self.answer_format!r}.")
        if self.inference not in INFERENCE:
            raise ConfigError(f"Expected inference one of {INFERENCE} ('hf': transformers' generate, 'vllm': vLLM "
                              f"on a GPU), got {self.inference!r}.")
        memory = self.vllm_gpu_memory_utilization
        if isinstance(memory, bool) or not isinstance(memory, (int, float)) or not 0 < memory < 1:
            raise ConfigError(f"Expected vllm_gpu_memory_utilization in (0, 1) (the share of the GPU vLLM takes; "
                              f"training uses the rest), got {memory!r}.")
        if not isinstance(self.vllm_sleep_mode, bool):
            raise ConfigError(f"Expected vllm_sleep_mode to be True or False, got {self.vllm_sleep_mode!r}.")
        if self.inference == "vllm":
            if importlib.util.find_spec("vllm") is None:
                raise ConfigError("Expected the vllm package for inference='vllm', but it is not installed: "
                                  "pip install 'datagym[vllm]' (on a machine with a CUDA GPU), or use inference='hf'.")
            from datagym.students.vllm_inference import lora_rank_slot

            try:
                lora_rank_slot(self.lora_rank)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{exc} inference='vllm' cannot serve a larger adapter: lower lora's r.") from None
        if "{question}" not in self.prompt_template:
            raise ConfigError(f"Expected prompt_template to contain {{question}}, got {self.prompt_template!r}.")

    @property
    def lora_rank(self) -> int:
        """The adapter's rank: lora's ``r``, else peft's default (8)."""
        return int((self.lora or {}).get("r", 8))


def extract_answer(completion: str, answer_format: str) -> str:
    """The answer in a completion: its first non-empty line, all of it, or the last ``\\boxed{}``
    (else the last number)."""
    if answer_format == "completion":
        return completion
    if answer_format == "boxed":
        from datagym.envs.math.task import boxed_answer

        boxed = boxed_answer(completion)
        if boxed is not None:
            return boxed
        numbers = re.findall(r"-?\d+(?:\.\d+)?(?:/\d+)?", completion.replace(",", ""))
        return numbers[-1] if numbers else completion.strip()
    for line in completion.split("\n"):
        if line.strip():
            return line.strip()
    return ""


class HFStudent(Student):
    """Any ``AutoModelForCausalLM``, full or LoRA; see the module docstring for the options."""

    def __init__(self, config: HFStudentConfig | None = None, **kwargs: Any) -> None:
        if config is not None and kwargs:
            raise ConfigError("Expected an HFStudentConfig or keyword options, got both.")
        self.config = config if config is not None else config_from_kwargs(HFStudentConfig, kwargs)
        self.mode = self.config.mode
        self.answer_format = self.config.answer_format or "first_line"
        self.model: Any = None
        self.tokenizer: Any = None
        self.optimizer: Any = None
        self._base: dict[str, Any] | None = None  # full fine-tuning: the base weights, kept on the CPU for retrain and reset
        self.data: list[Example] = []
        self.rng = np.random.default_rng(0)
        self.updates = 0
        self.seed = 0
        self._vllm: Any = None  # inference="vllm": the VLLMInference, built on first use; never pickled
        self._vllm_stale = True  # the weights changed since vLLM was last given them

    # -- set-up ------------------------------------------------------------------------------
    def prepare(self, task: Any) -> None:
        if self.config.answer_format is None:
            self.answer_format = getattr(task, "answer_format", None) or "first_line"

    @property
    def device(self) -> str:
        import torch

        if self.config.device != "auto":
            return self.config.device
        return "cuda" if torch.cuda.is_available() else "cpu"

    def _dtype(self) -> Any:
        import torch

        if self.config.dtype == "auto":
            return torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        return getattr(torch, self.config.dtype)

    def _check_inference_device(self) -> None:
        if self.config.inference != "vllm":
            return
        device = self.device
        if device not in ("cuda", "cuda:0"):
            raise ConfigError(f"Expected a CUDA device for inference='vllm' (vLLM runs on the GPU it is given as "
                              f"cuda:0; pick another with CUDA_VISIBLE_DEVICES), got device {device!r}. Use "
                              f"inference='hf' on a CPU, or give the student a GPU "
                              f"(student_resources={{'num_gpus': 1}}).")

    def _load(self) -> None:
        """The model at its base weights with a fresh adapter (or none) and a fresh optimizer. The
        tokenizer and the model load once; later calls take the adapter off (LoRA never changes
        the base) or copy the kept base weights back (full fine-tuning): no second copy of the
        model in memory, nothing read from disk again."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._check_inference_device()
        if self.tokenizer is None:
            self.tokenizer = AutoTokenizer.from_pretrained(self.config.model)
            if self.tokenizer.pad_token_id is None:
                self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.model is None:
            model = AutoModelForCausalLM.from_pretrained(self.config.model, dtype=self._dtype()).to(self.device)
            if self.config.lora is None:
                self._base = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
        elif self.config.lora is not None:
            model = self.model.unload()  # the base model, as it was: LoRA trains only the adapter
        else:
            model = self.model
            model.load_state_dict(self._base)
        if self.config.lora is not None:
            from peft import LoraConfig, get_peft_model

            try:
                model = get_peft_model(model, LoraConfig(**{"task_type": "CAUSAL_LM", **self.config.lora}))
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"Expected lora to be peft LoraConfig fields for this model, got {self.config.lora!r}: "
                                  f"{exc}") from None
        if self.config.gradient_checkpointing:
            model.gradient_checkpointing_enable()
            if self.config.lora is not None:
                model.enable_input_require_grads()
        self.model = model
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=self.config.learning_rate, weight_decay=self.config.weight_decay)
        self._vllm_stale = True

    def reset(self, seed: int) -> None:
        import torch

        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self._load()
        self.data = []
        self.updates = 0

    # -- text --------------------------------------------------------------------------------
    def _messages(self, question: str) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": self.config.system_prompt}] if self.config.system_prompt else []
        return messages + [{"role": "user", "content": question}]

    def _prompt_ids(self, question: str) -> list[int]:
        tok = self.tokenizer
        if tok.chat_template:
            return list(tok.apply_chat_template(self._messages(question), add_generation_prompt=True, tokenize=True,
                                                return_dict=False))
        return tok(self.config.prompt_template.format(question=question), add_special_tokens=True)["input_ids"]

    def _encode(self, example: Example) -> tuple[list[int], list[int]]:
        """(input ids, labels): the prompt's labels -100, the answer's and the end token's their ids."""
        prompt = self._prompt_ids(example.question)
        answer = self.tokenizer(example.answer, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        ids = (prompt + answer)[-self.config.max_length:]
        labels = ([-100] * len(prompt) + answer)[-self.config.max_length:]
        return ids, labels

    def _batch(self, encoded: list[tuple[list[int], list[int]]]) -> tuple[Any, Any, Any]:
        import torch

        width = max(len(ids) for ids, _ in encoded)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        labels = torch.full((len(encoded), width), -100, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, (i, l) in enumerate(encoded):
            ids[row, : len(i)] = torch.tensor(i)
            labels[row, : len(l)] = torch.tensor(l)
            mask[row, : len(i)] = 1
        return ids.to(self.device), labels.to(self.device), mask.to(self.device)

    # -- training ----------------------------------------------------------------------------
    def train(self, examples: Sequence[Example]) -> dict[str, float]:
        import torch

        self._require()
        if self._vllm is not None:
            self._vllm.sleep()  # its GPU memory goes to training until the next predict
        self._vllm_stale = True
        self.data.extend(Example(ex.question, ex.answer, ex.skill, dict(ex.provenance)) for ex in examples)
        if self.mode == "retrain":
            self._load()  # a fresh adapter, or the base weights again, and a fresh optimizer
            pool = list(self.data)
        else:
            pool = list(examples)
        encoded = [self._encode(ex) for ex in pool]
        size, accumulate = self.config.batch_size, self.config.gradient_accumulation
        per_epoch = math.ceil(len(encoded) / size)
        total_updates = math.ceil(per_epoch * self.config.epochs / accumulate)
        warmup = int(total_updates * self.config.warmup)
        self.model.train()
        losses, tokens, done, forward = [], 0, 0, 0
        self.optimizer.zero_grad(set_to_none=True)
        for _ in range(self.config.epochs):
            order = self.rng.permutation(len(encoded))
            for start in range(0, len(order), size):
                ids, labels, mask = self._batch([encoded[i] for i in order[start:start + size]])
                loss = self.model(input_ids=ids, attention_mask=mask, labels=labels).loss
                (loss / accumulate).backward()
                losses.append(float(loss.detach()))
                tokens += int(mask.sum())
                forward += 1
                if forward % accumulate == 0 or (start + size >= len(order)):
                    scale = (done + 1) / warmup if done < warmup else 1.0
                    for group in self.optimizer.param_groups:
                        group["lr"] = self.config.learning_rate * scale
                    torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], 1.0)
                    self.optimizer.step()
                    self.optimizer.zero_grad(set_to_none=True)
                    done += 1
        self.updates += done
        self.model.eval()
        if self.config.inference == "vllm":
            self._publish_to_vllm()
        return {"loss": float(np.mean(losses)) if losses else float("nan"), "updates": float(done), "tokens": float(tokens)}

    # -- answering ---------------------------------------------------------------------------
    def predict(self, questions: Sequence[str]) -> list[str]:
        self._require()
        if self.config.inference == "vllm":
            return self._predict_vllm(questions)
        return self._predict_hf(questions)

    def _predict_hf(self, questions: Sequence[str]) -> list[str]:
        import torch

        self.model.eval()
        tok = self.tokenizer
        out: list[str] = []
        for start in range(0, len(questions), self.config.eval_batch_size):
            prompts = [self._prompt_ids(q) for q in questions[start:start + self.config.eval_batch_size]]
            width = max(len(p) for p in prompts)
            ids = torch.full((len(prompts), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(prompts), width), dtype=torch.long)
            for row, p in enumerate(prompts):  # left padding: every prompt ends where generation starts
                ids[row, width - len(p):] = torch.tensor(p)
                mask[row, width - len(p):] = 1
            with torch.no_grad():
                generated = self.model.generate(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device), do_sample=False,
                    max_new_tokens=self.config.max_new_tokens, pad_token_id=tok.pad_token_id,
                    eos_token_id=tok.eos_token_id,
                )
            for row in generated[:, width:].tolist():
                text = tok.decode(row, skip_special_tokens=True)
                out.append(extract_answer(text, self.answer_format))
        return out

    # -- vLLM ----------------------------------------------------------------------------------
    def _vllm_engine(self) -> Any:
        if self._vllm is None:
            from datagym.students.vllm_inference import VLLMInference

            self._vllm = VLLMInference(
                self.config.model, lora=self.config.lora is not None, lora_rank=self.config.lora_rank,
                dtype=str(self._dtype()).removeprefix("torch."), seed=self.seed,
                gpu_memory_utilization=self.config.vllm_gpu_memory_utilization, sleep_mode=self.config.vllm_sleep_mode,
            )
        return self._vllm

    def _publish_to_vllm(self) -> None:
        """Hand the current adapter or weights to vLLM (a fresh adapter id, or weights loaded in place)."""
        self._vllm_engine().after_training(self.model, lora=self.config.lora is not None)
        self._vllm_stale = False

    def _predict_vllm(self, questions: Sequence[str]) -> list[str]:
        if self._vllm_stale:  # reset, retrain's fresh start or a loaded state since vLLM last got the weights
            self._publish_to_vllm()
        prompts = [self._prompt_ids(q) for q in questions]
        penalty = getattr(getattr(self.model, "generation_config", None), "repetition_penalty", None) or 1.0
        texts = self._vllm_engine().generate(prompts, self.config.max_new_tokens, repetition_penalty=float(penalty),
                                             decode=lambda ids: self.tokenizer.decode(ids, skip_special_tokens=True))
        return [extract_answer(text, self.answer_format) for text in texts]

    def close(self) -> None:
        """Stop the vLLM engine, if one was started, and remove its saved adapters."""
        if self._vllm is not None:
            self._vllm.close()
            self._vllm = None
        self._vllm_stale = True

    def loss(self, examples: Sequence[Example]) -> list[float]:
        import torch

        self._require()
        self.model.eval()
        values: list[float] = []
        for start in range(0, len(examples), self.config.eval_batch_size):
            ids, labels, mask = self._batch([self._encode(ex) for ex in examples[start:start + self.config.eval_batch_size]])
            with torch.no_grad():
                logits = self.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            target = labels[:, 1:]
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target.clamp(min=0), reduction="none")
            counted = (target != -100).float()
            values.extend((nll * counted).sum(1).div(counted.sum(1).clamp(min=1)).tolist())
        return values

    # -- state -------------------------------------------------------------------------------
    def _require(self) -> None:
        if self.model is None:
            from datagym.errors import DatagymError

            raise DatagymError("Expected reset(seed) before the student is trained or asked: it loads the model.")

    def _trained(self) -> dict[str, Any]:
        """What is trained: the adapter's weights, or every weight for full fine-tuning."""
        if self.config.lora is not None:
            from peft import get_peft_model_state_dict

            return {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(self.model).items()}
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def state_dict(self) -> dict[str, Any]:
        import torch

        self._require()
        return {
            "trained": self._trained(),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "data": [ex.to_json() for ex in self.data],
            "updates": self.updates,
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import torch

        self._load()
        if self.config.lora is not None:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.model, state["trained"])
        else:
            self.model.load_state_dict(state["trained"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.data = [Example.from_json(item) for item in state["data"]]
        self.updates = state["updates"]
        self.model.eval()

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "answer_format": self.answer_format,
                "state": self.state_dict() if self.model is not None else None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"])
        self.answer_format = state["answer_format"]
        if state["state"] is not None:
            self.load_state_dict(state["state"])
