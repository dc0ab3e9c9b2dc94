"""The simulated student: a full Student, deterministic, learning, transferring and forgetting
as its parameters say, and answering consistently with its state on both of the env's paths."""

from __future__ import annotations

import copy
import json
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import datagym  # noqa: F401
from datagym.errors import ConfigError
from datagym.students.simulated_student import (
    GLOBAL_PARAMETERS,
    SKILL_PARAMETERS,
    SimulatedStudent,
    SimulatorParameters,
)
from datagym.task import ACCEPTED

SL = "datagym/Arithmetic-SkillList-v1"


def scripted_parameters(tmp_path, **globals_) -> str:
    """Every skill the same (midpoint log(1+x) = 5, ceiling 0.9); globals as given."""
    g = {"initial_loss": 2.0, "transfer_family": 0.0, "transfer_all": 0.0, "forgetting": 0.0, "seed_sd": 0.0,
         "difficulty_slope": 0.0, "loss_noise": 0.0, **globals_}
    skill = {"accuracy_ceiling": 0.9, "accuracy_slope": 3.0, "accuracy_midpoint": 5.0, "loss_floor": 0.1,
             "loss_scale": 200.0, "loss_shape": 1.0}
    from datagym.envs.arithmetic.task import ArithmeticTask

    data = {"format": 1, "globals": g, "skills": {s: dict(skill) for s in ArithmeticTask().skill_names}, "meta": {}}
    path = tmp_path / "params.json"
    path.write_text(json.dumps(data))
    return str(path)


def student_for(arithmetic_task, **options) -> SimulatedStudent:
    student = SimulatedStudent(**options)
    student.prepare(arithmetic_task)
    student.reset(7)
    return student


def expected_accuracy(student: SimulatedStudent) -> np.ndarray:
    return student._skill_accuracy().copy()


def counts_of(student: SimulatedStudent, **per_skill: int) -> np.ndarray:
    counts = np.zeros(len(student.skill_names))
    for name, n in per_skill.items():
        counts[student.skill_names.index(name)] = n
    return counts


def rollout(env_id: str, seed: int, steps: int = 6, **kwargs):
    env = gym.make(env_id, student="simulated", timings=False, **kwargs)
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = [(obs, info)]
    for _ in range(steps):
        action = env.action_space.sample() if not env.unwrapped.level == "skill_list" else rng.random(15).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((obs, reward, info))
        if terminated or truncated:
            break
    return out


def test_the_packaged_parameters_load_and_cover_every_arithmetic_skill(arithmetic_task):
    params = SimulatorParameters.load()
    assert set(params.skills) == set(arithmetic_task.skill_names)
    assert set(params.globals) >= set(GLOBAL_PARAMETERS)
    fit = params.meta["fit"]
    assert fit["model"]["rmse"] < fit["no_transfer_baseline"]["rmse"] + 0.02


def test_same_seed_same_trajectory_and_another_seed_another():
    a, b, c = rollout(SL, 3), rollout(SL, 3), rollout(SL, 4)
    assert [step[1] for step in a[1:]] == [step[1] for step in b[1:]]
    for x, y in zip(a[1:], b[1:]):
        np.testing.assert_array_equal(x[0]["accuracy"], y[0]["accuracy"])
        np.testing.assert_array_equal(x[0]["loss"], y[0]["loss"])
        assert x[2] == y[2]
    assert [step[1] for step in a[1:]] != [step[1] for step in c[1:]]


@pytest.mark.parametrize("skill", ["add_no_carry", "mul_2digit", "compare_diff_length"])
def test_more_data_of_a_skill_never_lowers_its_expected_accuracy_or_raises_its_loss(arithmetic_task, skill):
    previous_acc, previous_loss = None, None
    for n in [0, 50, 200, 800, 3000]:
        student = student_for(arithmetic_task)
        if n:
            student.train_counts(counts_of(student, **{skill: n}))
        i = student.skill_names.index(skill)
        acc, loss = expected_accuracy(student)[i], student._skill_loss()[i]
        if previous_acc is not None:
            assert acc >= previous_acc - 1e-12 and loss <= previous_loss + 1e-12
        previous_acc, previous_loss = acc, loss
    assert previous_acc > expected_accuracy(student_for(arithmetic_task))[i]


