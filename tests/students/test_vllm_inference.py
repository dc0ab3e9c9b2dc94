"""vLLM inference for the hf student (students/vllm_inference.py).

On a CPU: the bookkeeping that DataEnvGym got wrong (it reused adapter id 1 and vLLM kept
serving the first adapter): every publish has a fresh id and name, the folder of the one before
is removed, what is saved loads back with peft (an adapter) or holds every weight (a full
fine-tune), and, with a stand-in for the ``vllm`` package that records what it is asked, the
order of sleep, wake, weight loading and generation, and that the newest adapter is requested.

On a GPU with the vllm extra (``pytest -m gpu``): a tiny Llama trained with LoRA and fully,
twice, where vLLM's answers must follow HF ``generate``'s after each training, so the second
training's adapter or weights are what vLLM serves, not the first's.
"""

from __future__ import annotations

import importlib.machinery
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from datagym.registration import make_student, make_task
from datagym.students.hf_student import extract_answer
from datagym.students.vllm_inference import (
    VLLM_LORA_RANKS,
    WORKER_EXTENSION,
    AdapterBook,
    VLLMInference,
    WeightLoadingExtension,
    lora_rank_slot,
)
from datagym.types import Example

LORA = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]}


# -- bookkeeping (no vLLM) ------------------------------------------------------------------------
def test_adapter_ids_strictly_increase_across_publishes_and_books_and_names_are_unique():
    first, second = AdapterBook(), AdapterBook()
    published = []
    for book in (first, second, first, first, second):
        saved = book.reserve()
        published.append(book.publish(saved))
    ids = [p.id for p in published]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] >= 1
    assert [p.name for p in published] == [f"datagym-adapter-{i}" for i in ids]
    assert len({p.path for p in published}) == len(published)
    first.close()
    second.close()


def test_publishing_removes_the_previous_folder_and_close_removes_them_all():
    book = AdapterBook()
    one = book.publish(book.reserve())
    (one.path / "adapter_model.safetensors").write_bytes(b"x")
    two = book.reserve()
    assert one.path.is_dir() and book.current == one  # reserved, not yet served: the old one stays
    book.publish(two)
    assert not one.path.exists() and two.path.is_dir() and book.current == two
    root = book.root
    book.close()
    assert not root.exists() and book.current is None


def test_a_dropped_book_removes_its_folder():
    book = AdapterBook()
    root = book.root
    book.publish(book.reserve())
    del book
    import gc

    gc.collect()
    assert not root.exists()


@pytest.mark.parametrize(("rank", "slot"), [(1, 1), (4, 8), (8, 8), (9, 16), (16, 16), (100, 128), (512, 512)])
def test_a_lora_rank_gets_the_smallest_slot_vllm_has(rank, slot):
    assert lora_rank_slot(rank) == slot and slot in VLLM_LORA_RANKS


def test_a_rank_above_vllms_largest_is_refused():
    with pytest.raises(ValueError, match=r"at most 512 \(vLLM's largest max_lora_rank\), got 513"):
        lora_rank_slot(513)


def _peft_model(tiny_llama_dir, seed: int):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama_dir),
                           LoraConfig(task_type="CAUSAL_LM", **LORA))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # as if trained: B is no longer zero
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model


def test_each_trained_adapter_is_saved_fresh_and_loads_back_with_peft(tiny_llama_dir):
    from peft import PeftModel, get_peft_model_state_dict
    from transformers import AutoModelForCausalLM

    engine = VLLMInference(str(tiny_llama_dir), lora=True, lora_rank=8)
    first = engine.after_training(_peft_model(tiny_llama_dir, seed=1))
    trained = _peft_model(tiny_llama_dir, seed=2)
    second = engine.after_training(trained)
    assert second.id > first.id and second.name != first.name and not first.path.exists()
    assert (second.path / "adapter_config.json").is_file() and (second.path / "adapter_model.safetensors").is_file()
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), str(second.path))
    expected = get_peft_model_state_dict(trained)
    got = get_peft_model_state_dict(loaded)
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)
    assert engine.max_lora_rank == 8 and not engine.built  # nothing started: vLLM is built on first generate
    engine.close()
    assert not engine.book.root.exists()


