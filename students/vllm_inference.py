"""vLLM inference for the hf student (``inference="vllm"``): one ``vllm.LLM`` on the student's
GPU, kept in step with what the student trains.

DataEnvGym served every iteration's LoRA adapter under the same id (1), and vLLM, which caches
adapters by id, went on answering with the first one. Here every published adapter gets a
fresh id (one counter per process, never reused) and its own name and folder, so each
evaluation is of the adapter just trained; a full fine-tune's weights are saved and loaded into
the running engine in place. Training and vLLM share one GPU: vLLM takes
``gpu_memory_utilization`` of it, and with sleep mode it gives its memory back while the
student trains (level 1 for LoRA: the base weights go to CPU memory, they never change; level
2 for a full fine-tune: they are dropped, new ones are loaded on waking).

Written against vLLM 0.32 (the release built on torch 2.13, the project's torch); the API it
uses: ``LLM(model, dtype, seed, gpu_memory_utilization, enable_sleep_mode, enable_lora,
max_lora_rank, max_loras, worker_extension_cls)``, ``LLM.generate`` with token-id prompts,
``SamplingParams`` and ``lora_request``, ``vllm.lora.request.LoRARequest(lora_name,
lora_int_id, lora_path)``, ``LLM.sleep(level)``, ``LLM.wake_up(tags)``, ``LLM.collective_rpc``
and ``LLM.reset_prefix_cache``. It has not yet run on a GPU in this project's CI.

The bookkeeping (``AdapterBook``: ids, names, folders) needs no vLLM and is tested on a CPU;
vLLM is imported only where the engine is built or called.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

#: the ranks vLLM's LoRA kernels are built for (``vllm.config.lora.MaxLoRARanks``)
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
#: import path of the worker extension below, for ``LLM(worker_extension_cls=...)``: vLLM imports
#: it in its worker process, so it is named by module, not passed as a class
WORKER_EXTENSION = "datagym.students.vllm_inference.WeightLoadingExtension"

_ids = itertools.count(1)  # adapter ids of this process: vLLM takes a positive id as an adapter's identity


def lora_rank_slot(rank: int) -> int:
    """The smallest ``max_lora_rank`` vLLM accepts that holds an adapter of ``rank``."""
    for slot in VLLM_LORA_RANKS:
        if rank <= slot:
            return slot
    raise ValueError(f"Expected a LoRA rank of at most {VLLM_LORA_RANKS[-1]} (vLLM's largest max_lora_rank), "
                     f"got {rank}.")


@dataclass(frozen=True)
class Published:
    """One set of trained weights handed to vLLM: an adapter, or a full model's weights."""

    name: str  # e.g. datagym-adapter-7
    id: int  # unique in this process
    path: Path  # the folder it was saved into (save_pretrained)


class AdapterBook:
    """Fresh name, id and folder for each published adapter or set of weights, in a temporary
    folder this object owns; publishing one removes the folder of the one before (vLLM is only
    ever asked for the newest), and ``close`` (or garbage collection) removes them all."""

    def __init__(self, prefix: str = "datagym-adapter") -> None:
        self.prefix = prefix
        self.root = Path(tempfile.mkdtemp(prefix="datagym-vllm-"))
        self.current: Published | None = None
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.root), True)

    def reserve(self) -> Published:
        """A new id, name and empty folder, not yet current (save into ``path``, then ``publish``)."""
        number = next(_ids)
        path = self.root / f"{self.prefix}-{number}"
        path.mkdir()
        return Published(f"{self.prefix}-{number}", number, path)

    def publish(self, saved: Published) -> Published:
        """Make ``saved`` current and remove the previous one's folder."""
        previous, self.current = self.current, saved
        if previous is not None and previous.path != saved.path:
            shutil.rmtree(previous.path, ignore_errors=True)
        return saved

    def close(self) -> None:
        self.current = None
        self._cleanup()


class WeightLoadingExtension:
    """Mixed into vLLM's GPU worker (``worker_extension_cls``): loads a full model's weights,
    saved with ``save_pretrained`` (safetensors), into the running model in place. The model's
    own ``load_weights`` takes checkpoint names and shapes, as from disk at start-up. Method
    names carry a ``datagym_`` prefix so they cannot collide with the worker's own."""

    def datagym_load_weights(self, folder: str) -> int:
        from safetensors import safe_open

        files = sorted(Path(folder).glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"Expected safetensors weights in {folder}, found none.")

        def weights():
            for file in files:
                with safe_open(str(file), framework="pt", device="cpu") as handle:
                    for name in handle.keys():
                        yield name, handle.get_tensor(name)

        model = self.model_runner.model  # type: ignore[attr-defined]  (the worker's)
        loaded = model.load_weights(weights=weights())
        try:  # kernels that repack weights after loading (quantised layers); a no-op for plain ones
            from vllm.model_executor.model_loader.utils import process_weights_after_loading
        except ImportError:
            pass
        else:
            process_weights_after_loading(model, self.model_config, self.device)  # type: ignore[attr-defined]
        return len(loaded) if loaded is not None else 0


