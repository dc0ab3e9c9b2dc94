"""The default CPU student: it really learns, is deterministic, saves and resumes exactly, and
its two training modes do what the Student interface says."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from datagym.errors import ConfigError
from datagym.students.char_tokenizer import EOS, CharTokenizer
from datagym.students.transformer_student import TransformerStudent
from datagym.types import Example


def _student(options, seed=0, **overrides):
    student = TransformerStudent(**{**options, **overrides})
    student.reset(seed)
    return student


def _weights(student):
    return student.state_dict()["model"]


def _same_weights(a, b) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _accuracy(student, task, examples) -> float:
    predictions = student.predict([ex.question for ex in examples])
    return float(np.mean([task.is_correct(p, ex.answer) for p, ex in zip(predictions, examples)]))


QUESTIONS = ["12+34", "3*4", "100-7", "9%4", "55<7?", "1+1", "20+30", "7*(3+4)"]


# -- it learns -----------------------------------------------------------------------------------


def test_the_student_learns_a_skill_from_generated_data(arithmetic_task, make_examples):
    # The default student (2 layers, 128 wide) on 1500 generated add_no_carry examples: the
    # untrained model gets none of the validation questions; after training (about 10 s on
    # one thread) it gets 0.92-1.0 of them (0.54 at worst over the seeds tried). 0.3 leaves margin.
    validation = arithmetic_task.heldout("validation")["add_no_carry"]
    student = _student({}, seed=0, epochs=8)
    before = _accuracy(student, arithmetic_task, validation)
    start = time.perf_counter()
    stats = student.train(make_examples("add_no_carry", 1500, seed=1))
    after = _accuracy(student, arithmetic_task, validation)
    assert before <= 0.05
    assert after > 0.3, f"accuracy {after:.2f} after {time.perf_counter() - start:.1f}s of training"
    assert stats["updates"] > 0 and np.isfinite(stats["loss"])
    # The skill trained on improves far more than an untouched one.
    other = arithmetic_task.heldout("validation")["mul_2digit"]
    assert _accuracy(student, arithmetic_task, other) < after


def test_training_lowers_the_loss_on_the_training_data(fast_student_options, make_examples):
    student = _student(fast_student_options, epochs=1)
    data = make_examples("mul_by_10", 200)
    first = student.train(data)["loss"]
    for _ in range(3):
        last = student.train(data)["loss"]
    assert last < first


# -- prediction ----------------------------------------------------------------------------------


def test_predict_needs_weights():
    with pytest.raises(RuntimeError, match=r"The student has no weights yet: call reset\(seed\) first\."):
        TransformerStudent().predict(["1+1"])


def test_predict_on_no_questions(fast_student_options):
    assert _student(fast_student_options).predict([]) == []


def test_predictions_do_not_depend_on_batching(fast_student_options, make_examples):
    data = make_examples("add_carry", 64)
    student = _student(fast_student_options)
    student.train(data)
    together = student.predict(QUESTIONS)
    assert len(together) == len(QUESTIONS) and all(isinstance(a, str) for a in together)
    assert [student.predict([q])[0] for q in QUESTIONS] == together
    # eval_batch_size only changes how many questions decode at once.
    small_batches = _student(fast_student_options, eval_batch_size=2)
    small_batches.train(data)
    assert small_batches.predict(QUESTIONS) == together


def test_answers_are_at_most_max_new_tokens_long(fast_student_options):
    student = _student(fast_student_options, max_new_tokens=3)
    assert all(len(a) <= 3 for a in student.predict(QUESTIONS))


# -- determinism ---------------------------------------------------------------------------------


def test_same_seed_same_weights_and_predictions(fast_student_options, make_examples):
    data = make_examples("sub_borrow", 96)
    a, b = _student(fast_student_options, seed=5), _student(fast_student_options, seed=5)
    assert _same_weights(a, b)
    a.train(data)
    b.train(data)
    assert _same_weights(a, b)
    assert a.predict(QUESTIONS) == b.predict(QUESTIONS)


def test_different_seeds_different_initial_weights(fast_student_options):
    assert not _same_weights(_student(fast_student_options, seed=1), _student(fast_student_options, seed=2))


def test_reset_goes_back_to_the_initial_weights_and_forgets_the_data(fast_student_options, make_examples):
    student = _student(fast_student_options, seed=3)
    initial = _student(fast_student_options, seed=3)
    student.train(make_examples("add_no_carry", 32))
    assert not _same_weights(student, initial)
    student.reset(3)
    assert _same_weights(student, initial)
    assert student.state_dict()["seen"] == []


def test_reset_and_train_leave_torchs_global_generator_alone(fast_student_options, make_examples):
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    student = _student(fast_student_options, seed=0)
    student.train(make_examples("add_no_carry", 32))
    student.predict(QUESTIONS)
    assert torch.equal(torch.get_rng_state(), before)


def test_load_state_dict_leaves_torchs_global_generator_alone(fast_student_options):
    # BUG: load_state_dict builds LlamaForCausalLM(...) outside torch.random.fork_rng, so its
    # (immediately overwritten) random init draws from the caller's global torch generator.
    state = _student(fast_student_options, seed=0).state_dict()
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    TransformerStudent(**fast_student_options).load_state_dict(state)
    assert torch.equal(torch.get_rng_state(), before)


# -- state ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["continual", "retrain"])
def test_state_dict_round_trip_continues_identically(fast_student_options, make_examples, mode):
    first, second = make_examples("add_carry", 64, seed=1), make_examples("add_carry", 64, seed=2)
    original = _student(fast_student_options, seed=7, mode=mode)
    original.train(first)
    state = original.state_dict()

    restored = TransformerStudent(**{**fast_student_options, "mode": mode})  # never reset
    restored.load_state_dict(state)
    assert _same_weights(original, restored)
    assert restored.predict(QUESTIONS) == original.predict(QUESTIONS)

    assert restored.train(second) == original.train(second)
    assert _same_weights(original, restored)
    assert restored.predict(QUESTIONS) == original.predict(QUESTIONS)


def test_a_saved_state_is_a_snapshot_of_the_student(fast_student_options, make_examples):
    first, second = make_examples("add_carry", 64, seed=1), make_examples("add_carry", 64, seed=2)
    original = _student(fast_student_options, seed=7)
    original.train(first)
    state = original.state_dict()
    original.train(second)  # must not reach into the saved state
    restored = TransformerStudent(**fast_student_options)
    restored.load_state_dict(state)
    restored.train(second)
    assert _same_weights(original, restored)


def test_one_saved_state_loads_into_two_students_alike(fast_student_options, make_examples):
    # BUG: load_state_dict hands state["optimizer"] to torch's Optimizer.load_state_dict, which
    # keeps the very exp_avg / exp_avg_sq tensors it is given (they already match the params'
    # dtype and device). Training the loaded student then updates the caller's saved state in
    # place, so a second student loaded from the same state continues differently.
    first, second = make_examples("add_carry", 64, seed=1), make_examples("add_carry", 64, seed=2)
    original = _student(fast_student_options, seed=7)
    original.train(first)
    state = original.state_dict()
    a, b = TransformerStudent(**fast_student_options), TransformerStudent(**fast_student_options)
    a.load_state_dict(state)
    a.train(second)
    b.load_state_dict(state)
    b.train(second)
    assert _same_weights(a, b)


def test_a_state_from_another_config_is_refused(fast_student_options):
    state = _student(fast_student_options).state_dict()
    other = TransformerStudent(**{**fast_student_options, "n_embd": 64})
    with pytest.raises(ConfigError, match=r"Expected a state saved by a student with config \{.*'n_embd': 64.*\}, got one saved with \{.*'n_embd': 32.*\}\."):
        other.load_state_dict(state)


# -- training modes ------------------------------------------------------------------------------


def test_continual_training_on_nothing_changes_nothing(fast_student_options):
    student = _student(fast_student_options)
    before = _weights(student)
    stats = student.train([])
    assert stats["updates"] == 0 and np.isnan(stats["loss"])
    assert all(torch.equal(before[k], v) for k, v in _weights(student).items())


def test_continual_trains_only_on_the_new_data(fast_student_options, make_examples):
    first, second = make_examples("add_carry", 64, seed=1), make_examples("add_carry", 48, seed=2)
    student = _student(fast_student_options, epochs=2, replay=0.0)
    student.train(first)
    alone = _student(fast_student_options, epochs=2, replay=0.0)
    assert student.train(second)["updates"] == alone.train(second)["updates"]


def test_a_first_retrain_equals_a_first_continual_train(fast_student_options, make_examples):
    data = make_examples("add_carry", 64)
    retrain = _student(fast_student_options, mode="retrain")
    continual = _student(fast_student_options, mode="continual")
    assert retrain.train(data) == continual.train(data)
    assert _same_weights(retrain, continual)


def test_retrain_starts_from_the_initial_weights_on_all_data_so_far(fast_student_options, make_examples):
    # After train(x1), train(x2) in retrain mode must equal a student at its initial weights
    # (same seed) with a fresh optimizer trained once on x1 + x2, given the same shuffling
    # generator: retrain discards what training on x1 alone did to the weights.
    first, second = make_examples("add_carry", 48, seed=1), make_examples("sub_borrow", 48, seed=2)
    student = _student(fast_student_options, seed=9, mode="retrain")
    student.train(first)
    shuffle_state = student.state_dict()["rng"]
    stats = student.train(second)

    once = _student(fast_student_options, seed=9, mode="retrain")
    once.load_state_dict({**once.state_dict(), "rng": shuffle_state})
    assert once.train(first + second) == stats
    assert _same_weights(student, once)
    assert [Example.from_json(d) for d in student.state_dict()["seen"]] == first + second


def test_retrain_makes_more_updates_as_data_accumulates(fast_student_options, make_examples):
    data = make_examples("add_carry", 64)
    retrain = _student(fast_student_options, mode="retrain")
    continual = _student(fast_student_options, mode="continual", replay=0.0)
    for _ in range(2):
        retrain_updates = retrain.train(data)["updates"]
        continual_updates = continual.train(data)["updates"]
    assert retrain_updates > continual_updates


# -- batches and targets -------------------------------------------------------------------------


def test_batches_hold_one_length_mask_the_prompt_and_cover_every_example(fast_student_options, make_examples):
    student = _student(fast_student_options, batch_size=8, batching="length", reverse_digits=False)
    data = make_examples("add_carry", 40) + make_examples("mul_2digit", 40)
    tokenizer = CharTokenizer()
    batches = student.make_batches(data, np.random.default_rng(0))
    rows = []
    for ids, labels in batches:
        assert ids.shape == labels.shape and ids.shape[0] <= 8
        for row_ids, row_labels in zip(ids.tolist(), labels.tolist()):
            answer = [t for t in row_labels if t != -100]
            n_prompt = len(row_labels) - len(answer)
            assert row_labels[:n_prompt] == [-100] * n_prompt  # no loss on the question
            assert answer[-1] == EOS
            rows.append((tokenizer.decode(row_ids[1 : n_prompt - 1]), tokenizer.decode(answer)))
    assert sorted(rows) == sorted((ex.question, ex.answer) for ex in data)


def test_reverse_digits_trains_on_reversed_answers_and_predicts_in_normal_order(fast_student_options):
    student = _student(fast_student_options, reverse_digits=True)
    tokenizer = CharTokenizer()
    [(ids, labels)] = student.make_batches([Example("5-125", "-120", "sub_negative")], np.random.default_rng(0))
    target = [t for t in labels[0].tolist() if t != -100]
    assert tokenizer.decode(target) == "-021"
    # Predictions are turned back: train hard on one example and read it back.
    student = _student(fast_student_options, reverse_digits=True, epochs=200, learning_rate=1e-2)
    student.train([Example("5-125", "-120", "sub_negative")])
    assert student.predict(["5-125"]) == ["-120"]


# -- resources -----------------------------------------------------------------------------------


def test_the_default_student_is_a_few_hundred_thousand_parameters():
    assert 100_000 < _student({}).num_parameters < 1_000_000


def test_torch_threads_is_applied(fast_student_options):
    torch.set_num_threads(2)
    student = _student(fast_student_options, torch_threads=1)
    assert torch.get_num_threads() == 1
    torch.set_num_threads(2)
    student.predict(["1+1"])  # applied again before each train and predict
    assert torch.get_num_threads() == 1


def test_torch_threads_zero_leaves_torch_alone(fast_student_options):
    torch.set_num_threads(2)
    student = _student(fast_student_options, torch_threads=0)
    student.train([Example("1+1", "2", "add_no_carry")])
    student.predict(["1+1"])
    assert torch.get_num_threads() == 2


# -- replay (continual mode) ---------------------------------------------------------------------


def test_replay_zero_trains_on_the_new_data_alone(fast_student_options, make_examples):
    first, second = make_examples("add_carry", 64, seed=1), make_examples("add_carry", 48, seed=2)
    student = _student(fast_student_options, replay=0.0)
    student.train(first)
    alone = _student(fast_student_options)
    assert student.train(second)["updates"] == alone.train(second)["updates"]


def test_replay_mixes_old_examples_into_continual_training(fast_student_options, make_examples):
    first, second = make_examples("add_carry", 64, seed=1), make_examples("add_carry", 64, seed=2)
    plain = _student(fast_student_options, replay=0.0)
    replaying = _student(fast_student_options, replay=1.0)
    # Nothing old to replay on the first call: the same training as without replay.
    assert plain.train(first) == replaying.train(first)
    assert _same_weights(plain, replaying)
    assert replaying.train(second)["updates"] > plain.train(second)["updates"]
    # Replay never repeats an example within a call: at most every old example is replayed.
    greedy = _student(fast_student_options, replay=50.0)
    greedy.train(first)
    everything = _student(fast_student_options, replay=0.0)
    everything.train(first)
    assert greedy.train(second)["updates"] == everything.train(first + second)["updates"]


def test_replay_is_deterministic_and_resumes(fast_student_options, make_examples):
    first, second = make_examples("add_carry", 64, seed=1), make_examples("sub_borrow", 64, seed=2)
    a = _student(fast_student_options, seed=4, replay=0.5)
    a.train(first)
    b = TransformerStudent(**{**fast_student_options, "replay": 0.5})
    b.load_state_dict(a.state_dict())
    a.train(second)
    b.train(second)
    assert _same_weights(a, b)


@pytest.mark.parametrize("replay", [-1.0, float("inf"), "1"])
def test_replay_must_be_a_non_negative_number(replay):
    with pytest.raises(ConfigError, match=rf"Expected replay >= 0 \(old examples per new one\), got {replay!r}\."):
        TransformerStudent(replay=replay)


# -- validation loss ------------------------------------------------------------------------------


def test_loss_is_per_example_falls_with_training_and_changes_nothing(fast_student_options, make_examples):
    data = make_examples("add_no_carry", 64)
    student = _student(fast_student_options, epochs=3)
    before = student.loss(data[:10])
    assert len(before) == 10 and all(v > 0 for v in before)
    # An untrained student spreads probability over the vocabulary: about ln(vocab) nats.
    assert abs(np.mean(before) - np.log(student.tokenizer.vocab_size)) < 1.0
    weights = {k: v.clone() for k, v in student.model.state_dict().items()}
    assert student.loss(data[:10]) == before  # deterministic, and no training happened
    assert all(torch.equal(weights[k], v) for k, v in student.model.state_dict().items())
    student.train(data)
    assert np.mean(student.loss(data[:10])) < np.mean(before) - 0.5
    assert student.loss([]) == []


def test_mixed_batches_are_right_padded_with_the_loss_on_answers_only():
    import numpy as np

    from datagym.envs.arithmetic.task import ArithmeticTask
    from datagym.students.char_tokenizer import PAD
    from datagym.students.transformer_student import TransformerStudent

    task = ArithmeticTask(heldout_size=5)
    rng = np.random.default_rng(0)
    examples = [task.generate(skill, rng) for skill in task.skill_names for _ in range(3)]
    student = TransformerStudent(batching="mixed", batch_size=8)
    batches = student.make_batches(examples, np.random.default_rng(1))
    assert sum(ids.shape[0] for ids, _ in batches) == len(examples)
    lengths = set()
    for ids, labels in batches:
        for row in range(ids.shape[0]):
            seq = ids[row].tolist()
            real = len(seq) - next((i for i, t in enumerate(reversed(seq)) if t != PAD), 0)
            lengths.add(real)
            assert all(t == PAD for t in seq[real:])  # padding only on the right
            assert (labels[row, real:] == -100).all()  # pads carry no loss
            answer = [i for i in range(real) if labels[row, i] != -100]
            assert answer and answer[-1] == real - 1 and (labels[row, answer] == ids[row, answer]).all()
    assert len(lengths) > 1 and any(len({int((ids[r] != PAD).sum()) for r in range(ids.shape[0])}) > 1 for ids, _ in batches)


def test_mixed_batching_and_fused_adamw_train_deterministically():
    import numpy as np

    from datagym.envs.arithmetic.task import ArithmeticTask
    from datagym.students.transformer_student import TransformerStudent

    task = ArithmeticTask(heldout_size=5)
    examples = [task.generate(s, np.random.default_rng(i)) for i, s in enumerate(task.skill_names * 4)]
    runs = []
    for _ in range(2):
        student = TransformerStudent(batching="mixed", fused_adamw=True, n_layer=1, n_embd=32, n_head=2, epochs=2,
                                     torch_threads="auto")
        student.prepare(task)
        student.reset(3)
        stats = student.train(examples)
        runs.append((stats["loss"], student.predict([e.question for e in examples[:10]])))
    assert runs[0] == runs[1] and np.isfinite(runs[0][0])


def test_auto_threads_outside_ray_is_every_usable_core():
    import os

    from datagym.students.transformer_student import auto_threads

    assert auto_threads() == len(os.sched_getaffinity(0))


def test_the_cosine_schedule_warms_up_then_decays_to_a_tenth():
    import math

    import pytest

    from datagym.errors import ConfigError
    from datagym.students.transformer_student import TransformerStudentConfig, cosine_factor

    factors = [cosine_factor(i, 100) for i in range(100)]
    assert factors[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])  # 5% warm-up
    assert factors[5] == pytest.approx(1.0) and factors[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(factors[5:], factors[6:]))  # then it only falls
    assert factors[52] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 47 / 94)))
    with pytest.raises(ConfigError, match=r"Expected student lr_schedule one of \('constant', 'cosine'\), got 'linear'"):
        TransformerStudentConfig(lr_schedule="linear")
