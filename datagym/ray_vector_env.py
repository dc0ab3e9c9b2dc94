"""A Gymnasium vector env whose sub-envs each live in a Ray actor, stepped all at once.

Every datagym env registers it as its ``vector_entry_point``::

    import gymnasium as gym
    import datagym  # noqa: F401

    envs = gym.make_vec("datagym/Arithmetic-SkillList-v1", num_envs=4,
                        vectorization_mode="vector_entry_point", total_budget=768)
    obs, infos = envs.reset(seed=0)          # sub-env i gets seed 0 + i
    obs, rewards, terminations, truncations, infos = envs.step(envs.action_space.sample())
    envs.close()                             # kills the actors

A datagym step is seconds of student training, so running the N sub-envs on N actors (one CPU
each by default, ``actor_options`` to ask for more, or GPUs) steps them in about the time of
one. It follows Gymnasium's vector API: batched spaces, ``reset(seed=int | list)``, arrays of
rewards and flags, infos as Gymnasium's vector info dict (a value array and a ``_key`` mask per
key), and Gymnasium's default autoreset mode, ``AutoresetMode.NEXT_STEP``: the step after a
sub-env's episode ends resets it (its action is ignored, reward 0, flags false, the reset's
obs and info). With the same seeds it returns exactly what ``SyncVectorEnv`` (N envs stepped
in-process) returns.

Ray: a running instance is used; otherwise ``ray.init(address=ray_address)`` (None: a local
instance, or the cluster ``RAY_ADDRESS`` names).
"""

from __future__ import annotations

import functools
from copy import deepcopy
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate

from datagym.ray_errors import ray_get

ENTRY_PREFIX = "RayVectorEnv"


class _EnvHost:
    """What runs inside each actor: one env made with ``gymnasium.make``."""

    def __init__(self, env_id: str, kwargs: dict) -> None:
        import datagym  # noqa: F401  (registers the envs in this worker)

        self.env = gym.make(env_id, **kwargs)

    def spaces(self) -> tuple[gym.Space, gym.Space, dict, str | None]:
        return self.env.observation_space, self.env.action_space, dict(self.env.metadata), self.env.render_mode

    def reset(self, seed: int | None, options: dict | None) -> tuple[Any, dict]:
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple:
        return self.env.step(action)

    def set_attr(self, name: str, value: Any) -> None:
        self.env.set_wrapper_attr(name, value)

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        # through the wrappers to the env, as SyncVectorEnv does
        attr = self.env.get_wrapper_attr(name)
        return attr(*args, **kwargs) if callable(attr) else attr

    def close(self) -> None:
        self.env.close()