def test_transfer_reaches_the_family_first(arithmetic_task, tmp_path):
    student = student_for(arithmetic_task, parameters=scripted_parameters(tmp_path, transfer_family=0.5,
                                                                          transfer_all=0.05))
    student.train_counts(counts_of(student, add_no_carry=400))
    acc = dict(zip(student.skill_names, expected_accuracy(student)))
    untouched = dict(zip(student.skill_names, expected_accuracy(student_for(arithmetic_task, parameters=str(tmp_path / "params.json")))))
    # same family (addition) gains most, another family a little, nothing gains as much as the skill itself
    assert acc["add_no_carry"] > acc["add_carry"] > acc["sub_borrow"] > untouched["sub_borrow"]
    assert acc["add_carry"] == pytest.approx(acc["add_3digit"])


def test_without_transfer_other_skills_do_not_move(arithmetic_task, tmp_path):
    student = student_for(arithmetic_task, parameters=scripted_parameters(tmp_path))
    before = expected_accuracy(student)
    student.train_counts(counts_of(student, add_no_carry=400))
    after = expected_accuracy(student)
    moved = np.flatnonzero(after != before)
    assert [student.skill_names[i] for i in moved] == ["add_no_carry"]


def test_continual_training_on_other_skills_forgets_and_retrain_does_not(arithmetic_task, tmp_path):
    path = scripted_parameters(tmp_path, forgetting=0.3)
    results = {}
    for mode in ("continual", "retrain"):
        student = student_for(arithmetic_task, parameters=path, mode=mode)
        student.train_counts(counts_of(student, add_no_carry=400))
        learned = expected_accuracy(student)[0]
        for _ in range(3):
            student.train_counts(counts_of(student, mul_1digit=700))
        results[mode] = (learned, expected_accuracy(student)[0])
    learned, after = results["continual"]
    assert after < learned - 0.05
    assert results["retrain"][1] == pytest.approx(results["retrain"][0])


def test_harder_questions_of_a_skill_are_missed_more(arithmetic_task, tmp_path):
    student = student_for(arithmetic_task, parameters=scripted_parameters(tmp_path, difficulty_slope=4.0),
                          evaluation_noise=False)
    student.train_counts(np.full(15, 150.0))
    correct, _ = student.score("validation")
    offsets = student._heldout["validation"].offset
    assert correct[offsets < -0.2].mean() > correct[offsets > 0.2].mean()


def test_evaluation_is_fifty_bernoulli_draws_per_skill(arithmetic_task):
    """The spread of a skill's score over seeds at a fixed expected accuracy is binomial(50)."""
    scores = []
    for seed in range(300):
        student = SimulatedStudent()
        student.prepare(arithmetic_task)
        student.reset(seed)
        student._shift[:] = 0.0  # the same expected accuracy on every seed
        student.train_counts(np.full(15, 400.0))
        correct, _ = student.score("validation")
        scores.append(correct[:50].mean())
    student._shift[:] = 0.0
    p = float(np.mean(scores))
    assert 0.05 < p < 0.95
    assert np.std(scores) == pytest.approx(np.sqrt(p * (1 - p) / 50), rel=0.2)


