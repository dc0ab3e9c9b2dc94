#!/usr/bin/env bash
# Remake the committed leaderboard, benchmarks/leaderboard.md (with a CSV and a learning-curve
# PNG per env next to it): every registered agent on the newest version of every registered
# env (each env gets the agents written for its level), seeds 0-9, default options, as one Ray
# sweep with 2 workers; then seeds 10-19 for each level's random and uniform teachers and its
# state-aware candidate (datagym.leaderboard.confirmation_agents), a second sweep inside the
# first (sweep/confirmation); then seeds 20-39 for the floors and candidates of Skill-List and
# Open-Ended (sweep/extension), and the RL teachers at seeds 0-19 (sweep/rl, sweep/rl_open_ended); then rank
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
# sweep_or_resume DIR ARGS...: run the sweep of ARGS into DIR, or resume the one DIR holds
sweep_or_resume() {
    local dir=$1
    shift
    if [ -f "$dir/sweep.json" ]; then
        datagym sweep --resume "$dir" --workers 2
    else
        datagym sweep "$@" --workers 2 --out "$dir"
    fi
}
ENVS=$(python -c "from datagym.registration import LEADERBOARD_TASK, latest_env_ids; print(' '.join('--env ' + e for e in latest_env_ids(LEADERBOARD_TASK)))")
# every registered agent but the RL teachers (datagym.leaderboard.main_agents), each on the envs
# of its level
MAIN_AGENTS=$(python -c "from datagym.leaderboard import main_agents; print(' '.join('--agent ' + a for a in main_agents()))")
# shellcheck disable=SC2086
sweep_or_resume "$SWEEP_DIR" $ENVS $MAIN_AGENTS --seeds 0-9
AGENTS=$(python -c "from datagym.leaderboard import confirmation_agents; print(' '.join('--agent ' + a for a in confirmation_agents()))")
SEEDS=$(python -c "from datagym.leaderboard import CONFIRMATION_SEEDS as s; print(f'{s[0]}-{s[-1]}')")
# shellcheck disable=SC2086
sweep_or_resume "$SWEEP_DIR/confirmation" $ENVS $AGENTS --seeds "$SEEDS"
# The extension: seeds 20-39 for the floors and candidates of the levels in
# datagym.leaderboard.EXTENSION_LEVELS (sweep/extension; its steps.jsonl are kept in git: they
# calibrate the simulated student).
EXTEND_ENVS=$(python -c "
from datagym.leaderboard import EXTENSION_LEVELS
from datagym.registration import LEADERBOARD_TASK, env_level, latest_env_ids
print(' '.join('--env ' + e for e in latest_env_ids(LEADERBOARD_TASK) if env_level(e) in EXTENSION_LEVELS))")
EXTEND_AGENTS=$(python -c "from datagym.leaderboard import extension_agents; print(' '.join('--agent ' + a for a in extension_agents()))")
EXTEND_SEEDS=$(python -c "from datagym.leaderboard import EXTENSION_SEEDS as s; print(f'{s[0]}-{s[-1]}')")
# shellcheck disable=SC2086
sweep_or_resume "$SWEEP_DIR/extension" $EXTEND_ENVS $EXTEND_AGENTS --seeds "$EXTEND_SEEDS"
# The teachers trained by RL (datagym.leaderboard.RL_SWEEPS, needs the rl extra), seeds 0-19, one
# sweep per level: ppo_sim on the Skill-List env (sweep/rl) and open_ended_ppo_sim, the same
# policy writing generator problems, on the Open-Ended env (sweep/rl_open_ended).
RL_SEEDS=$(python -c "from datagym.leaderboard import RL_SEEDS as s; print(f'{s[0]}-{s[-1]}')")
RL_SWEEPS=$(python -c "
from datagym.leaderboard import rl_sweeps
for folder, env, agents in rl_sweeps():
    print(folder, '--env ' + env, ' '.join('--agent ' + a for a in agents))")
while read -r FOLDER RL_ARGS; do
    # shellcheck disable=SC2086
    sweep_or_resume "$SWEEP_DIR/$FOLDER" $RL_ARGS --seeds "$RL_SEEDS" </dev/null
done <<< "$RL_SWEEPS"
datagym leaderboard "$SWEEP_DIR" --out benchmarks
