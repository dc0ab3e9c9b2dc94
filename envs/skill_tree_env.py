"""The Skill-Tree env: a skill tree the teacher uncovers node by node, and data allocated over it."""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

import numpy as np
from gymnasium import spaces

from datagym.action_validation import (
    real_vector,
    require_binary,
    require_dict,
    require_finite,
    require_non_negative,
)
from datagym.engine import Plan, Request
from datagym.envs.skill_list_env import MAX_LOSS, allocate
from datagym.errors import ConfigError
from datagym.task import ACCEPTED
from datagym.teacher_env import TeacherEnv

#: accuracy and loss of a node the teacher cannot see yet
HIDDEN = -1.0
#: the keys of an action, in the order the errors list them
ACTION_KEYS = ("allocation", "expand")
#: where the node names an action's entries follow are, as messages tell the user
NODE_NAMES = "env.unwrapped.node_names"
_BAND_NAMES = {1: ("all",), 2: ("easy", "hard"), 3: ("easy", "medium", "hard")}
MAX_BANDS = 10


def band_names(n_bands: int) -> tuple[str, ...]:
    """The names of ``n_bands`` equal difficulty bands, easiest first."""
    return _BAND_NAMES.get(n_bands) or tuple(f"band{i}" for i in range(n_bands))


def band_of(difficulty: Any, n_bands: int) -> int | None:
    """The band (0 = easiest) of a difficulty in [0, 1]: equal slices [k/n, (k+1)/n), 1.0 in
    the last. None when there is no usable difficulty."""
    try:
        d = float(difficulty)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(d):
        return None
    return min(max(int(d * n_bands), 0), n_bands - 1)