def test_predict_and_loss_agree_with_the_scores_the_env_counts(arithmetic_task):
    env = gym.make(SL, student="simulated", timings=False)
    env.reset(seed=1)
    for _ in range(4):
        env.step(np.ones(15, np.float32))
    unwrapped = env.unwrapped
    examples = [ex for name in unwrapped.skill_names for ex in unwrapped._validation[name]]
    predictions = unwrapped.student.predict([ex.question for ex in examples])
    correct = np.array([arithmetic_task.is_correct(p, ex.answer) for p, ex in zip(predictions, examples)])
    per_skill = np.array([correct[i * 50:(i + 1) * 50].mean() for i in range(15)])
    np.testing.assert_allclose(per_skill, unwrapped.accuracy)
    losses = np.array(unwrapped.student.loss(examples)).reshape(15, 50).mean(axis=1)
    np.testing.assert_allclose(losses, unwrapped.loss)
    # the records the Open-Ended level reads say the same
    records = unwrapped.last_validation
    assert [r["correct"] for r in records] == correct.tolist()
    wrong = [r for r in records if not r["correct"]]
    assert wrong and all(r["prediction"] != r["gold"] and r["prediction"] for r in wrong[:20])


def test_a_question_outside_the_heldout_sets_is_labelled_by_the_oracle(arithmetic_task, tmp_path):
    student = student_for(arithmetic_task, parameters=scripted_parameters(tmp_path), evaluation_noise=False)
    student.train_counts(np.full(15, 5000.0))  # far past every midpoint: right at 0.9 > 0.5
    assert student.predict(["123+456"]) == ["579"]
    fresh = student_for(arithmetic_task, parameters=str(tmp_path / "params.json"), evaluation_noise=False)
    assert fresh.predict(["123+456"]) != ["579"]
    assert fresh.predict(["not a question"]) == [""]


def test_state_dict_round_trip_continues_exactly(arithmetic_task):
    a = student_for(arithmetic_task)
    a.train_counts(np.full(15, 60.0))
    state = copy.deepcopy(a.state_dict())
    json.dumps(state)  # plain data
    b = SimulatedStudent()
    b.prepare(arithmetic_task)
    b.load_state_dict(state)
    for student in (a, b):
        student.train_counts(np.arange(15, dtype=float) * 10)
    for split in ("validation", "test"):
        np.testing.assert_array_equal(a.score(split)[0], b.score(split)[0])
        np.testing.assert_array_equal(a.score(split)[1], b.score(split)[1])
    assert pickle.loads(pickle.dumps(a)).score("validation")[0].tolist() == a.score("validation")[0].tolist()


def test_train_on_examples_counts_them_like_train_counts(arithmetic_task, make_examples):
    a, b = student_for(arithmetic_task), student_for(arithmetic_task)
    a.train(make_examples("add_carry", 30) + make_examples("div_exact", 20))
    b.train_counts(counts_of(b, add_carry=30, div_exact=20))
    np.testing.assert_array_equal(a.score("validation")[0], b.score("validation")[0])


def test_skills_it_was_not_calibrated_on_take_the_median(arithmetic_task):
    params = SimulatorParameters.load()
    values = params.skill_values("a_skill_of_another_task")
    for key in SKILL_PARAMETERS:
        assert values[key] == pytest.approx(np.median([v[key] for v in params.skills.values()]))


