"""``gymnasium.make_vec(id, vectorization_mode="vector_entry_point")``: N sub-envs on N Ray
actors, following Gymnasium's vector API. Gymnasium ships no checker for vector envs, so the
reference is its own ``SyncVectorEnv`` (N single envs stepped in-process): with the same
seeds and actions, everything must be equal, infos and autoresets included."""

from __future__ import annotations

import re
import time
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import batch_space

from datagym.errors import InvalidActionError
from datagym.ray_vector_env import RayVectorEnv, entry_point

ENV_ID = "datagym/Arithmetic-SkillList-v1"
FAST_STUDENT = {"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1, "batch_size": 16}
OPTIONS = {"total_budget": 64, "step_budget": 32, "student_options": FAST_STUDENT, "timings": False}  # 2 steps


@pytest.fixture(scope="module")
def envs(ray_local):
    """One Ray vector env for the module: each actor is a process to start."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", **OPTIONS)
    made.creation_warnings = [str(w.message) for w in caught]
    yield made
    made.close()


@pytest.fixture(scope="module")
def reference():
    made = gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="sync", **OPTIONS)
    yield made
    made.close()


def _actions(envs, n: int) -> list:
    envs.action_space.seed(5)
    return [envs.action_space.sample() for _ in range(n)]


def _trace(envs, actions: list, seed) -> list:
    trace = [envs.reset(seed=seed)]
    for action in actions:
        trace.append(envs.step(action))
    return trace


def test_make_vec_gives_a_ray_vector_env_with_batched_spaces(envs):
    assert isinstance(envs, RayVectorEnv) and envs.num_envs == 2
    assert gym.spec(ENV_ID).vector_entry_point == entry_point(ENV_ID)
    single = gym.make(ENV_ID, **OPTIONS)
    assert envs.single_observation_space == single.observation_space
    assert envs.single_action_space == single.action_space
    assert envs.observation_space == batch_space(single.observation_space, 2)
    assert envs.action_space == batch_space(single.action_space, 2)
    assert envs.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert envs.creation_warnings == []  # make_vec warns when the autoreset mode is missing
    assert envs.spec.id == ENV_ID


def test_it_steps_exactly_as_n_single_envs_in_process(envs, reference):
    assert isinstance(reference, SyncVectorEnv)
    actions = _actions(envs, 5)  # two 2-step episodes and an autoreset between them, per sub-env
    got, expected = _trace(envs, actions, seed=[3, 8]), _trace(reference, actions, seed=[3, 8])
    assert data_equivalence(got, expected, exact=True)
    for obs, rewards, terminations, truncations, infos in got[1:]:
        assert envs.observation_space.contains(obs)
        assert rewards.shape == terminations.shape == truncations.shape == (2,)
        assert rewards.dtype == np.float64 and terminations.dtype == truncations.dtype == np.bool_
        assert set(infos["_student/macro_accuracy"]) == {True}  # Gymnasium's vector info: a mask per key
    assert [bool(t[2].all()) for t in got[1:]] == [False, True, False, False, True]


def test_next_step_autoreset(envs):
    """The step after an episode ends resets that sub-env: its action is ignored, reward 0,
    flags false, and the reset's observation and info come back."""
    actions = _actions(envs, 3)
    first_obs, first_info = envs.reset(seed=[1, 2])
    envs.step(actions[0])
    _, _, terminations, _, _ = envs.step(actions[1])
    assert terminations.all()
    obs, rewards, terminations, truncations, infos = envs.step(actions[2])
    assert not rewards.any() and not terminations.any() and not truncations.any()
    assert "teacher/requested" not in infos  # a reset's info, not a step's
    assert (infos["teacher/budget_left"] == OPTIONS["total_budget"]).all()
    assert (obs["budget_left"] == OPTIONS["total_budget"]).all() and not obs["examples_seen"].any()
    # no seed: each sub-env's own generator goes on, so the new episode is not the first again
    assert not data_equivalence(envs.step(actions[0])[4], envs.reset(seed=[1, 2])[1])


def test_an_int_seed_seeds_sub_env_i_with_seed_plus_i(envs):
    assert data_equivalence(envs.reset(seed=7), envs.reset(seed=[7, 8]), exact=True)


def test_reset_mask_resets_only_the_chosen_sub_envs(envs, reference):
    actions = _actions(envs, 1)
    traces = []
    for vec in (envs, reference):
        vec.reset(seed=[3, 4])
        vec.step(actions[0])
        traces.append(vec.reset(seed=[9, 9], options={"reset_mask": np.array([False, True])}))
    assert data_equivalence(traces[0], traces[1], exact=True)
    assert traces[0][0]["budget_left"].tolist() == [[32.0], [64.0]]  # sub-env 0 kept its state


def test_bad_seeds_and_bad_actions_are_refused_by_name(envs):
    with pytest.raises(ValueError, match=re.escape("Expected one seed per sub-env (num_envs=2) or a single int, got 3")):
        envs.reset(seed=[1, 2, 3])
    envs.reset(seed=0)
    bad = np.full(envs.action_space.shape, -1.0, dtype=np.float32)
    with pytest.raises(InvalidActionError):  # the env's own error, raised through Ray
        envs.step(bad)


def test_get_attr_and_call_reach_the_sub_envs(envs):
    names = envs.get_attr("skill_names")
    assert len(names) == 2 and names[0] == names[1] and "add_carry" in names[0]
    assert envs.call("render") == (None, None)  # no render_mode


def test_gymnasium_vector_wrappers_accept_it(envs):
    wrapped = gym.wrappers.vector.RecordEpisodeStatistics(envs)
    wrapped.reset(seed=0)
    actions = _actions(envs, 2)
    wrapped.step(actions[0])
    *_, infos = wrapped.step(actions[1])
    assert infos["_episode"].all() and (infos["episode"]["l"] == 2).all()


def test_close_kills_the_actors(envs):  # last: it closes the module's env
    import ray

    actors = list(envs.actors)
    envs.close()
    assert envs.closed and envs.actors == []
    # ray.kill is asynchronous: a call sent at once may still be served, so each actor must
    # stop answering within the minute, not at the next call
    for actor in actors:
        deadline = time.monotonic() + 60
        with pytest.raises(ray.exceptions.RayActorError):
            while time.monotonic() < deadline:
                ray.get(actor.call.remote("render", (), {}), timeout=60)
                time.sleep(0.2)
