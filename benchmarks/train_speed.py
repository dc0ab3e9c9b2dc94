"""Our student's training loop against transformers' Trainer: same model, data, batch size.

    python benchmarks/train_speed.py --examples 1536 --epochs 2 --repeats 3 --threads 1

Both train the same Llama (built from the default student's config) from the same initial
weights on the same arithmetic examples (all skills, round robin), tokenised the student's
way (``BOS question = answer EOS``, prompt tokens masked out of the loss), with
``torch.optim.AdamW`` at the student's constant learning rate (no warm-up, no scheduler, no
gradient clipping, no weight decay), the same batch size, epochs and number of torch threads,
in one process. Each loop is first warmed up once on a few examples; then the timed runs
alternate which loop goes first, and the median of ``--repeats`` is reported.

Trainer takes its usual path: a ``Dataset`` of token ids, a collator that pads each random
batch to its longest row (with an attention mask), ``report_to=[]``, no evaluation, no saving,
``use_cpu=True``, no tqdm, ``dataloader_num_workers=0``. Ours (``TransformerStudent.train``)
groups examples of equal length into batches, so it never pads and needs no mask. Our timing
includes our tokenisation and batching; Trainer's dataset is tokenised before its clock starts.

Printed: seconds, examples/s, tokens/s (all real tokens of the sequences, and answer tokens,
the ones in the loss), the speed ratio ours / Trainer, and, to show both loops learned the
same amount, each loop's mean training loss and the trained models' loss (nats per answer
token, the student's own ``loss``) on the training examples and on the task's validation set.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import tempfile
import time
import warnings

import numpy as np
import torch
import transformers
from transformers import PrinterCallback, Trainer, TrainingArguments

from datagym.envs.arithmetic.task import ArithmeticTask
from datagym.students.transformer_student import TransformerStudent


def make_examples(task: ArithmeticTask, n: int, seed: int):
    rng = np.random.default_rng(seed)
    names = task.skill_names
    return [task.generate(names[i % len(names)], rng) for i in range(n)]


class EncodedDataset(torch.utils.data.Dataset):
    """Token ids as the student makes them, for Trainer."""

    def __init__(self, student: TransformerStudent, examples) -> None:
        self.rows = [student._encode_example(ex) for ex in examples]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        ids, n_prompt = self.rows[i]
        return {"input_ids": ids, "n_prompt": n_prompt}


class PadCollator:
    """Pads a batch to its longest row (pad id 0, attention mask, labels -100 on prompt and pad);
    counts the padded positions it makes."""

    def __init__(self) -> None:
        self.positions = 0
        self.pads = 0

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        for i, r in enumerate(rows):
            seq = torch.tensor(r["input_ids"], dtype=torch.long)
            ids[i, : len(seq)] = seq
            mask[i, : len(seq)] = 1
            labels[i, r["n_prompt"] : len(seq)] = seq[r["n_prompt"] :]
        self.positions += ids.numel()
        self.pads += int((mask == 0).sum())
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def new_student(initial: dict, epochs: int, batch_size: int, seed: int) -> TransformerStudent:
    # torch_threads=0: the student leaves torch's thread setting (set once in main) alone.
    student = TransformerStudent(replay=0.0, epochs=epochs, batch_size=batch_size, torch_threads=0)
    student.reset(seed)
    student.model.load_state_dict(initial)
    student.optimizer = student._new_optimizer()
    return student


def run_ours(initial: dict, examples, epochs: int, batch_size: int, seed: int) -> dict:
    student = new_student(initial, epochs, batch_size, seed)
    t0 = time.perf_counter()
    stats = student.train(examples)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "train_loss": float(stats["loss"]), "updates": int(stats["updates"]), "model": student.model}


def run_trainer(initial: dict, examples, epochs: int, batch_size: int, seed: int, optim: str) -> dict:
    student = new_student(initial, epochs, batch_size, seed)
    collator = PadCollator()
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=batch_size,
            num_train_epochs=epochs,
            learning_rate=student.config.learning_rate,
            weight_decay=student.config.weight_decay,
            lr_scheduler_type="constant",
            warmup_steps=0,
            max_grad_norm=0.0,  # no clipping, as ours
            optim=optim,
            use_cpu=True,
            report_to=[],
            eval_strategy="no",
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            dataloader_num_workers=0,
            dataloader_pin_memory=False,
            remove_unused_columns=False,
            seed=seed,
        )
        trainer = Trainer(
            model=student.model,
            args=args,
            train_dataset=EncodedDataset(student, examples),
            data_collator=collator,
        )
        trainer.remove_callback(PrinterCallback)  # it prints the final metrics dict; we print our own
        t0 = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "train_loss": float(result.training_loss),
        "updates": int(result.global_step),
        "pad_share": collator.pads / max(collator.positions, 1),
        "model": student.model,
    }


def held_out_loss(model, examples) -> float:
    """Mean nats per answer token of ``model`` on ``examples``, by the student's own loss."""
    student = TransformerStudent(torch_threads=0)
    student.model = model
    return float(np.mean(student.loss(examples)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=1536, help="training examples (all skills, round robin)")
    parser.add_argument("--epochs", type=int, default=2, help="passes over the examples, both loops")
    parser.add_argument("--batch-size", type=int, default=16, help="examples per update, both loops")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads, both loops")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each loop (median reported)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, the initial weights and the shuffles")
    parser.add_argument("--trainer-optim", default="adamw_torch",
                        help="Trainer's optim: adamw_torch is the same torch.optim.AdamW ours uses; "
                             "adamw_torch_fused is Trainer's default")
    parser.add_argument("--json-out", default=None, help="write every run's figures to this JSON file")
    args = parser.parse_args()
    for name in ("examples", "epochs", "batch_size", "threads", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"Expected --{name.replace('_', '-')} >= 1, got {getattr(args, name)}.")
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    task = ArithmeticTask()
    examples = make_examples(task, args.examples, args.seed)
    validation = [ex for name in task.skill_names for ex in task.heldout("validation")[name]]
    reference = TransformerStudent(torch_threads=0)  # the default (1) would reset torch's threads
    reference.reset(args.seed)
    initial = copy.deepcopy(reference.model.state_dict())
    encoded = [reference._encode_example(ex) for ex in examples]
    n_examples = args.examples * args.epochs
    n_tokens = sum(len(ids) for ids, _ in encoded) * args.epochs
    n_answer_tokens = sum(len(ids) - n for ids, n in encoded) * args.epochs

    # Warm-up: first calls pay for lazy initialisation (kernels, allocator); not timed.
    warm = examples[: 4 * args.batch_size]
    run_ours(initial, warm, 1, args.batch_size, args.seed)
    run_trainer(initial, warm, 1, args.batch_size, args.seed, args.trainer_optim)

    runs: dict[str, list[dict]] = {"ours": [], "trainer": []}
    for r in range(args.repeats):
        order = ("ours", "trainer") if r % 2 == 0 else ("trainer", "ours")
        for who in order:
            if torch.get_num_threads() != args.threads:
                raise RuntimeError(f"Expected torch to keep {args.threads} thread(s), found {torch.get_num_threads()}.")
            if who == "ours":
                run = run_ours(initial, examples, args.epochs, args.batch_size, args.seed)
            else:
                run = run_trainer(initial, examples, args.epochs, args.batch_size, args.seed, args.trainer_optim)
            run["train_set_loss"] = held_out_loss(run["model"], examples)
            run["validation_loss"] = held_out_loss(run["model"], validation)
            del run["model"]
            runs[who].append(run)

    def med(who: str, key: str) -> float:
        return float(statistics.median(run[key] for run in runs[who]))

    seconds = {who: med(who, "seconds") for who in runs}
    ratio = seconds["trainer"] / seconds["ours"]
    print(
        f"{args.examples} examples x {args.epochs} epochs, batch {args.batch_size}, {args.threads} torch "
        f"thread(s), {reference.num_parameters:,} parameters, Trainer optim {args.trainer_optim}; "
        f"torch {torch.__version__}, transformers {transformers.__version__}, Python "
        f"{platform.python_version()}, {os.cpu_count()} cores, load average before {load_before[0]:.2f}, "
        f"after {os.getloadavg()[0]:.2f}; median of {args.repeats} (seconds per run: "
        f"ours {[round(x['seconds'], 2) for x in runs['ours']]}, "
        f"Trainer {[round(x['seconds'], 2) for x in runs['trainer']]})\n"
    )
    print("| loop | updates | seconds | examples/s | tokens/s | answer tokens/s | mean training loss "
          "| trained: loss on train set | trained: loss on validation |")
    print("|---|---|---|---|---|---|---|---|---|")
    for who, label in (("ours", "datagym student"), ("trainer", "transformers.Trainer")):
        s = seconds[who]
        print(f"| {label} | {runs[who][0]['updates']} | {s:.2f} | {n_examples / s:.0f} | {n_tokens / s:.0f} | "
              f"{n_answer_tokens / s:.0f} | {med(who, 'train_loss'):.3f} | {med(who, 'train_set_loss'):.3f} | "
              f"{med(who, 'validation_loss'):.3f} |")
    print(f"\nTrainer's batches were {100 * med('trainer', 'pad_share'):.1f}% padding; ours none. "
          f"tokens/s counts real tokens only ({n_tokens // args.epochs} per epoch, "
          f"{n_answer_tokens // args.epochs} of them answer tokens).")
    verdict = "met" if ratio >= 1.0 else "NOT met"
    aim = "met" if ratio >= 1.5 else "not met"
    print(f"ours / Trainer speed: {ratio:.2f}x (target >= 1.0: {verdict}; aim 1.5x: {aim})")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(
                {
                    "args": vars(args),
                    "cpu_count": os.cpu_count(),
                    "torch": torch.__version__,
                    "transformers": transformers.__version__,
                    "load_average_before": load_before,
                    "examples_seen": n_examples,
                    "tokens_seen": n_tokens,
                    "answer_tokens_seen": n_answer_tokens,
                    "median_seconds": seconds,
                    "ratio_ours_over_trainer": ratio,
                    "runs": runs,
                },
                fh,
                indent=2,
            )


if __name__ == "__main__":
    main()
