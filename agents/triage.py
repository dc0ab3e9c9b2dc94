"""Triage: measure every skill on equal data, then stop feeding the ones that do not respond.

On the v1 envs the student learns each skill along an S-shaped curve in the data it gets, and
about a third of the skills (three-digit sums, two-digit products, the two-step expressions,
exact division...) stay near zero for the whole episode whatever a teacher does, while
absorbing a third of a uniform teacher's data. Teachers that move their data around from step
to step lose what they leave out (benchmarks/README.md, "Teachers on the v1 envs": a learned
skill left out of a step loses 0.015-0.044 validation accuracy). This teacher does neither:

1. **Placement.** For the first ``placement_steps`` steps it gives every skill the same data,
   so that the student's responses are comparable.
2. **Triage.** It then ranks the skills by how much their validation loss fell, relative to
   the loss after the first step, over the placement (equal data, so an equal footing). The
   ``n_stuck`` skills whose loss fell least get a ``floor`` share of an equal part, the skills
   already at ``mastery`` validation accuracy ``mastered_floor`` of it; every other skill gets
   an equal part.
3. **Steady allocation.** Mastery is checked every step (a mastered skill drops to its
   floor, and comes back if it falls below mastery); the stuck set, once chosen, stays, so the
   allocation does not chase noise and no skill being learned is ever left out.

Measured on the v1 Skill-List env (benchmarks/README.md, "What an allocation can gain"):
+0.016 over uniform at the defaults, +0.021 with the stuck skills on a zero floor. A static
allocation told in advance which skills are hopeless gains +0.08; the difference is the
evidence, which needs about four steps of equal data to tell the hopeless skills from slow
starters.

The rule lives in ``TriageRule`` so that the Open-Ended and Skill-Tree teachers built on it
allocate exactly as this one does.

Args:
    placement_steps: steps of equal data before the triage (at least 2: the first step's
        losses are the baseline the fall is measured from).
    n_stuck: how many skills the triage puts on the floor.
    floor: the share of an equal part that a stuck skill keeps (0: nothing).
    mastery: validation accuracy at which a skill counts as learned.
    mastered_floor: the share of an equal part that a mastered skill keeps (default: ``floor``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datagym.agents.base import SkillListAgent


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"Expected {name} a number in [{low}, {high}], got {value!r}.")
    return float(value)


class TriageRule:
    """The triage allocation over ``n_skills`` skills, fed one observation per step.

    ``weights(loss, accuracy)`` is called once per action with the latest per-skill
    validation loss and accuracy and returns the relative weight of each skill. Its state
    (``state_dict``) is what resume needs."""

    def __init__(self, n_skills: int, placement_steps: int = 4, n_stuck: int | None = None,
                 floor: float = 0.25, mastery: float = 0.95, mastered_floor: float | None = None) -> None:
        self.n_skills = int(n_skills)
        if isinstance(placement_steps, bool) or not isinstance(placement_steps, int) or placement_steps < 2:
            raise ValueError(f"Expected placement_steps an integer of at least 2, got {placement_steps!r}.")
        self.placement_steps = placement_steps
        n_stuck = max(0, self.n_skills // 3) if n_stuck is None else n_stuck
        if isinstance(n_stuck, bool) or not isinstance(n_stuck, int) or not 0 <= n_stuck < self.n_skills:
            raise ValueError(f"Expected n_stuck an integer in [0, {self.n_skills - 1}], got {n_stuck!r}.")
        self.n_stuck = n_stuck
        self.floor = _number("floor", floor, 0.0, 1.0)
        self.mastery = _number("mastery", mastery, 0.0, 1.0)
        self.mastered_floor = self.floor if mastered_floor is None else _number("mastered_floor", mastered_floor, 0.0, 1.0)
        self.reset()

    def reset(self) -> None:
        self.actions = 0
        self.baseline: np.ndarray | None = None
        self.baseline_action = 0
        self.stuck: np.ndarray | None = None

    def weights(self, loss: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
        loss = np.asarray(loss, dtype=np.float64)
        accuracy = np.asarray(accuracy, dtype=np.float64)
        self.actions += 1
        # The baseline: the first observation after a step that scores every skill (at the
        # Skill-Tree level a hidden skill scores -1 until the teacher has uncovered it).
        if self.baseline is None and self.actions >= 2 and np.all(loss >= 0):
            self.baseline = loss.copy()
            self.baseline_action = self.actions
        # placement: the step before the baseline and placement_steps - 1 steps after it
        if self.baseline is None or self.actions - self.baseline_action < self.placement_steps - 1:
            return np.ones(self.n_skills)
        if self.stuck is None:
            base = np.maximum(self.baseline, 1e-9)
            relative_fall = (base - loss) / base
            # ties (equal falls) go to the lower index: deterministic, documented
            order = np.argsort(relative_fall, kind="stable")
            self.stuck = np.zeros(self.n_skills, dtype=bool)
            self.stuck[order[: self.n_stuck]] = True
        mastered = accuracy >= self.mastery
        weights = np.where(self.stuck, self.floor, np.where(mastered, self.mastered_floor, 1.0))
        if not weights.any():  # everything on a zero floor: keep it all fresh
            return np.ones(self.n_skills)
        return weights

    def state_dict(self) -> dict[str, Any]:
        return {
            "n_skills": self.n_skills,
            "actions": self.actions,
            "baseline": None if self.baseline is None else self.baseline.tolist(),
            "baseline_action": self.baseline_action,
            "stuck": None if self.stuck is None else self.stuck.tolist(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actions = int(state["actions"])
        self.baseline = None if state["baseline"] is None else np.asarray(state["baseline"], dtype=np.float64)
        self.baseline_action = int(state["baseline_action"])
        self.stuck = None if state["stuck"] is None else np.asarray(state["stuck"], dtype=bool)


class TriageAgent(SkillListAgent):
    def __init__(self, action_space, observation_space, placement_steps: int = 4, n_stuck: int | None = None,
                 floor: float = 0.25, mastery: float = 0.95, mastered_floor: float | None = None) -> None:
        super().__init__(action_space, observation_space)
        self.rule = TriageRule(self.n_skills, placement_steps, n_stuck, floor, mastery, mastered_floor)

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.rule.reset()

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        return self.weights(self.rule.weights(observation["loss"], observation["accuracy"]))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rule": self.rule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rule.load_state_dict(state["rule"])