class SkillTreeEnv(TeacherEnv):
    """Teach a student by uncovering a skill tree (explore) and allocating data over it (exploit).

    ## Description
    DataEnvGym's Skill-Tree environment. The task's skill taxonomy (root -> families -> skills)
    is extended with ``n_bands`` difficulty bands under every skill (by default easy, medium,
    hard: the equal slices [0, 1/3), [1/3, 2/3), [2/3, 1] of the task's difficulty knob). The
    teacher starts seeing only the top of the tree and each step may **expand** visible nodes,
    revealing their children and the student's accuracy on them, and **allocate** the step's
    data over the nodes it sees. Expanding is paid for in data (see Action), so exploring the
    tree and exploiting what is known are a real trade-off.

    The tree's nodes, in a fixed order (``env.unwrapped.node_names``): every node of the
    task's tree except the root, breadth first, children in the task's order, with the band
    nodes of each skill (``"<skill>/easy"``, ...) as that skill's children. For Arithmetic:
    the 6 families, then the 15 skills, then the 45 bands (skill by skill, easiest first), 66
    nodes. The root is not a node: the whole task is already the union of the families, and
    weight on all families is weight on everything. ``env.unwrapped.node_parents`` holds each
    node's parent index (-1 for the families), ``node_children`` the children's indices.
    Bands are the leaves; families (any inner node of the task's tree) and skills can be
    expanded.

    At reset the families are visible and nothing is expanded. Expanding a visible, not yet
    expanded node that has children makes its children visible; a node stays visible and
    expanded until the episode ends.

    ## Observation
    ``Dict`` (fixed sizes, n = number of nodes):
    - ``accuracy``: ``Box(-1, 1, (n,), float32)``: validation accuracy of each visible node,
      -1 for hidden ones. A skill's is its accuracy on its validation questions; a family's
      (any inner node's) is the macro average over the skills beneath it; a band's is the
      accuracy on the skill's validation questions whose recorded difficulty falls in the band
      (a band with no such question, or a task whose held-out questions record no difficulty,
      shows its skill's accuracy);
    - ``loss``: ``Box(-1, 100, (n,), float32)``: the student's mean validation loss (nats per
      answer token) on the same questions, macro-averaged like accuracy (a band with no
      questions shows its skill's loss); -1 for hidden nodes;
    - ``visible``, ``expanded``: ``MultiBinary(n)``: which nodes the teacher sees, and which it
      has expanded;
    - ``expandable``: ``MultiBinary(n)``: visible, not expanded, with children: the nodes an
      expansion acts on now (an action mask);
    - ``depth``: ``MultiDiscrete(max_depth + 1)`` per node, constant: 0 for the families, 1
      for their children, ... (the bands are the deepest); it tells a policy which nodes are
      coarse and which fine without the node names;
    - ``leaves``: ``MultiDiscrete(max_leaves + 1)`` per node, constant: the bands beneath it
      (1 for a band, ``n_bands`` for a skill): how much material weight on it spreads over;
    - ``examples_seen``: ``Box(0, total_budget, (n,), float32)``: accepted training examples
      under each node this episode, for every node (it is the teacher's own history);
    - ``budget_left``: ``Box(0, total_budget, (1,), float32)``.

    ## Action
    ``Dict``:
    - ``expand``: ``MultiBinary(n)``: 1 for each node to expand;
    - ``allocation``: ``Box(0, 1, (n,), float32)``: a relative, non-negative weight per node.

    The step's budget is ``min(step_budget, budget_left)``. Expansions are applied first, in
    node order: each effective expansion costs ``expand_cost`` examples of it (revealing
    children means measuring the student on them; in DataEnvGym exploring costs LLM calls,
    here it costs the only currency the env has). An expansion the step can no longer afford
    is skipped, so expansions never take more than the step's budget; what is left is data.
    The data is split over the weights of the nodes that were visible when the agent acted
    (a node revealed by this very action gets data from the next action on): a visible
    band's weight goes to that skill with difficulty drawn uniformly inside the band; a
    visible inner node's weight is spread equally over the bands beneath it (so a skill's
    weight means its whole difficulty range). Counts fill the data budget exactly (largest
    remainder). An allocation with no weight on a visible node generates nothing and spends
    only the expansions.

    Weight on hidden nodes, and expanding a hidden, already expanded or leaf node, are
    ignored and counted in ``info`` (so that any action of the space is legal).

    Accepted for each key: a numpy array of bool, signed or unsigned int, or float of any
    width (float16 to float128; e.g. an int8 ``expand``), or a list or tuple of Python
    bool/int/float or numpy scalars of those kinds, of shape ``(n,)`` (the same rules as the
    Skill-List env: ``datagym.action_validation``). Anything else raises
    ``InvalidActionError`` (a ``ValueError``) naming what came in, and leaves the env as it
    was: a non-dict action, a missing or extra key (keys are ``str``), ``None``, text (numeric
    strings too), bytes, complex numbers, ``datetime64``/``timedelta64``, object arrays,
    ragged or too deeply nested lists, dicts, torch tensors (convert with
    ``.detach().cpu().numpy()``) and other array types, a Python int too large for a float
    (``10**400``), a wrong shape, NaN, infinity, a negative weight or an ``expand`` entry
    other than 0/1. Messages are at most 300 characters.

    ## Reward
    The change in macro-averaged validation accuracy (over the task's skills) since the
    previous step.

    ## Episode end
    Terminated when the total budget (data and expansions) is spent; truncated at the
    registered step limit (``max_episode_steps=20``). On the last step ``info`` also holds
    ``student/test_accuracy`` and ``student/test_macro_accuracy``.

    ## Info
    Everything the Skill-List env reports (``student/accuracy``, ``student/macro_accuracy``,
    ``student/loss``, ``student/train_loss``, ``teacher/requested`` (per skill),
    ``teacher/generated``, ``teacher/accepted``, ``teacher/rejected``,
    ``teacher/budget_left``, ``time/...``), and
    - ``student/node_accuracy``: {node: accuracy} of the visible nodes (at reset too);
    - ``teacher/expanded``: the nodes this step expanded, in node order;
    - ``teacher/explore_cost``: examples this step's expansions cost;
    - ``teacher/ignored_expansions``: expansions asked for that did nothing, and
      ``teacher/ignored_expansions_by_reason``: {"hidden"|"already_expanded"|"leaf"|
      "unaffordable": count} (nonzero reasons only);
    - ``teacher/ignored_weight``: the share of the allocation's total weight that fell on
      hidden nodes (0 for an all-zero allocation), and ``teacher/ignored_nodes``: how many
      hidden nodes had weight;
    - ``teacher/data_budget``: examples left for data after the expansions.

    ## Arguments
    Every field of ``datagym.env_config.EnvConfig`` (``task``, ``task_options``, ``student``,
    ``student_options``, ``step_budget`` = 384, ``total_budget`` = 3840 (v1 Arithmetic: 768 and 7680), ``timings``), and
    - ``n_bands`` (default 3): difficulty bands per skill, 1 to 10;
    - ``expand_cost`` (default ``round(step_budget / 12)``, at least 1: 32 examples at the
      default budget): examples charged per expansion, 0 to ``step_budget``. At the defaults,
      uncovering the whole Arithmetic tree (6 families and 15 skills) costs 672 examples,
      17.5% of the episode: a teacher can afford to look where it means to teach, not
      everywhere. It scales with ``step_budget`` so that small test budgets keep the same
      trade-off;
    - ``render_mode`` (``None`` or ``"ansi"``).

    ## Version history
    - v0: first release; Arithmetic's 6 families and 15 skills, 3 bands, expand_cost 32 at
      the default budgets, the 2-layer transformer student.
    - v1: the default student is now 64 wide, trained on mixed batches of 32 with fused AdamW,
      answers written least-significant digit first, threads "auto" (``V0_SETTINGS`` in
      ``datagym.students.transformer_student`` lists what changed), and the Arithmetic envs
      spend 7680 examples, 768 a step (v0: 3840, 384). Spaces keep their keys and shapes
      (the budget bounds follow the budgets); the reward is unchanged.
      `uniform` ends the Skill-List episode at about 0.4 macro test accuracy instead of 0.12,
      so teachers have room to differ both ways. v0 stays registered and reproduces exactly
      (student ``transformer_v0``).
      The Skill-Tree's expand_cost scales with the step budget: 64 at v1's.

    ## Example
    >>> import gymnasium as gym, numpy as np, datagym
    >>> env = gym.make("datagym/Arithmetic-SkillTree-v1", total_budget=256, step_budget=128,
    ...                student_options={"epochs": 1})
    >>> obs, info = env.reset(seed=0)
    >>> names = env.unwrapped.node_names
    >>> [names[i] for i in np.flatnonzero(obs["visible"])][:3]
    ['addition', 'subtraction', 'multiplication']
    >>> expand = np.zeros(len(names), dtype=np.int8); expand[names.index("addition")] = 1
    >>> allocation = obs["visible"].astype(np.float32)   # equal weight on every family
    >>> obs, reward, terminated, truncated, info = env.step({"expand": expand, "allocation": allocation})
    >>> info["teacher/expanded"], info["teacher/explore_cost"], info["teacher/data_budget"]
    (['addition'], 11, 117)
    >>> bool(obs["visible"][names.index("add_carry")])
    True
    """

    level = "skill_tree"
    extra_options = ("n_bands", "expand_cost")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_bands = self._option_n_bands(self.options.get("n_bands", 3))
        self.expand_cost = self._option_expand_cost(self.options.get("expand_cost"))
        self._build_tree()
        n = len(self.node_names)
        total = float(self.config.total_budget)
        self.action_space = spaces.Dict(
            {
                "expand": spaces.MultiBinary(n),
                "allocation": spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32),
            }
        )
        self.observation_space = spaces.Dict(
            {
                "accuracy": spaces.Box(HIDDEN, 1.0, shape=(n,), dtype=np.float32),
                "loss": spaces.Box(HIDDEN, MAX_LOSS, shape=(n,), dtype=np.float32),
                "visible": spaces.MultiBinary(n),
                "expanded": spaces.MultiBinary(n),
                "expandable": spaces.MultiBinary(n),
                "depth": spaces.MultiDiscrete(np.full(n, int(self.node_depth.max()) + 1)),
                "leaves": spaces.MultiDiscrete(np.full(n, int(self.node_leaves.max()) + 1)),
                "examples_seen": spaces.Box(0.0, total, shape=(n,), dtype=np.float32),
                "budget_left": spaces.Box(0.0, total, shape=(1,), dtype=np.float32),
            }
        )
        self._on_reset()

    # -- settings and structure ---------------------------------------------------------------
    @staticmethod
    def _option_n_bands(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BANDS:
            raise ConfigError(f"Expected n_bands to be an integer from 1 to {MAX_BANDS}, got {value!r}.")
        return value

    def _option_expand_cost(self, value: Any) -> int:
        step = self.config.step_budget
        if value is None:
            return max(1, int(round(step / 12)))
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= step:
            raise ConfigError(
                f"Expected expand_cost to be an integer from 0 to step_budget ({step}), got {value!r}."
            )
        return value

    def _build_tree(self) -> None:
        tree = self.task.skill_tree
        skill_index = {name: i for i, name in enumerate(self.skill_names)}
        bands = band_names(self.n_bands)
        names: list[str] = []
        parents: list[int] = []
        kinds: list[str] = []
        band_of_node: list[int] = []  # band number of a band node, -1 otherwise
        skill_of_node: list[int] = []  # skill index of a skill or band node, -1 otherwise
        queue = deque((child, -1, -1) for child in tree.children_of(tree.root))
        while queue:
            name, parent, band = queue.popleft()
            i = len(names)
            names.append(name)
            parents.append(parent)
            band_of_node.append(band)
            if band >= 0:
                kinds.append("band")
                skill_of_node.append(skill_of_node[parent])
            elif tree.is_leaf(name):
                kinds.append("skill")
                skill_of_node.append(skill_index[name])
                queue.extend((f"{name}/{b}", i, k) for k, b in enumerate(bands))
            else:
                kinds.append("family")
                skill_of_node.append(-1)
                queue.extend((child, i, -1) for child in tree.children_of(name))
        duplicates = sorted(name for name, c in Counter(names).items() if c > 1)
        if duplicates:
            raise ConfigError(f"Expected distinct node names, got {duplicates} twice (a skill named like a band?).")
        n = len(names)
        children: list[list[int]] = [[] for _ in range(n)]
        for i, parent in enumerate(parents):
            if parent >= 0:
                children[parent].append(i)
        self.node_names: tuple[str, ...] = tuple(names)
        self.node_parents: tuple[int, ...] = tuple(parents)
        self.node_children: tuple[tuple[int, ...], ...] = tuple(tuple(c) for c in children)
        self.node_kinds: tuple[str, ...] = tuple(kinds)
        #: each node's parent name (None for the top level)
        self.parents: dict[str, str | None] = {
            name: (names[p] if p >= 0 else None) for name, p in zip(names, parents)
        }
        self._has_children = np.array([bool(c) for c in children])
        self._band_number = np.array(band_of_node)
        self._node_skill = np.array(skill_of_node)
        self._band_nodes = np.flatnonzero(self._band_number >= 0)  # the leaves, in node order

        def below(i: int) -> list[int]:
            return [i] + [j for c in children[i] for j in below(c)]

        subtree = [below(i) for i in range(n)]
        self._leaves_under = [np.array([j for j in sub if kinds[j] == "band"], dtype=np.int64) for sub in subtree]
        #: how many leaves (bands) each node covers
        self.node_leaves = np.array([len(leaves) for leaves in self._leaves_under], dtype=np.int64)
        self._skills_under = [
            np.array(sorted({skill_of_node[j] for j in sub if kinds[j] == "skill"}), dtype=np.int64) for sub in subtree
        ]
        self._ancestors: list[list[int]] = []
        for i in range(n):
            chain, p = [i], parents[i]
            while p >= 0:
                chain.append(p)
                p = parents[p]
            self._ancestors.append(chain)
        #: each node's depth: 0 for the root's children
        self.node_depth = np.array([len(chain) - 1 for chain in self._ancestors], dtype=np.int64)
        self._skill_node = {skill_of_node[i]: i for i in range(n) if kinds[i] == "skill"}
        self._band_node = {(skill_of_node[i], band_of_node[i]): i for i in range(n) if kinds[i] == "band"}

    def band_range(self, node: int | str) -> tuple[float, float]:
        """The difficulty range [low, high) of a band node (the last band includes 1.0)."""
        i = self.node_names.index(node) if isinstance(node, str) else int(node)
        k = int(self._band_number[i])
        if k < 0:
            raise ValueError(f"Expected a band node, got {self.node_names[i]!r} (a {self.node_kinds[i]}).")
        return k / self.n_bands, (k + 1) / self.n_bands

    # -- episode ----------------------------------------------------------------------------
    def _on_reset(self) -> None:
        n = len(self.node_names)
        self.visible = np.array([p < 0 for p in self.node_parents])
        self.expanded = np.zeros(n, dtype=bool)
        self.node_examples = np.zeros(n, dtype=np.int64)
        self._pending: dict[str, Any] | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = super().reset(seed=seed, options=options)
        info["student/node_accuracy"] = self._visible_accuracy()
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = super().step(action)
        pending, self._pending = self._pending, None
        for i in pending["expand"]:
            self.expanded[i] = True
            self.visible[list(self.node_children[i])] = True
        for example in self.last_examples:
            node = self._credit_node(example) if example.verdict == ACCEPTED else None
            if node is not None:
                self.node_examples[self._ancestors[node]] += 1
        info["teacher/requested"] = pending["requested"]
        info.update(
            {
                "student/node_accuracy": self._visible_accuracy(),
                "teacher/expanded": [self.node_names[i] for i in pending["expand"]],
                "teacher/explore_cost": pending["explore_cost"],
                "teacher/data_budget": pending["data_budget"],
                "teacher/ignored_expansions": sum(pending["ignored_expansions"].values()),
                "teacher/ignored_expansions_by_reason": pending["ignored_expansions"],
                "teacher/ignored_weight": pending["ignored_weight"],
                "teacher/ignored_nodes": pending["ignored_nodes"],
            }
        )
        return self._observation(), reward, terminated, truncated, info

    def _credit_node(self, example) -> int | None:
        """The deepest node an example belongs to: its band, else its skill (None: no skill)."""
        if example.skill not in self.skill_names:
            return None
        skill = self.skill_names.index(example.skill)
        span = example.provenance.get("difficulty_range")
        difficulty = (span[0] + span[1]) / 2 if span else example.provenance.get("difficulty")
        band = band_of(difficulty, self.n_bands)
        return self._band_node[(skill, band)] if band is not None else self._skill_node[skill]

    # -- action -> plan ---------------------------------------------------------------------
    def _parse_action(self, action: Any) -> tuple[np.ndarray, np.ndarray]:
        """Validate ``action``; return (expand as bool, allocation as float64). Changes nothing."""
        n = len(self.node_names)
        action = require_dict(
            action,
            ACTION_KEYS,
            fix=f"Pass {{'expand': {n} zeros/ones, 'allocation': {n} weights}}, one per {NODE_NAMES}.",
        )
        allocation = real_vector(
            action["allocation"],
            label="action['allocation']",
            length=n,
            per="one non-negative weight per node",
            names_attr=NODE_NAMES,
        )
        expand = real_vector(
            action["expand"], label="action['expand']", length=n, per="0 or 1 per node", names_attr=NODE_NAMES
        )
        require_finite(allocation, self.node_names, "weights in action['allocation']")
        require_non_negative(allocation, self.node_names, "weights in action['allocation']")
        require_binary(expand, self.node_names, "action['expand']")
        return expand == 1, allocation

    def _plan_from_action(self, action: Any) -> Plan:
        expand, allocation = self._parse_action(action)
        budget = min(self.config.step_budget, self.budget_left)

        # Expansions first, in node order, as long as the step's budget pays for them.
        expandable = self.visible & ~self.expanded & self._has_children
        ignored = Counter(
            {
                "hidden": int(np.sum(expand & ~self.visible)),
                "already_expanded": int(np.sum(expand & self.visible & self.expanded)),
                "leaf": int(np.sum(expand & self.visible & ~self.expanded & ~self._has_children)),
            }
        )
        wanted = np.flatnonzero(expand & expandable)
        affordable = len(wanted) if self.expand_cost == 0 else budget // self.expand_cost
        chosen = [int(i) for i in wanted[:affordable]]
        ignored["unaffordable"] = len(wanted) - len(chosen)
        explore_cost = len(chosen) * self.expand_cost
        data_budget = budget - explore_cost

        # The allocation, read against the nodes visible when the agent acted.
        top = allocation.max()
        weights = allocation / top if top > 0 else allocation  # huge weights must not overflow
        total = weights.sum()
        hidden_weight = weights[~self.visible]
        leaf_weights = np.zeros(len(self.node_names))
        for i in np.flatnonzero(self.visible & (weights > 0)):
            leaves = self._leaves_under[i]
            leaf_weights[leaves] += weights[i] / len(leaves)
        requests: list[Request] = []
        leaf_weights = leaf_weights[self._band_nodes]
        if data_budget > 0 and leaf_weights.sum() > 0:
            counts = allocate(leaf_weights, data_budget)
            for node, count in zip(self._band_nodes, counts):
                if count:
                    low, high = self.band_range(int(node))
                    requests.append(Request(self.skill_names[self._node_skill[node]], int(count), low, high))
        plan = Plan(requests=requests, extra_cost=explore_cost)
        self._pending = {
            "expand": chosen,
            "explore_cost": explore_cost,
            "data_budget": data_budget,
            "requested": plan.requested(),
            "ignored_expansions": {k: v for k, v in ignored.items() if v},
            "ignored_weight": float(hidden_weight.sum() / total) if total > 0 else 0.0,
            "ignored_nodes": int(np.sum(hidden_weight > 0)),
        }
        return plan

    # -- observation ------------------------------------------------------------------------
    def node_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """(accuracy, loss) of every node, hidden ones included, from the last validation."""
        n = len(self.node_names)
        n_skills = len(self.skill_names)
        correct = np.zeros((n_skills, self.n_bands))
        totals = np.zeros((n_skills, self.n_bands))
        loss_sums = np.zeros((n_skills, self.n_bands))
        loss_counts = np.zeros((n_skills, self.n_bands))
        index = {name: i for i, name in enumerate(self.skill_names)}
        for record in self.last_validation:
            band = band_of(record.get("difficulty"), self.n_bands)
            skill = index.get(record.get("skill"))
            if band is not None and skill is not None:
                correct[skill, band] += bool(record["correct"])
                totals[skill, band] += 1
                value = record.get("loss")
                if value is not None and np.isfinite(value):
                    loss_sums[skill, band] += value
                    loss_counts[skill, band] += 1
        loss = np.nan_to_num(np.asarray(self.loss, dtype=np.float64), nan=MAX_LOSS, posinf=MAX_LOSS)
        loss = np.clip(loss, 0.0, MAX_LOSS)
        accuracy = np.asarray(self.accuracy, dtype=np.float64)
        node_accuracy = np.zeros(n)
        node_loss = np.zeros(n)
        for i in range(n):
            skills = self._skills_under[i]
            kind = self.node_kinds[i]
            if kind == "band":
                s, b = self._node_skill[i], self._band_number[i]
                node_accuracy[i] = correct[s, b] / totals[s, b] if totals[s, b] else accuracy[s]
                node_loss[i] = min(loss_sums[s, b] / loss_counts[s, b], MAX_LOSS) if loss_counts[s, b] else loss[s]
            else:
                node_accuracy[i] = accuracy[skills].mean() if len(skills) else 0.0
                node_loss[i] = loss[skills].mean() if len(skills) else 0.0
        return node_accuracy, node_loss

    def _visible_accuracy(self) -> dict[str, float]:
        accuracy, _ = self.node_scores()
        return {self.node_names[i]: float(accuracy[i]) for i in np.flatnonzero(self.visible)}

    def _observation(self) -> dict[str, np.ndarray]:
        accuracy, loss = self.node_scores()
        expandable = self.visible & ~self.expanded & self._has_children
        return {
            "accuracy": np.where(self.visible, accuracy, HIDDEN).astype(np.float32),
            "loss": np.where(self.visible, loss, HIDDEN).astype(np.float32),
            "visible": self.visible.astype(np.int8),
            "expanded": self.expanded.astype(np.int8),
            "expandable": expandable.astype(np.int8),
            "depth": self.node_depth.copy(),
            "leaves": self.node_leaves.copy(),
            "examples_seen": np.minimum(self.node_examples, self.config.total_budget).astype(np.float32),
            "budget_left": np.array([max(self.budget_left, 0)], dtype=np.float32),
        }

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        accuracy, _ = self.node_scores()
        lines = [f"step {self.steps}  budget left {self.budget_left}  macro {self.accuracy.mean():.3f}"]
        width = max(len(name) for name in self.node_names) + 2 * 3

        def show(i: int, depth: int) -> None:
            mark = "-" if self.expanded[i] else "+" if self._has_children[i] else " "
            label = f"{'  ' * depth}{mark} {self.node_names[i]}"
            bar = "#" * int(round(accuracy[i] * 20))
            lines.append(f"  {label:<{width}}  {accuracy[i]:5.2f}  {bar:<20}  seen {self.node_examples[i]}")
            if self.expanded[i]:
                for child in self.node_children[i]:
                    show(child, depth + 1)

        for i in np.flatnonzero(np.array(self.node_parents) < 0):
            show(int(i), 0)
        return "\n".join(lines)
