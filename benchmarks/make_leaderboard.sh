#!/usr/bin/env bash
# Remake the committed leaderboard, benchmarks/leaderboard.md (with a CSV and a learning-curve
# PNG per env next to it): every registered agent on every registered env (each env gets the
# agents written for its level), seeds 0-4, default options, as one Ray sweep with 2 workers;
# then rank the finished runs. About 75 minutes on an otherwise idle 2-core machine.
#
#   bash benchmarks/make_leaderboard.sh
#
# The sweep directory is benchmarks/leaderboard/sweep. Git keeps each trial's config.json and
# summary.json there (steps, examples and checkpoints are ignored), so running this again
# skips the trials already finished and runs only the missing ones.
set -euo pipefail
cd "$(dirname "$0")/.."
SWEEP_DIR=benchmarks/leaderboard/sweep
ENVS=$(python -c "import datagym; print(' '.join('--env ' + e for e in datagym.env_ids()))")
# shellcheck disable=SC2086
datagym sweep $ENVS --agent all --seeds 0-4 --workers 2 --out "$SWEEP_DIR"
datagym leaderboard "$SWEEP_DIR" --out benchmarks
