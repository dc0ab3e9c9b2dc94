"""``student_resources``: the student trains and answers in a Ray actor, with the same results
as in-process for the same seed, and the env still pickles (the run checkpoint) and resumes."""

from __future__ import annotations

import pickle
import re

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import data_equivalence

from datagym.errors import ConfigError
from datagym.remote_student import RemoteStudent
from datagym.runner import episode_config
from datagym.students.transformer_student import TransformerStudent

ENV_ID = "datagym/Arithmetic-SkillList-v1"
FAST_STUDENT = {"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1, "batch_size": 16}
OPTIONS = {"total_budget": 96, "step_budget": 32, "student_options": FAST_STUDENT, "timings": False}
REMOTE = {"num_cpus": 1}


def _actions(env: gym.Env, n: int = 3) -> list:
    env.action_space.seed(11)
    return [env.action_space.sample() for _ in range(n)]


def _rollout(env: gym.Env, actions: list, seed: int = 4) -> list:
    trace = [env.reset(seed=seed)]
    for action in actions:
        trace.append(env.step(action))
    return trace


@pytest.fixture(scope="module")
def remote_env(ray_local):
    """One env with a remote student for the module (each actor is a new process to start)."""
    env = gym.make(ENV_ID, student_resources=REMOTE, **OPTIONS)
    yield env
    env.unwrapped.student.close()


def test_the_remote_student_gives_the_in_process_episode(remote_env):
    local = gym.make(ENV_ID, **OPTIONS)
    assert isinstance(remote_env.unwrapped.student, RemoteStudent)
    actions = _actions(local)
    expected, got = _rollout(local, actions), _rollout(remote_env, actions)
    assert got[-1][2] or got[-1][3]  # the whole episode, test scores included
    assert data_equivalence(got, expected, exact=True)
    # the actor's state_dict is the in-process student's, and loads into one
    fresh = TransformerStudent(**FAST_STUDENT)
    fresh.load_state_dict(remote_env.unwrapped.student.state_dict())
    questions = ["12+7", "3*4", "81-9"]
    assert fresh.predict(questions) == local.unwrapped.student.predict(questions)
    # what a run directory records about the student is the same too
    assert episode_config(remote_env, "uniform", {}, 4)["student_config"] == (
        episode_config(local, "uniform", {}, 4)["student_config"]
    )


def test_an_env_with_a_remote_student_pickles_mid_episode_and_goes_on_identically(remote_env):
    env = remote_env
    actions = _actions(env)
    env.reset(seed=5)
    env.step(actions[0])
    copy = pickle.loads(pickle.dumps(env))  # what the per-step checkpoint does
    student = copy.unwrapped.student
    assert student._actor is None  # a fresh actor is made on first use, with the pickled state
    assert data_equivalence(copy.step(actions[1]), env.step(actions[1]), exact=True)
    assert student._actor is not None and student._actor != env.unwrapped.student._actor
    assert data_equivalence(copy.step(actions[2]), env.step(actions[2]), exact=True)
    student.close()


def test_making_the_env_starts_no_actor_and_checks_options_in_process():
    env = gym.make(ENV_ID, student_resources=REMOTE, **OPTIONS)
    assert env.unwrapped.student._actor is None
    with pytest.raises(ConfigError, match=re.escape("Unknown student option(s) ['bogus']")):
        gym.make(ENV_ID, student_resources=REMOTE, **{**OPTIONS, "student_options": {"bogus": 1}})


@pytest.mark.parametrize(
    "resources, message",
    [
        (3, "Expected student_resources to be a dict like"),
        ({"gpus": 1}, "Unknown student_resources key(s) ['gpus']; expected some of ['num_cpus', 'num_gpus'"),
        ({"num_gpus": -1}, "Expected student_resources['num_gpus'] to be a number >= 0, got -1."),
        ({"num_cpus": "1"}, "Expected student_resources['num_cpus'] to be a number >= 0, got '1'."),
        ({"resources": ["a"]}, "Expected student_resources['resources'] to map names to amounts"),
    ],
)
def test_bad_student_resources_are_refused_by_name(resources, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        gym.make(ENV_ID, student_resources=resources, **OPTIONS)


def test_auto_threads_in_a_ray_worker_is_the_cpus_ray_assigned(ray_local):
    from datagym.students.transformer_student import auto_threads

    one = ray_local.remote(num_cpus=1)(auto_threads)
    none = ray_local.remote(num_cpus=0)(auto_threads)
    assert ray_local.get(one.remote()) == 1
    assert ray_local.get(none.remote()) == 1  # no CPU assigned: one thread, never every core