class RayVectorEnv(VectorEnv):
    """``num_envs`` copies of ``env_id``, one per Ray actor, stepped in parallel."""

    def __init__(
        self,
        env_id: str,
        num_envs: int = 1,
        actor_options: dict | None = None,
        ray_address: str | None = None,
        **kwargs: Any,
    ) -> None:
        import ray

        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"Expected num_envs to be a positive integer, got {num_envs!r}.")
        if actor_options is not None and not isinstance(actor_options, dict):
            raise ValueError(f"Expected actor_options to be a dict like {{'num_cpus': 1}}, got {actor_options!r}.")
        if not ray.is_initialized():
            ray.init(address=ray_address)
        self.env_id = env_id
        self.num_envs = num_envs
        self.env_kwargs = dict(kwargs)
        self.actor_options = {"num_cpus": 1, **(actor_options or {})}
        host = ray.remote(_EnvHost).options(**self.actor_options)
        self.actors = [host.remote(env_id, self.env_kwargs) for _ in range(num_envs)]
        try:
            described = ray_get([actor.spaces.remote() for actor in self.actors])
        except BaseException:
            self._kill_actors()
            raise
        obs_space, act_space, metadata, render_mode = described[0]
        for i, (o, a, _, _) in enumerate(described[1:], start=1):
            if o != obs_space or a != act_space:
                self._kill_actors()
                raise RuntimeError(
                    f"Expected every sub-env to have the spaces of sub-env 0 ({obs_space}, {act_space}); "
                    f"sub-env {i} has ({o}, {a})."
                )
        self.single_observation_space = obs_space
        self.single_action_space = act_space
        self.observation_space = batch_space(obs_space, num_envs)
        self.action_space = batch_space(act_space, num_envs)
        self.metadata = {**metadata, "autoreset_mode": AutoresetMode.NEXT_STEP}
        self.render_mode = render_mode
        self._observations = create_empty_array(obs_space, n=num_envs, fn=np.zeros)
        self._autoreset = np.zeros(num_envs, dtype=np.bool_)

    # -- the vector API -------------------------------------------------------------------------
    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset the sub-envs: ``seed`` None, an int (sub-env i gets ``seed + i``) or one per sub-env.

        ``options["reset_mask"]`` (a bool array of shape ``(num_envs,)``) resets only those sub-envs.
        """
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(
                    f"Expected one seed per sub-env (num_envs={self.num_envs}) or a single int, "
                    f"got {len(seeds)} seeds: {seeds}."
                )
        options = dict(options) if options else None
        mask = np.ones(self.num_envs, dtype=np.bool_)
        if options is not None and "reset_mask" in options:
            mask = options.pop("reset_mask")
            if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
                raise ValueError(
                    f"Expected options['reset_mask'] to be a bool numpy array of shape ({self.num_envs},), "
                    f"got {mask!r}."
                )
            if not mask.any():
                raise ValueError("Expected options['reset_mask'] to select at least one sub-env, got all False.")
            options = options or None
        indices = [i for i in range(self.num_envs) if mask[i]]
        results = ray_get([self.actors[i].reset.remote(seeds[i], options) for i in indices])
        observations = self._current_observations()
        infos: dict[str, Any] = {}
        for i, (obs, info) in zip(indices, results):
            observations[i] = obs
            infos = self._add_info(infos, info, i)
            self._autoreset[i] = False
        self._set_observations(observations)
        return deepcopy(self._observations), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env at once; a sub-env whose episode ended last step is reset instead."""
        per_env = list(iterate(self.action_space, actions))
        if len(per_env) != self.num_envs:
            raise ValueError(f"Expected {self.num_envs} actions (one per sub-env), got {len(per_env)}.")
        refs = [
            actor.reset.remote(None, None) if self._autoreset[i] else actor.step.remote(per_env[i])
            for i, actor in enumerate(self.actors)
        ]
        results = ray_get(refs)
        observations = self._current_observations()
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminations = np.zeros(self.num_envs, dtype=np.bool_)
        truncations = np.zeros(self.num_envs, dtype=np.bool_)
        infos: dict[str, Any] = {}
        for i, result in enumerate(results):
            if self._autoreset[i]:
                observations[i], info = result
            else:
                observations[i], rewards[i], terminations[i], truncations[i], info = result
            infos = self._add_info(infos, info, i)
        self._autoreset = terminations | truncations
        self._set_observations(observations)
        return deepcopy(self._observations), rewards, terminations, truncations, infos

    def render(self) -> tuple[Any, ...] | None:
        return tuple(ray_get([actor.call.remote("render", (), {}) for actor in self.actors]))

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """``name`` of every sub-env (as ``SyncVectorEnv.get_attr``)."""
        return self.call(name)

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"Expected {self.num_envs} values (one per sub-env), got {len(values)}.")
        ray_get([actor.set_attr.remote(name, value) for actor, value in zip(self.actors, values)])

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call ``name(*args, **kwargs)`` on every sub-env (or read it, if not callable)."""
        return tuple(ray_get([actor.call.remote(name, args, kwargs) for actor in self.actors]))

    def close_extras(self, **kwargs: Any) -> None:
        self._kill_actors()

    # -- helpers --------------------------------------------------------------------------------
    def _current_observations(self) -> list[Any]:
        return list(iterate(self.observation_space, self._observations))

    def _set_observations(self, observations: list[Any]) -> None:
        self._observations = concatenate(self.single_observation_space, observations, self._observations)

    def _kill_actors(self) -> None:
        import ray

        for actor in getattr(self, "actors", []):
            try:
                ray.kill(actor)
            except Exception:  # already dead, or Ray shut down first: nothing left to free
                pass
        self.actors = []

    def __repr__(self) -> str:
        return f"RayVectorEnv({self.env_id}, num_envs={self.num_envs})"


def entry_point(env_id: str) -> str:
    """The ``vector_entry_point`` string that makes ``RayVectorEnv``s of ``env_id``.

    Gymnasium's ``make_vec`` hands a vector entry point the env's kwargs but not its id, and
    the design keeps entry points strings, so the id is carried in the attribute name:
    ``"datagym.ray_vector_env:RayVectorEnv[datagym/Arithmetic-SkillList-v1]"``, which this
    module's ``__getattr__`` turns into ``RayVectorEnv`` bound to that id.
    """
    return f"{__name__}:{ENTRY_PREFIX}[{env_id}]"


def __getattr__(name: str) -> Any:
    if name.startswith(f"{ENTRY_PREFIX}[") and name.endswith("]"):
        return functools.partial(RayVectorEnv, name[len(ENTRY_PREFIX) + 1 : -1])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
