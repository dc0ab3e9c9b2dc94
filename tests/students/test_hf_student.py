"""The Hugging Face student on a CPU with a tiny Llama saved with save_pretrained and loaded back
by path, as a user's model is: full and LoRA training that teaches, the two training modes, an
exact resume, pickling, an env with Gymnasium's checker, and a Ray actor."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import datagym  # noqa: F401
from datagym.errors import ConfigError
from datagym.registration import make_student, make_task
from datagym.students.hf_student import extract_answer

SKILL = "compare_same_length"  # answers '<', '>' or '=': a few hundred examples teach the format
LORA = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]}


@pytest.fixture(scope="module")
def task():
    return make_task("arithmetic")


def _student(path, **options):
    defaults = {"model": str(path), "learning_rate": 3e-3, "epochs": 3, "batch_size": 16, "max_new_tokens": 4}
    if options.get("lora") is not None:
        defaults["learning_rate"] = 1e-2
    return make_student("hf", **{**defaults, **options})


def _accuracy(student, task) -> float:
    val = task.heldout("validation")[SKILL]
    predictions = student.predict([ex.question for ex in val])
    return float(np.mean([task.is_correct(p, ex.answer) for p, ex in zip(predictions, val)]))


def _data(task, n, seed=0):
    rng = np.random.default_rng(seed)
    return [task.generate(SKILL, rng) for _ in range(n)]


@pytest.mark.parametrize("lora", [None, LORA], ids=["full", "lora"])
def test_training_raises_a_skills_accuracy_clearly_above_the_untrained_model(tiny_llama_dir, task, lora):
    student = _student(tiny_llama_dir, lora=lora)
    student.prepare(task)
    student.reset(0)
    before = _accuracy(student, task)
    loss_before = np.mean(student.loss(task.heldout("validation")[SKILL][:16]))
    stats = student.train(_data(task, 256))
    after = _accuracy(student, task)
    assert before == 0.0 and after >= 0.25, (before, after)
    assert stats["updates"] == 48 and stats["tokens"] > 0
    if lora is None:
        assert np.mean(student.loss(task.heldout("validation")[SKILL][:16])) < loss_before - 1.0


def test_the_state_holds_what_is_trained_and_never_the_base_model(tiny_llama_dir, task):
    lora = _student(tiny_llama_dir, lora=LORA)
    lora.reset(0)
    lora.train(_data(task, 16))
    trained = lora.state_dict()["trained"]
    assert trained and all("lora_" in key for key in trained)
    full = _student(tiny_llama_dir)
    full.reset(0)
    assert any(key.endswith("embed_tokens.weight") for key in full.state_dict()["trained"])
    assert sum(v.numel() for v in trained.values()) < sum(v.numel() for v in full.state_dict()["trained"].values()) / 4


def test_continual_trains_on_the_new_data_and_retrain_on_all_from_the_base(tiny_llama_dir, task):
    first, second = _data(task, 32, seed=1), _data(task, 16, seed=2)
    continual = _student(tiny_llama_dir, epochs=1)
    continual.reset(0)
    continual.train(first)
    assert continual.train(second)["updates"] == 1  # 16 new examples, batches of 16
    retrain = _student(tiny_llama_dir, lora=LORA, mode="retrain", epochs=1)
    retrain.reset(0)
    retrain.train(first)
    trained_once = {k: v.clone() for k, v in retrain.state_dict()["trained"].items()}
    stats = retrain.train(second)
    assert stats["updates"] == 3 and len(retrain.data) == 48  # all 48 so far, from a fresh adapter
    fresh = _student(tiny_llama_dir, lora=LORA, mode="retrain", epochs=1)
    fresh.reset(0)
    assert any((v != trained_once[k]).any() for k, v in retrain.state_dict()["trained"].items())
    # the adapter the second call starts from is the base's fresh one: LoRA's B matrices are zero
    retrain._load()
    assert all(float(v.abs().sum()) == 0.0 for k, v in retrain._trained().items() if "lora_B" in k)


@pytest.mark.parametrize("lora", [None, LORA], ids=["full", "lora"])
def test_a_resumed_student_goes_on_exactly_and_it_pickles(tiny_llama_dir, task, lora):
    student = _student(tiny_llama_dir, lora=lora, epochs=1)
    student.reset(3)
    student.train(_data(task, 32, seed=4))
    saved = student.state_dict()
    copy = pickle.loads(pickle.dumps(student))
    later = _data(task, 32, seed=5)
    questions = [ex.question for ex in task.heldout("validation")[SKILL][:12]]
    student.train(later)
    expected = (student.predict(questions), student.loss(later[:8]))
    resumed = _student(tiny_llama_dir, lora=lora, epochs=1)
    resumed.reset(99)  # whatever it was reset to, the state decides
    resumed.load_state_dict(saved)
    resumed.train(later)
    assert (resumed.predict(questions), resumed.loss(later[:8])) == expected
    copy.train(later)
    assert (copy.predict(questions), copy.loss(later[:8])) == expected


def test_an_env_with_the_student_passes_gymnasiums_checker(tiny_llama_dir):
    env = gym.make("datagym/Arithmetic-SkillList-v1", student="hf", total_budget=64, step_budget=32, timings=False,
                   student_options={"model": str(tiny_llama_dir), "max_new_tokens": 4, "eval_batch_size": 64})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught if "render fps" not in str(w.message)
            and "is_gradient_checkpointing" not in str(w.message)] == []
    env.close()


def test_the_student_runs_in_a_ray_actor(tiny_llama_dir):
    options = {"model": str(tiny_llama_dir), "max_new_tokens": 4, "eval_batch_size": 64}
    env = gym.make("datagym/Arithmetic-SkillList-v1", student="hf", student_options=options,
                   student_resources={"num_cpus": 1}, total_budget=64, step_budget=32)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.ones(15, dtype=np.float32))
    assert info["teacher/accepted"] == 32 and "student/test_accuracy" not in info
    copy = pickle.loads(pickle.dumps(env))  # the env travels with the actor's state
    assert copy.unwrapped.student.name == "hf"
    env.close()


def test_answers_are_cut_by_the_tasks_format():
    assert extract_answer("\n 42 \nQuestion: next", "first_line") == "42"
    assert extract_answer("so x = \\boxed{\\frac{1}{2}} and \\boxed{7}", "boxed") == "7"
    assert extract_answer("first \\boxed{\\frac{1}{2}}.", "boxed") == "\\frac{1}{2}"
    assert extract_answer("the total is 1,234 then 56.", "boxed") == "56"
    assert extract_answer("    return x\n", "completion") == "    return x\n"


def test_options_are_checked_by_name(tiny_llama_dir, task):
    with pytest.raises(ConfigError, match="Expected student option model"):
        make_student("hf")
    with pytest.raises(ConfigError, match="Unknown student option"):
        make_student("hf", model="m", rank=4)
    with pytest.raises(ConfigError, match="Expected inference one of"):
        make_student("hf", model="m", inference="sglang")
    student = _student(tiny_llama_dir, lora={"r": 4, "target_modules": ["no_such_module"]})
    with pytest.raises(ConfigError, match="peft LoraConfig fields for this model"):
        student.reset(0)


def _find_spec_with_vllm(installed: bool):
    """importlib.util.find_spec as if the vllm package were (or were not) installed."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "vllm":
            return importlib.machinery.ModuleSpec("vllm", None) if installed else None
        return real(name, *args, **kwargs)

    return find_spec


