"""Train the ``ppo_sim`` teacher: Stable-Baselines3's PPO on the simulated Skill-List env.

The env is datagym/Arithmetic-SkillList-v1 with ``student="simulated"`` (the packaged fit of
the v1 student), its counts scaled to fractions of the budget (``BudgetFractionObservation``),
``MultiInputPolicy``, 8 vector envs. The policy is written to
``agents/ppo_sim_skill_list.zip`` with a JSON of how it was made; ``--eval-episodes`` reports
its mean simulated test accuracy against uniform's on seeds it never trained on.

    pip install -e ".[rl]"
    python benchmarks/train_ppo_sim.py --timesteps 300000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import datagym  # noqa: F401
from datagym.agents.ppo_sim import POLICY_FILE, TRAINED_ON, metadata_path
from datagym.agents.registry import make_agent
from datagym.runner import run_episode
from datagym.students.simulated_student import SimulatorParameters
from datagym.wrappers import BudgetFractionObservation

#: the simulated episodes' seeds start here, far from the real board's 0-19 and calibration's
TRAIN_SEED = 100_000
EVAL_SEED = 900_000


def make_env(parameters: str | None = None) -> gym.Env:
    options = {"parameters": parameters} if parameters else {}
    return BudgetFractionObservation(gym.make(TRAINED_ON, student="simulated", student_options=options, timings=False))


def evaluate(agent_name: str, episodes: int, parameters: str | None, **agent_options) -> float:
    scores = []
    for k in range(episodes):
        env = gym.make(TRAINED_ON, student="simulated", timings=False,
                       student_options={"parameters": parameters} if parameters else {})
        agent = make_agent(agent_name, env, **agent_options)
        scores.append(run_episode(env, agent, seed=EVAL_SEED + k)["test_macro_accuracy"])
    return float(np.mean(scores))


def main() -> None:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=300_000)
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parameters", default=None, help="simulator parameters (default: the packaged fit)")
    parser.add_argument("--out", default=str(Path(datagym.agents.__file__).parent / POLICY_FILE))
    parser.add_argument("--eval-episodes", type=int, default=200)
    args = parser.parse_args()

    torch.set_num_threads(1)
    vec = make_vec_env(lambda: make_env(args.parameters), n_envs=args.n_envs, seed=TRAIN_SEED + args.seed)
    model = PPO(
        "MultiInputPolicy", vec, seed=args.seed, device="cpu", verbose=0,
        n_steps=128, batch_size=256, n_epochs=10, gamma=1.0, gae_lambda=0.95, learning_rate=3e-4,
        policy_kwargs={"net_arch": [64, 64], "log_std_init": -1.0},
    )
    started = time.perf_counter()
    model.learn(total_timesteps=args.timesteps)
    seconds = time.perf_counter() - started
    out = Path(args.out)
    model.save(out)
    params_text = (Path(args.parameters).read_text() if args.parameters
                   else json.dumps(SimulatorParameters.load().to_json(), sort_keys=True))
    meta = {
        "env": TRAINED_ON, "student": "simulated", "timesteps": args.timesteps, "n_envs": args.n_envs,
        "seed": args.seed, "seconds": round(seconds, 1), "steps_per_second": round(args.timesteps / seconds),
        "simulator_parameters_sha256": hashlib.sha256(params_text.encode()).hexdigest()[:16],
        "command": f"python benchmarks/train_ppo_sim.py --timesteps {args.timesteps} --seed {args.seed}",
    }
    if args.eval_episodes:
        meta["sim_eval"] = {
            "episodes": args.eval_episodes, "seeds_from": EVAL_SEED,
            "ppo_sim": evaluate("ppo_sim", args.eval_episodes, args.parameters, policy=str(out)),
            "uniform": evaluate("uniform", args.eval_episodes, args.parameters),
            "triage": evaluate("triage", args.eval_episodes, args.parameters),
        }
    metadata_path(out).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
