#!/usr/bin/env bash
# Remake the committed leaderboard, benchmarks/leaderboard.md (with a CSV and a learning-curve
# PNG per env next to it): every registered agent on the newest version of every registered
# env (each env gets the agents written for its level), seeds 0-9, default options, as one Ray
# sweep with 2 workers; then seeds 10-19 for each level's random and uniform teachers and its
# state-aware candidate (datagym.leaderboard.confirmation_agents), a second sweep inside the
# first (sweep/confirmation); then seeds 20-39 for the floors and candidates of Skill-List and
# Open-Ended (sweep/extension), and the RL teacher ppo_sim at seeds 0-19 (sweep/rl); then rank
# the finished runs of all. Ten seeds for every agent, twenty to forty where the board's decisive
# gaps are: the noise floor measured in benchmarks/README.md ("The reward's noise floor").
# About 5 hours on an otherwise idle 2-core machine.
#
#   bash benchmarks/make_leaderboard.sh
#
# The sweep directory is benchmarks/leaderboard/sweep. Git keeps each trial's config.json and
# summary.json there (steps, examples and checkpoints are ignored), so running this again
# skips the trials already finished, resumes the unfinished ones from their last step, and runs
# the missing ones: it may be finished in several sittings. The v0 board and its runs are kept,
# as they were made, in benchmarks/leaderboard/v0/.
set -euo pipefail
cd "$(dirname "$0")/.."
SWEEP_DIR=benchmarks/leaderboard/sweep
ENVS=$(python -c "from datagym.registration import latest_env_ids; print(' '.join('--env ' + e for e in latest_env_ids()))")
SWEEP=(datagym sweep $ENVS --agent all --seeds 0-9 --workers 2 --out "$SWEEP_DIR")
if [ -f "$SWEEP_DIR/sweep.json" ]; then
    SWEEP=(datagym sweep --resume "$SWEEP_DIR" --workers 2)
fi
# shellcheck disable=SC2086
"${SWEEP[@]}"
CONFIRM_DIR=$SWEEP_DIR/confirmation
AGENTS=$(python -c "from datagym.leaderboard import confirmation_agents; print(' '.join('--agent ' + a for a in confirmation_agents()))")
SEEDS=$(python -c "from datagym.leaderboard import CONFIRMATION_SEEDS as s; print(f'{s[0]}-{s[-1]}')")
CONFIRM=(datagym sweep $ENVS $AGENTS --seeds "$SEEDS" --workers 2 --out "$CONFIRM_DIR")
if [ -f "$CONFIRM_DIR/sweep.json" ]; then
    CONFIRM=(datagym sweep --resume "$CONFIRM_DIR" --workers 2)
fi
# shellcheck disable=SC2086
"${CONFIRM[@]}"
# The extension: seeds 20-39 for the floors and candidates of the levels in
# datagym.leaderboard.EXTENSION_LEVELS (sweep/extension; its steps.jsonl are kept in git: they
# calibrate the simulated student).
EXTEND_DIR=$SWEEP_DIR/extension
EXTEND_ENVS=$(python -c "
from datagym.leaderboard import EXTENSION_LEVELS
from datagym.registration import env_level, latest_env_ids
print(' '.join('--env ' + e for e in latest_env_ids() if env_level(e) in EXTENSION_LEVELS))")
EXTEND_AGENTS=$(python -c "from datagym.leaderboard import extension_agents; print(' '.join('--agent ' + a for a in extension_agents()))")
EXTEND_SEEDS=$(python -c "from datagym.leaderboard import EXTENSION_SEEDS as s; print(f'{s[0]}-{s[-1]}')")
EXTEND=(datagym sweep $EXTEND_ENVS $EXTEND_AGENTS --seeds "$EXTEND_SEEDS" --workers 2 --out "$EXTEND_DIR")
if [ -f "$EXTEND_DIR/sweep.json" ]; then
    EXTEND=(datagym sweep --resume "$EXTEND_DIR" --workers 2)
fi
# shellcheck disable=SC2086
"${EXTEND[@]}"
# The teachers trained by RL (datagym.leaderboard.RL_AGENTS: ppo_sim, needs the rl extra) on the
# Skill-List env, seeds 0-19 (sweep/rl).
RL_DIR=$SWEEP_DIR/rl
RL_AGENTS=$(python -c "from datagym.leaderboard import RL_AGENTS; print(' '.join('--agent ' + a for a in RL_AGENTS))")
RL_SEEDS=$(python -c "from datagym.leaderboard import RL_SEEDS as s; print(f'{s[0]}-{s[-1]}')")
RL=(datagym sweep --env datagym/Arithmetic-SkillList-v1 $RL_AGENTS --seeds "$RL_SEEDS" --workers 2 --out "$RL_DIR")
if [ -f "$RL_DIR/sweep.json" ]; then
    RL=(datagym sweep --resume "$RL_DIR" --workers 2)
fi
# shellcheck disable=SC2086
"${RL[@]}"
datagym leaderboard "$SWEEP_DIR" --out benchmarks
