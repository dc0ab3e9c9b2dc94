"""Run one episode of an agent in an env, optionally recording it in a run directory."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Callable

import gymnasium as gym
import numpy as np

import datagym
from datagym.run_dir import RunDirectory

logger = logging.getLogger(__name__)

StepCallback = Callable[[dict], None]


def _action_json(action: Any) -> Any:
    """The action as JSON: arrays as lists, Dict actions key by key, text as it came."""
    if isinstance(action, np.ndarray):
        if action.dtype.kind in "biu":
            return [int(x) for x in action.ravel()]
        return [round(float(x), 6) for x in action.ravel()]
    if isinstance(action, dict):
        return {str(k): _action_json(v) for k, v in action.items()}
    if isinstance(action, (list, tuple)):
        return [_action_json(v) for v in action]
    if isinstance(action, np.generic):
        return action.item()
    if isinstance(action, bytes):
        return action.decode("utf-8", errors="replace")
    return action


def _student_config(unwrapped: Any) -> dict:
    config = getattr(getattr(unwrapped, "student", None), "config", None)
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {}


def episode_config(env: gym.Env, agent_name: str, agent_options: dict, seed: int) -> dict:
    spec = env.spec or env.unwrapped.spec
    unwrapped = env.unwrapped
    return {
        "env_id": spec.id if spec is not None else type(unwrapped).__name__,
        "env_options": dict(spec.kwargs) if spec is not None else {},
        # every setting the env ran with, defaults included, so old runs stay readable
        "env_config": unwrapped.config.to_json() if hasattr(unwrapped, "config") else {},
        "student_config": _student_config(unwrapped),
        "max_episode_steps": spec.max_episode_steps if spec is not None else None,
        "agent": agent_name,
        "agent_options": agent_options,
        "seed": seed,
        "skills": list(getattr(unwrapped, "skill_names", [])),
        "datagym_version": datagym.__version__,
    }


def run_episode(
    env: gym.Env,
    agent,
    seed: int = 0,
    out_dir: str | None = None,
    config: dict | None = None,
    overwrite: bool = False,
    on_step: StepCallback | None = None,
) -> dict:
    """Run ``agent`` in ``env`` for one episode from ``seed``; return the summary.

    With ``out_dir`` the episode is recorded as a run directory (see ``datagym.run_dir``).
    ``on_step`` is called with each step's record (the CLI draws its table with it).
    """
    config = config if config is not None else {"seed": seed}
    run_dir = RunDirectory(out_dir) if out_dir is not None else None
    if run_dir is not None:
        run_dir.create(config, overwrite=overwrite)

    started = time.perf_counter()
    obs, info = env.reset(seed=seed)
    agent.reset(seed)
    initial_accuracy = dict(info.get("student/accuracy", {}))
    records: list[dict] = []
    curve = [float(info["student/macro_accuracy"])]
    terminated = truncated = False
    while not (terminated or truncated):
        action = agent.act(obs, info)
        obs, reward, terminated, truncated, info = env.step(action)
        curve.append(float(info["student/macro_accuracy"]))
        record = {
            "step": len(records) + 1,
            "action": _action_json(action),
            "reward": float(reward),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
            **{k: v for k, v in info.items()},
        }
        records.append(record)
        if run_dir is not None:
            examples = [ex.to_json() for ex in env.unwrapped.last_examples]
            run_dir.write_step_data(record["step"], examples)
            run_dir.write_steps(records)
        if on_step is not None:
            on_step(record)
        logger.info("step %d reward %+.4f macro %.4f", record["step"], reward, curve[-1])

    final = info if "student/test_macro_accuracy" in info else {**info, **env.unwrapped.test_metrics()}
    summary = summarize(records, curve, final, time.perf_counter() - started)
    summary["initial_accuracy"] = initial_accuracy
    if run_dir is not None:
        run_dir.write_summary({**config, **summary})
    return summary


def summarize(records: list[dict], curve: list[float], final: dict, seconds: float) -> dict:
    def total(key: str) -> float:
        return float(sum(r.get(key, 0.0) for r in records))

    rejected: dict[str, int] = {}
    for r in records:
        for reason, n in r.get("teacher/rejected", {}).items():
            rejected[reason] = rejected.get(reason, 0) + int(n)
    return {
        "steps": len(records),
        "return": float(sum(r["reward"] for r in records)),
        "validation_curve": curve,
        "validation_auc": float(np.mean(curve)),
        "final_validation_macro_accuracy": curve[-1],
        "test_macro_accuracy": float(final["student/test_macro_accuracy"]),
        "test_accuracy": final["student/test_accuracy"],
        "examples_generated": int(total("teacher/generated")),
        "examples_accepted": int(total("teacher/accepted")),
        "examples_rejected": rejected,
        "seconds": {
            "total": seconds,
            "generate": total("time/generate"),
            "verify": total("time/verify"),
            "train": total("time/train"),
            "evaluate": total("time/evaluate") + total("time/test"),
        },
    }