def test_bad_options_and_files_are_refused_with_what_was_expected(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown student option\(s\) \['width'\]; expected some of"):
        SimulatedStudent(width=3)
    with pytest.raises(ConfigError, match="Expected a simulator parameter file at .*nothing.json.*there is none"):
        SimulatedStudent(parameters=str(tmp_path / "nothing.json"))
    (tmp_path / "bad.json").write_text('{"format": 1, "globals": {}, "skills": {}}')
    with pytest.raises(ConfigError, match="Expected simulator global parameters"):
        SimulatedStudent(parameters=str(tmp_path / "bad.json"))
    with pytest.raises(ConfigError, match="Expected student mode one of"):
        SimulatedStudent(mode="sometimes")


@pytest.mark.parametrize("env_id", ["datagym/Arithmetic-SkillList-v1", "datagym/Arithmetic-OpenEnded-v1",
                                    "datagym/Arithmetic-SkillTree-v1", "datagym/Arithmetic-SkillList-v0"])
def test_every_level_runs_with_it_and_passes_the_env_checker(env_id):
    env = gym.make(env_id, student="simulated", timings=False)
    check_env(env.unwrapped, skip_render_check=True)
    steps = rollout(env_id, seed=0, steps=3)
    assert len(steps) == 4
    assert all(np.isfinite(step[1]) for step in steps[1:])


def test_difficulty_control_runs_on_the_fast_path():
    env = gym.make(SL, student="simulated", timings=False, difficulty_control=True)
    obs, _ = env.reset(seed=0)
    action = {"weights": np.ones(15, np.float32), "difficulty": np.full(15, 0.1, np.float32)}
    obs, reward, *_ = env.step(action)
    assert obs["accuracy_by_difficulty"].shape == (15, 4)
    assert env.unwrapped.last_examples == []  # no text was generated


def test_the_fast_path_rejects_at_the_rate_generation_does(arithmetic_task):
    """Test contamination: the fast path's verdicts against really generating the same plans."""
    fast = gym.make(SL, student="simulated", timings=False)
    fast.reset(seed=0)
    rejected = generated = 0
    for _ in range(40):
        _, _, terminated, truncated, info = fast.step(np.ones(15, np.float32))
        rejected += sum(info["teacher/rejected"].values())
        generated += info["teacher/generated"]
        if terminated or truncated:
            fast.reset()
    rng = np.random.default_rng(123)
    real = [arithmetic_task.generate(name, rng) for name in arithmetic_task.skill_names for _ in range(2000)]
    real_rate = np.mean([arithmetic_task.is_test_question(ex.question) for ex in real])
    assert generated == 40 * 768
    assert rejected / generated == pytest.approx(real_rate, abs=0.006)
    assert set(info["teacher/rejected"]) <= {"test_contamination"}
    assert ACCEPTED not in info["teacher/rejected"]


def test_info_and_observation_keys_are_the_real_envs():
    real = gym.make(SL, timings=False, total_budget=64, step_budget=32, student_options={"epochs": 1, "n_embd": 16})
    sim = gym.make(SL, timings=False, total_budget=64, step_budget=32, student="simulated")
    for env in (real, sim):
        env.reset(seed=0)
    a = real.step(np.ones(15, np.float32))
    b = sim.step(np.ones(15, np.float32))
    assert set(a[0]) == set(b[0]) and set(a[4]) == set(b[4])
    a, b = real.step(np.ones(15, np.float32)), sim.step(np.ones(15, np.float32))
    assert a[2] and b[2] and set(a[4]) == set(b[4])


def test_the_fast_paths_difficulty_bands_equal_the_per_question_records():
    from datagym.envs.skill_list_env import DIFFICULTY_BANDS, difficulty_band

    env = gym.make(SL, student="simulated", timings=False, difficulty_control=True)
    env.reset(seed=2)
    action = {"weights": np.ones(15, np.float32), "difficulty": np.full(15, 0.7, np.float32)}
    for _ in range(3):
        obs, *_ = env.step(action)
    unwrapped = env.unwrapped
    correct, loss, count = (np.zeros((15, DIFFICULTY_BANDS)) for _ in range(3))
    for record in unwrapped.last_validation:
        i = unwrapped.skill_names.index(record["skill"])
        band = difficulty_band(record["difficulty"])
        correct[i, band] += record["correct"]
        loss[i, band] += record["loss"]
        count[i, band] += 1
    expected_acc = np.where(count == 0, unwrapped.accuracy[:, None], correct / np.maximum(count, 1))
    expected_loss = np.where(count == 0, unwrapped.loss[:, None], loss / np.maximum(count, 1))
    np.testing.assert_allclose(obs["accuracy_by_difficulty"], expected_acc.astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(obs["loss_by_difficulty"], expected_loss.astype(np.float32), rtol=1e-6)
