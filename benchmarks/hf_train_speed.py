"""The hf student's training loop against transformers' Trainer: same model, data and batch.

    python benchmarks/hf_train_speed.py [--hidden 128] [--layers 4] [--examples 1024] [--lora]

A Llama made from a config (``datagym.tiny_models.save_tiny_llama``: a BPE tokenizer trained
with ``tokenizers``, random weights from one seed), saved and loaded by path as a user's model
is. Both loops train it from the same weights on the same arithmetic examples, tokenised the
student's way (its chat template, the loss on the answer's tokens and the end token only),
with ``torch.optim.AdamW`` at one constant learning rate, the same batch size and epochs,
gradient clipping at 1.0 both, in one process; each is warmed up first, then timed. Trainer
takes its usual path: a dataset of token ids and a collator that pads each batch. Printed:
seconds, tokens/s (every real token of the sequences), the ratio, the loops' mean training
loss and both trained models' loss on held-out questions (nats per answer token, the
student's ``loss``). With ``--lora`` both train the same LoRA adapter (peft). On a GPU both run
on it (``--device cuda``).
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from datagym.envs.arithmetic.task import ArithmeticTask
from datagym.students.hf_student import HFStudent
from datagym.tiny_models import save_tiny_llama

LORA = {"r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}


def examples(task: ArithmeticTask, n: int, seed: int):
    rng = np.random.default_rng(seed)
    return [task.generate(task.skill_names[i % len(task.skill_names)], rng) for i in range(n)]


class Rows(torch.utils.data.Dataset):
    def __init__(self, student: HFStudent, data) -> None:
        self.rows = [student._encode(ex) for ex in data]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        ids, labels = self.rows[i]
        return {"input_ids": ids, "labels": labels}


def trainer_run(student: HFStudent, data, args) -> tuple[float, float]:
    from transformers import PrinterCallback, Trainer, TrainingArguments

    pad = student.tokenizer.pad_token_id

    def collate(rows):
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for k, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[k, :n], labels[k, :n], mask[k, :n] = torch.tensor(r["input_ids"]), torch.tensor(r["labels"]), 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    with tempfile.TemporaryDirectory() as out:
        training = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch_size, num_train_epochs=args.epochs,
            learning_rate=args.learning_rate, lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=1.0,
            optim="adamw_torch", use_cpu=args.device == "cpu", report_to=[], eval_strategy="no", save_strategy="no",
            logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0, remove_unused_columns=False, seed=0,
        )
        trainer = Trainer(model=student.model, args=training, train_dataset=Rows(student, data), data_collator=collate)
        trainer.remove_callback(PrinterCallback)
        t0 = time.perf_counter()
        result = trainer.train()
        return time.perf_counter() - t0, float(result.training_loss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--lora", action="store_true", help="train a LoRA adapter (peft) instead of every weight")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    task = ArithmeticTask()
    data, held = examples(task, args.examples, 0), examples(task, 256, 1)
    with tempfile.TemporaryDirectory() as folder:
        model = save_tiny_llama(Path(folder) / "model", hidden_size=args.hidden, layers=args.layers, heads=4,
                                vocab_size=800)
        options = dict(model=str(model), lora=LORA if args.lora else None, learning_rate=args.learning_rate,
                       epochs=args.epochs, batch_size=args.batch_size, device=args.device, dtype="float32")

        def fresh() -> HFStudent:
            student = HFStudent(**options)
            student.reset(0)
            return student

        tokens = sum(len(ids) for ids, _ in (fresh()._encode(ex) for ex in data)) * args.epochs
        fresh().train(data[:32])  # warm-up of both code paths' kernels
        ours = fresh()
        t0 = time.perf_counter()
        stats = ours.train(data)
        our_seconds = time.perf_counter() - t0
        theirs = fresh()
        trainer_run(copy.deepcopy(theirs), data[:32], args)  # warm-up
        their_seconds, their_loss = trainer_run(theirs, data, args)
        theirs.model.eval()
        parameters = sum(p.numel() for p in ours.model.parameters())
        print(f"model: Llama {args.layers} x {args.hidden}, {parameters:,} parameters, "
              f"{'LoRA ' + str(LORA['r']) if args.lora else 'full fine-tuning'}; {args.examples} examples x "
              f"{args.epochs} epochs, batch {args.batch_size}, {tokens:,} tokens, device {args.device}, "
              f"{torch.get_num_threads()} threads")
        print("| loop | seconds | tokens/s | mean train loss | held-out loss |")
        print("|---|---|---|---|---|")
        print(f"| hf student | {our_seconds:.1f} | {tokens / our_seconds:,.0f} | {stats['loss']:.3f} | "
              f"{np.mean(ours.loss(held)):.3f} |")
        print(f"| transformers Trainer | {their_seconds:.1f} | {tokens / their_seconds:,.0f} | {their_loss:.3f} | "
              f"{np.mean(theirs.loss(held)):.3f} |")
        print(f"speed ratio (Trainer seconds / ours): {their_seconds / our_seconds:.2f}")


if __name__ == "__main__":
    main()
