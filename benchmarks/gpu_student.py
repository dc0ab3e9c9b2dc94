"""The hf student on a GPU: LoRA step time, HF ``generate`` against vLLM on the same questions,
greedy agreement and flip rate, and peak memory. Prepared for a machine with a GPU; on a CPU it
runs the HF parts (``--device cpu``) and says that vLLM was skipped.

    python benchmarks/gpu_student.py [--hidden 1024] [--layers 12] [--questions 512] [--device cuda]

A Llama made from a config (``datagym.tiny_models.save_tiny_llama``: its BPE tokenizer trained
with ``tokenizers``), saved and loaded by path, so nothing is downloaded. Measured:

1. LoRA training (r 16 on q, k, v, o): seconds per optimiser update and tokens/s over
   ``--train`` arithmetic examples, after a warm-up;
2. evaluation: the student's batched greedy ``generate`` on ``--questions`` held-out questions,
   questions/s; then, where vLLM is installed and the device is CUDA, the same student with
   ``inference="vllm"`` (``students/vllm_inference.py``), loaded from the trained student's
   ``state_dict``, so it serves that adapter under a fresh ``LoRARequest``, on the same token-id
   prompts, greedy, the same ``max_new_tokens``: questions/s, the ratio (the aim is at least
   5x), and the share of questions where the two give the same answer;
3. vLLM's flip rate: the same questions twice, the share whose answer changed (the reward's
   noise floor from inference, if not zero);
4. peak GPU memory of each phase (``torch.cuda.max_memory_allocated``; for vLLM, which runs in
   its own process, the GPU's memory in use, ``torch.cuda.mem_get_info``), or the process's
   peak resident memory on a CPU.

The model is untrained apart from step 1, so the texts are noise; speed and agreement are what
this measures. Status: the HF parts ran on a CPU here; the vLLM part has not run anywhere yet
(no GPU was lent to the work that wrote it), so its first run on a GPU is its test.
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from datagym.envs.arithmetic.task import ArithmeticTask
from datagym.students.hf_student import HFStudent
from datagym.tiny_models import save_tiny_llama

LORA = {"r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}


def peak_memory(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB (GPU)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (process RSS)"


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--train", type=int, default=2048, help="training examples for the LoRA timing")
    parser.add_argument("--questions", type=int, default=512, help="held-out questions for the evaluation timing")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    task = ArithmeticTask()
    rng = np.random.default_rng(0)
    data = [task.generate(task.skill_names[i % len(task.skill_names)], rng) for i in range(args.train)]
    questions = [ex.question for exs in task.heldout("validation").values() for ex in exs][: args.questions]
    with tempfile.TemporaryDirectory() as folder:
        path = save_tiny_llama(Path(folder) / "model", hidden_size=args.hidden, layers=args.layers, heads=args.heads,
                               vocab_size=2000)
        student = HFStudent(model=str(path), lora=LORA, device=args.device, batch_size=args.batch_size, epochs=1,
                            max_new_tokens=args.max_new_tokens, eval_batch_size=args.batch_size, learning_rate=2e-4)
        student.reset(0)
        parameters = sum(p.numel() for p in student.model.parameters())
        print(f"model: Llama {args.layers} x {args.hidden}, {parameters:,} parameters (with the LoRA adapter), "
              f"device {args.device}")

        student.train(data[: args.batch_size * 2])  # warm-up
        reset_peak(args.device)
        t0 = time.perf_counter()
        stats = student.train(data)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        print(f"LoRA training: {stats['updates']:.0f} updates, {seconds / stats['updates'] * 1000:.1f} ms/update, "
              f"{stats['tokens'] / seconds:,.0f} tokens/s, peak {peak_memory(args.device)}")

        student.predict(questions[: args.batch_size])  # warm-up
        reset_peak(args.device)
        t0 = time.perf_counter()
        hf_answers = student.predict(questions)
        hf_seconds = time.perf_counter() - t0
        print(f"HF generate: {len(questions) / hf_seconds:.1f} questions/s, peak {peak_memory(args.device)}")

        if importlib.util.find_spec("vllm") is None:
            print("vLLM: not installed here (pip install 'datagym[vllm]' on a GPU machine); its comparison was skipped")
            return
        if not args.device.startswith("cuda"):
            print("vLLM: needs a GPU; its comparison was skipped")
            return
        trained = student.state_dict()
        del student
        torch.cuda.empty_cache()
        served = HFStudent(model=str(path), lora=LORA, device=args.device, batch_size=args.batch_size, epochs=1,
                           max_new_tokens=args.max_new_tokens, eval_batch_size=args.batch_size, learning_rate=2e-4,
                           inference="vllm", vllm_gpu_memory_utilization=0.5)
        served.reset(0)
        served.load_state_dict(trained)  # the trained adapter, handed to vLLM on the first predict
        served.predict(questions[: args.batch_size])  # warm-up (starts the engine)
        t0 = time.perf_counter()
        first = served.predict(questions)
        vllm_seconds = time.perf_counter() - t0
        free, total = torch.cuda.mem_get_info()
        second = served.predict(questions)
        same = np.mean([a == b for a, b in zip(first, hf_answers)])
        flips = np.mean([a != b for a, b in zip(first, second)])
        print(f"vLLM: {len(questions) / vllm_seconds:.1f} questions/s ({hf_seconds / vllm_seconds:.1f}x HF generate), "
              f"same answer as HF on {same:.1%}, flip rate between two identical evaluations {flips:.2%}, "
              f"GPU memory in use {(total - free) / 2**30:.2f} GiB (all processes; vLLM takes a 0.5 share)")
        served.close()


if __name__ == "__main__":
    main()