def test_full_weights_are_saved_whole_and_the_worker_extension_loads_every_tensor(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    engine = VLLMInference(str(tiny_llama_dir), lora=False)
    saved = engine.after_training(model, lora=False)
    assert saved.name.startswith("datagym-weights-")

    received: dict[str, torch.Tensor] = {}

    class Model:
        def load_weights(self, weights):
            for name, tensor in weights:
                received[name] = tensor
            return set(received)

    worker = WeightLoadingExtension()
    worker.model_runner = types.SimpleNamespace(model=Model())
    worker.model_config, worker.device = None, "cpu"
    assert worker.datagym_load_weights(str(saved.path)) == len(received)
    state = model.state_dict()
    assert set(received) <= set(state) and len(received) >= len(state) - 1  # all, bar a tied head
    assert all(torch.equal(received[k], state[k]) for k in received)
    with pytest.raises(FileNotFoundError, match="safetensors"):
        worker.datagym_load_weights(str(engine.book.root))
    with pytest.raises(ValueError, match="Expected lora=False"):
        engine.after_training(model, lora=True)
    engine.close()


def test_the_engine_does_not_pickle():
    with pytest.raises(TypeError, match="does not pickle"):
        pickle.dumps(VLLMInference("m", lora=True))


# -- the orchestration, against a stand-in for the vllm package ------------------------------------
class FakeLLM:
    """Records what vLLM is asked; answers every prompt with token id 5."""

    instances: list["FakeLLM"] = []

    def __init__(self, **options):
        self.options = options
        self.calls: list[tuple] = []
        FakeLLM.instances.append(self)

    def sleep(self, level=1):
        self.calls.append(("sleep", level))

    def wake_up(self, tags=None):
        self.calls.append(("wake_up", tuple(tags) if tags else None))

    def collective_rpc(self, method, timeout=None, args=(), kwargs=None):
        self.calls.append(("rpc", method, args))
        return [None]

    def reset_prefix_cache(self):
        self.calls.append(("reset_prefix_cache",))

    def generate(self, prompts, sampling_params, use_tqdm=True, lora_request=None):
        assert all(set(p) == {"prompt_token_ids"} for p in prompts)
        self.calls.append(("generate", len(prompts), sampling_params, lora_request))
        output = types.SimpleNamespace(text="five", token_ids=[5])
        return [types.SimpleNamespace(outputs=[output]) for _ in prompts]


@pytest.fixture
def fake_vllm(monkeypatch):
    vllm = types.ModuleType("vllm")
    vllm.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    vllm.LLM = FakeLLM
    vllm.SamplingParams = lambda **kw: dict(kw)
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = lambda **kw: dict(kw)
    for name, module in {"vllm": vllm, "vllm.lora": lora, "vllm.lora.request": request}.items():
        monkeypatch.setitem(sys.modules, name, module)
    FakeLLM.instances = []
    return FakeLLM


def test_each_generation_asks_for_the_newest_adapter_under_its_own_id(fake_vllm, tiny_llama_dir):
    engine = VLLMInference(str(tiny_llama_dir), lora=True, lora_rank=12, dtype="bfloat16",
                           gpu_memory_utilization=0.4, seed=7)
    assert engine.generate([[1, 2, 3]], 4) == ["five"]  # nothing published yet: the base model
    llm = fake_vllm.instances[0]
    assert llm.options == {"model": str(tiny_llama_dir), "dtype": "bfloat16", "seed": 7,
                           "gpu_memory_utilization": 0.4, "enable_sleep_mode": True,
                           "worker_extension_cls": WORKER_EXTENSION, "enable_lora": True, "max_lora_rank": 16,
                           "max_loras": 1}
    requests = []
    for seed in (1, 2, 3):
        engine.sleep()
        engine.sleep()  # already asleep: once is enough
        published = engine.after_training(_peft_model(tiny_llama_dir, seed))
        assert engine.generate([[1, 2], [3]], 4, decode=lambda ids: f"ids {ids}") == ["ids [5]", "ids [5]"]
        *_, (_, n, params, request) = llm.calls
        assert n == 2 and params == {"temperature": 0.0, "max_tokens": 4, "seed": 7, "repetition_penalty": 1.0}
        assert request == {"lora_name": published.name, "lora_int_id": published.id, "lora_path": str(published.path)}
        requests.append(request)
    ids = [r["lora_int_id"] for r in requests]
    assert ids == sorted(set(ids)) and len(fake_vllm.instances) == 1
    assert [c for c in llm.calls if c[0] != "generate"] == [("sleep", 1), ("wake_up", None)] * 3  # level 1: base kept
    engine.close()


def test_full_weights_are_loaded_after_waking_the_weights_and_before_the_kv_cache(fake_vllm, tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    engine = VLLMInference(str(tiny_llama_dir), lora=False, sleep_mode=True)
    first = engine.after_training(model, lora=False)  # published before the engine exists
    engine.generate([[1]], 2)
    llm = fake_vllm.instances[0]
    assert "enable_lora" not in llm.options
    assert llm.calls[:2] == [("rpc", "datagym_load_weights", (str(first.path),)), ("reset_prefix_cache",)]
    llm.calls.clear()
    engine.generate([[1]], 2)
    assert [c[0] for c in llm.calls] == ["generate"]  # the same weights: nothing loaded again
    llm.calls.clear()
    engine.sleep()
    second = engine.after_training(model, lora=False)
    engine.generate([[1]], 2)
    assert [c[:3] if c[0] == "rpc" else c[:2] for c in llm.calls] == [
        ("sleep", 2), ("wake_up", ("weights",)), ("rpc", "datagym_load_weights", (str(second.path),)),
        ("reset_prefix_cache",), ("wake_up", ("kv_cache",)), ("generate", 1)]
    assert not first.path.exists()
    llm.calls.clear()
    third = engine.after_training(model, lora=False)  # awake: loaded in place before generating
    engine.generate([[1]], 2)
    assert llm.calls[0] == ("rpc", "datagym_load_weights", (str(third.path),))
    engine.close()


def test_without_sleep_mode_vllm_keeps_its_memory_split(fake_vllm, tiny_llama_dir):
    engine = VLLMInference(str(tiny_llama_dir), lora=True, sleep_mode=False, gpu_memory_utilization=0.3)
    engine.generate([[1]], 2)
    engine.sleep()
    llm = fake_vllm.instances[0]
    assert llm.options["enable_sleep_mode"] is False and [c[0] for c in llm.calls] == ["generate"]
    engine.close()


def test_the_student_sleeps_vllm_to_train_and_serves_each_new_adapter(fake_vllm, monkeypatch, tiny_llama_dir):
    from datagym.students.hf_student import HFStudent

    monkeypatch.setattr(HFStudent, "_check_inference_device", lambda self: None)  # a CPU stands in for the GPU
    task = make_task("arithmetic")
    student = make_student("hf", model=str(tiny_llama_dir), lora=LORA, inference="vllm", epochs=1, batch_size=16,
                           max_new_tokens=4)
    student.prepare(task)
    student.reset(3)
    questions = [ex.question for ex in task.heldout("validation")["compare_same_length"][:5]]
    expected = [extract_answer(student.tokenizer.decode([5], skip_special_tokens=True), "first_line")] * 5
    assert student.predict(questions) == expected
    llm = fake_vllm.instances[0]
    rng = np.random.default_rng(0)
    data = [task.generate("compare_same_length", rng) for _ in range(16)]
    served = []
    for _ in range(3):
        student.train(data)
        assert llm.calls[-1] == ("sleep", 1)  # asleep while training
        student.predict(questions)
        served.append(llm.calls[-1][3]["lora_int_id"])
        assert llm.calls[-2] == ("wake_up", None)
    assert served == sorted(set(served))
    assert llm.options["seed"] == 3 and llm.options["max_lora_rank"] == 8
    assert llm.calls[-1][2]["repetition_penalty"] == 1.0
    student.model.generation_config.repetition_penalty = 1.3  # HF generate applies it even when greedy
    student.predict(questions)
    assert llm.calls[-1][2]["repetition_penalty"] == 1.3
    copy = pickle.loads(pickle.dumps(student))  # the engine stays behind; the copy makes its own
    assert copy._vllm is None and student._vllm is not None
    root = student._vllm.book.root
    student.close()
    assert student._vllm is None and not root.exists()


def test_a_reset_full_student_gives_vllm_the_base_weights_again(fake_vllm, monkeypatch, tiny_llama_dir):
    from datagym.students.hf_student import HFStudent

    monkeypatch.setattr(HFStudent, "_check_inference_device", lambda self: None)
    task = make_task("arithmetic")
    student = make_student("hf", model=str(tiny_llama_dir), inference="vllm", epochs=1, batch_size=16,
                           max_new_tokens=4)
    student.reset(0)
    rng = np.random.default_rng(0)
    student.train([task.generate("compare_same_length", rng) for _ in range(16)])
    student.predict(["1 ? 2"])
    llm = fake_vllm.instances[0]
    trained = student._vllm.book.current
    student.reset(0)  # back to the base weights: vLLM must not go on serving the trained ones
    student.predict(["1 ? 2"])
    base = student._vllm.book.current
    assert base.id > trained.id and ("rpc", "datagym_load_weights", (str(base.path),)) in llm.calls
    from safetensors.torch import load_file

    saved = {}
    for file in Path(base.path).glob("*.safetensors"):
        saved.update(load_file(file))
    state = student.model.state_dict()
    assert all(torch.equal(saved[k], state[k]) for k in saved)
    student.close()


# -- on a GPU with vLLM ------------------------------------------------------------------------------
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run with -m gpu on one)")
SKILL = "compare_same_length"


@pytest.fixture(scope="module")
def gpu_llama_dir(tmp_path_factory):
    """A tiny Llama with 64-wide attention heads, the size vLLM's kernels are built for."""
    from datagym.tiny_models import save_tiny_llama

    return save_tiny_llama(tmp_path_factory.mktemp("gpu_llama"), hidden_size=128, layers=2, heads=2)


def _agreement(a, b) -> float:
    return float(np.mean([x == y for x, y in zip(a, b)]))


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("lora", [LORA, None], ids=["lora", "full"])
def test_vllm_serves_what_was_trained_last_not_the_first(gpu_llama_dir, lora):
    pytest.importorskip("vllm", reason="needs the vllm extra: pip install 'datagym[vllm]'")
    task = make_task("arithmetic")
    student = make_student("hf", model=str(gpu_llama_dir), lora=lora, inference="vllm", epochs=3, batch_size=16,
                           max_new_tokens=4, learning_rate=1e-2 if lora else 3e-3, vllm_gpu_memory_utilization=0.3)
    student.prepare(task)
    student.reset(0)
    questions = [ex.question for ex in task.heldout("validation")[SKILL]]
    try:
        student.predict(questions)  # the engine starts on the base model (its answers are noise: no check)
        rng = np.random.default_rng(0)
        student.train([task.generate(SKILL, rng) for _ in range(256)])
        first_hf, first_vllm = student._predict_hf(questions), student.predict(questions)
        # bfloat16 in both, different kernels: a near-tie may go either way, a confident answer may not
        assert _agreement(first_vllm, first_hf) >= 0.8, (first_vllm[:10], first_hf[:10])
        assert student.predict(questions) == first_vllm  # greedy: no flips between two evaluations
        first_id = student._vllm.book.current.id
        free_awake = torch.cuda.mem_get_info()[0]
        # a second training that changes the answers: every question answered "="
        student.train([Example(q, "=", SKILL) for q in questions[:64]] * 2)
        second_hf, second_vllm = student._predict_hf(questions), student.predict(questions)
        changed = [i for i, (a, b) in enumerate(zip(first_hf, second_hf)) if a != b]
        assert len(changed) >= len(questions) // 4, "the second training should change many answers"
        assert _agreement(second_vllm, second_hf) >= 0.9, (second_vllm[:10], second_hf[:10])
        assert _agreement([second_vllm[i] for i in changed], [first_vllm[i] for i in changed]) <= 0.2
        assert student._vllm.book.current.id > first_id
        student._vllm.sleep()
        assert torch.cuda.mem_get_info()[0] > free_awake + 2**30  # asleep, vLLM's KV cache is given back
        assert student.predict(questions) == second_vllm  # and it wakes to the same answers
    finally:
        student.close()
