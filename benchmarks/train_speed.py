"""Our student's training loop against transformers' Trainer: same model, data, batch size.

    python benchmarks/train_speed.py --examples 1536 --epochs 2 --repeats 3 --threads 1

Both train the same Llama (the default student's config) from the same initial weights on the
same tokenised arithmetic examples (prompt tokens masked out of the loss), with AdamW at the
same constant learning rate, no warm-up, no gradient clipping, the same batch size and epochs
and the same number of torch threads, in one process, alternating which goes first. Trainer
takes its usual path: a Dataset, a padding collator with attention masks, its own loop.
Ours batches examples of equal length together, so it never pads and needs no mask.
Prints examples/s and answer tokens/s for each, the ratio, and both final losses.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
import warnings

import numpy as np
import torch
import transformers
from transformers import Trainer, TrainingArguments

from datagym.envs.arithmetic.task import ArithmeticTask
from datagym.students.transformer_student import TransformerStudent


def make_examples(n: int, seed: int):
    task = ArithmeticTask()
    rng = np.random.default_rng(seed)
    names = task.skill_names
    return [task.generate(names[i % len(names)], rng) for i in range(n)]


class EncodedDataset(torch.utils.data.Dataset):
    def __init__(self, student: TransformerStudent, examples) -> None:
        self.rows = [student._encode_example(ex) for ex in examples]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        ids, n_prompt = self.rows[i]
        return {"input_ids": ids, "n_prompt": n_prompt}


def pad_collate(rows: list[dict]) -> dict[str, torch.Tensor]:
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, r in enumerate(rows):
        seq = torch.tensor(r["input_ids"])
        ids[i, : len(seq)] = seq
        mask[i, : len(seq)] = 1
        labels[i, r["n_prompt"] : len(seq)] = seq[r["n_prompt"] :]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def answer_tokens(student, examples) -> int:
    return sum(len(ids) - n for ids, n in (student._encode_example(ex) for ex in examples))


def run_ours(initial: dict, examples, epochs: int, batch_size: int, seed: int) -> tuple[float, float]:
    student = TransformerStudent(replay=0.0, epochs=epochs, batch_size=batch_size, torch_threads=0)
    student.reset(seed)
    student.model.load_state_dict(initial)
    student.optimizer = student._new_optimizer()
    t0 = time.perf_counter()
    stats = student.train(examples)
    return time.perf_counter() - t0, stats["loss"]


def run_trainer(initial: dict, examples, epochs: int, batch_size: int, seed: int, lr: float) -> tuple[float, float]:
    student = TransformerStudent(replay=0.0, torch_threads=0)
    student.reset(seed)
    model = student.model
    model.load_state_dict(initial)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=batch_size,
            num_train_epochs=epochs,
            learning_rate=lr,
            weight_decay=0.0,
            lr_scheduler_type="constant",
            warmup_steps=0,
            max_grad_norm=0.0,
            optim="adamw_torch",
            use_cpu=True,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            dataloader_num_workers=0,
            dataloader_pin_memory=False,
            remove_unused_columns=False,
            seed=seed,
        )
        trainer = Trainer(model=model, args=args, train_dataset=EncodedDataset(student, examples), data_collator=pad_collate)
        t0 = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - t0
    return seconds, float(result.training_loss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=1536)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)

    examples = make_examples(args.examples, args.seed)
    reference = TransformerStudent()
    reference.reset(args.seed)
    initial = copy.deepcopy(reference.model.state_dict())
    lr = reference.config.learning_rate
    n_tokens = answer_tokens(reference, examples) * args.epochs
    n_examples = args.examples * args.epochs

    times = {"ours": [], "trainer": []}
    losses = {"ours": [], "trainer": []}
    for r in range(args.repeats):
        order = ("ours", "trainer") if r % 2 == 0 else ("trainer", "ours")
        for who in order:
            if who == "ours":
                seconds, loss = run_ours(initial, examples, args.epochs, args.batch_size, args.seed)
            else:
                seconds, loss = run_trainer(initial, examples, args.epochs, args.batch_size, args.seed, lr)
            times[who].append(seconds)
            losses[who].append(loss)

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.examples} examples x {args.epochs} epochs, batch {args.batch_size}, {args.threads} torch thread(s), "
          f"{sum(p.numel() for p in reference.model.parameters())} parameters, torch {torch.__version__}, "
          f"transformers {transformers.__version__}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
          f"median of {args.repeats}\n")
    print("| loop | seconds | examples/s | answer tokens/s | mean training loss |")
    print("|---|---|---|---|---|")
    for who, label in (("ours", "datagym student"), ("trainer", "transformers.Trainer")):
        print(f"| {label} | {med[who]:.2f} | {n_examples / med[who]:.0f} | {n_tokens / med[who]:.0f} | "
              f"{statistics.median(losses[who]):.3f} |")
    print(f"\nours / Trainer speed: {med['trainer'] / med['ours']:.2f}x (target >= 1.0, aim 1.5)")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"args": vars(args), "seconds": times, "losses": losses}, fh, indent=2)


if __name__ == "__main__":
    main()