def test_vllm_inference_without_vllm_names_the_extra(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", _find_spec_with_vllm(installed=False))
    with pytest.raises(ConfigError, match=r"pip install 'datagym\[vllm\]'"):
        make_student("hf", model="m", inference="vllm")


def test_vllm_inference_on_a_cpu_is_refused_when_the_device_is_resolved(monkeypatch, task):
    monkeypatch.setattr(importlib.util, "find_spec", _find_spec_with_vllm(installed=True))
    student = make_student("hf", model="m", inference="vllm", device="cpu")  # built: the device is not known yet
    student.prepare(task)  # a Ray actor's driver-side copy is prepared on a machine that may have no GPU
    with pytest.raises(ConfigError, match="Expected a CUDA device for inference='vllm'.*got device 'cpu'"):
        student.reset(0)
    with pytest.raises(ConfigError, match="got device 'cuda:1'"):
        make_student("hf", model="m", inference="vllm", device="cuda:1").reset(0)


@pytest.mark.parametrize("share", [0, 1, 1.5, -0.2, True, "0.5"])
def test_vllm_memory_share_is_checked(share):
    with pytest.raises(ConfigError, match="Expected vllm_gpu_memory_utilization in \\(0, 1\\)"):
        make_student("hf", model="m", vllm_gpu_memory_utilization=share)


def test_a_lora_rank_vllm_cannot_serve_is_refused(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", _find_spec_with_vllm(installed=True))
    with pytest.raises(ConfigError, match="LoRA rank of at most 512.*got 1024.*lower lora's r"):
        make_student("hf", model="m", inference="vllm", lora={"r": 1024})
