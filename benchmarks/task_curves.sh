#!/usr/bin/env bash
# Per-skill learning of the default CPU student on the Code and ReasoningGym tasks: uniform
# against the state-aware triage teacher (each level's default), seeds 0-4, default options,
# on the Skill-List envs, as one Ray sweep with 2 workers; then `datagym leaderboard` writes
# the table (leaderboard.md, a CSV per env) and the learning-curve PNGs into
# benchmarks/task_curves/. About 25 minutes on an otherwise idle 2-core machine; the same
# command again resumes an unfinished sweep.
#
#   bash benchmarks/task_curves.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=benchmarks/task_curves
SWEEP="$OUT/sweep"
if [ -f "$SWEEP/sweep.json" ]; then
    datagym sweep --resume "$SWEEP" --workers 2
else
    datagym sweep --env datagym/Code-SkillList-v0 --env datagym/ReasoningGym-SkillList-v0 \
        --agent uniform --agent triage --seeds 0-4 --workers 2 --out "$SWEEP"
fi
datagym leaderboard "$SWEEP" --out "$OUT"
python benchmarks/task_curves_table.py "$SWEEP"