class VLLMInference:
    """A ``vllm.LLM`` built lazily from the base model and kept serving what was trained last.

    ``after_training(model, lora)`` saves the peft adapter (served under a fresh
    ``LoRARequest``) or the full model's weights (loaded into the engine before the next
    generation); ``sleep()`` frees vLLM's GPU memory for training and ``generate`` wakes it.
    Not picklable by design: the hf student keeps only its settings and builds a new one."""

    def __init__(self, model: str, *, lora: bool, lora_rank: int = 8, dtype: str = "bfloat16",
                 gpu_memory_utilization: float = 0.5, seed: int = 0, sleep_mode: bool = True) -> None:
        self.model = model
        self.lora = lora
        self.max_lora_rank = lora_rank_slot(lora_rank) if lora else None
        self.dtype = dtype
        self.gpu_memory_utilization = gpu_memory_utilization
        self.seed = seed
        self.sleep_mode = sleep_mode
        self.book = AdapterBook("datagym-adapter" if lora else "datagym-weights")
        self._llm: Any = None
        self._asleep: int | None = None  # the sleep level vLLM is in, None when awake
        self._loaded: Published | None = None  # full fine-tuning: the weights in the engine (None: the base's)

    # -- publishing ------------------------------------------------------------------------------
    def after_training(self, model: Any, lora: bool | None = None) -> Published:
        """Save what ``model`` has learnt into a fresh folder and make it what vLLM serves next:
        the adapter of a peft model (``lora``), or every weight of a plain one."""
        lora = self.lora if lora is None else lora
        if lora != self.lora:
            raise ValueError(f"Expected lora={self.lora} (as this engine was built), got {lora}.")
        saved = self.book.reserve()
        model.save_pretrained(str(saved.path))  # safetensors, as both transformers 5 and peft write by default
        return self.book.publish(saved)

    def lora_request(self) -> Any:
        """The ``LoRARequest`` of the current adapter (None: the base model)."""
        current = self.book.current
        if not self.lora or current is None:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest(lora_name=current.name, lora_int_id=current.id, lora_path=str(current.path))

    # -- the engine ------------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return self._llm is not None

    def _engine(self) -> Any:
        if self._llm is None:
            from vllm import LLM

            options: dict[str, Any] = {
                "model": self.model, "dtype": self.dtype, "seed": self.seed,
                "gpu_memory_utilization": self.gpu_memory_utilization, "enable_sleep_mode": self.sleep_mode,
                "worker_extension_cls": WORKER_EXTENSION,
            }
            if self.lora:
                options.update(enable_lora=True, max_lora_rank=self.max_lora_rank, max_loras=1)
            self._llm = LLM(**options)
            self._asleep, self._loaded = None, None
        return self._llm

    def sleep(self) -> None:
        """Free vLLM's GPU memory for training: level 1 for LoRA (base weights to CPU memory,
        KV cache dropped), level 2 for full fine-tuning (weights dropped too: new ones come)."""
        if self._llm is None or not self.sleep_mode or self._asleep is not None:
            return
        level = 1 if self.lora else 2
        self._llm.sleep(level=level)
        self._asleep = level

    def wake(self) -> None:
        """Back on the GPU, serving the current weights."""
        if self._llm is None or self._asleep is None:
            return
        if self._asleep == 2:  # weights first, loaded before the KV cache takes its memory again
            self._llm.wake_up(tags=["weights"])
            self._asleep = None
            self._load_current(force=True)
            self._llm.wake_up(tags=["kv_cache"])
        else:
            self._llm.wake_up()
            self._asleep = None

    def _load_current(self, force: bool = False) -> None:
        """Full fine-tuning: load the current weights into the engine if it does not hold them."""
        current = self.book.current
        if self.lora or (current == self._loaded and not force):
            return
        if current is None:
            raise RuntimeError("Expected weights published with after_training before vLLM's weights were dropped "
                               "(sleep level 2); none were.")
        self._llm.collective_rpc("datagym_load_weights", args=(str(current.path),))
        self._llm.reset_prefix_cache()  # cached prompt states were computed with the old weights
        self._loaded = current

    def generate(self, prompt_token_ids: Sequence[Sequence[int]], max_new_tokens: int,
                 decode: Callable[[list[int]], str] | None = None, repetition_penalty: float = 1.0) -> list[str]:
        """Greedy completions (temperature 0, seeded) of token-id prompts, in order: decoded
        with ``decode`` from the completion's token ids when given, else vLLM's text.
        ``repetition_penalty``: the model's generation config's, which HF ``generate`` applies
        even when greedy, and vLLM only when asked."""
        from vllm import SamplingParams

        llm = self._engine()
        self.wake()
        self._load_current()
        params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, seed=self.seed,
                                repetition_penalty=repetition_penalty)
        prompts = [{"prompt_token_ids": list(ids)} for ids in prompt_token_ids]
        outputs = llm.generate(prompts, params, use_tqdm=False, lora_request=self.lora_request())
        completions = [output.outputs[0] for output in outputs]
        if decode is None:
            return [c.text for c in completions]
        return [decode(list(c.token_ids)) for c in completions]

    def close(self) -> None:
        """Stop the engine (its process and GPU memory) and remove the saved adapters."""
        llm, self._llm = self._llm, None
        if llm is not None:
            core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
            if hasattr(core, "shutdown"):
                core.shutdown()
            del llm
            import gc

            gc.collect()
        self.book.close()

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("VLLMInference holds a running vLLM engine and does not pickle; the hf student "
                        "pickles its settings and builds a new one.")
