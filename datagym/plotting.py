"""Plots of a run: per-skill validation accuracy over steps, and reward with the accuracy curve.

Every function takes plain data (the records of ``steps.jsonl``, the summary's curve) and a
path, writes one PNG and returns its path. Figures are built with matplotlib's object API on
the Agg canvas: no pyplot, so no global figure state, no display needed, safe in threads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

#: above this many steps the heatmap drops its per-cell numbers (they would overlap)
MAX_ANNOTATED_STEPS = 25
#: the widest a figure grows, in inches, however many steps a run has
MAX_WIDTH = 16.0


def accuracy_matrix(steps: Sequence[dict], skills: Sequence[str], initial: dict[str, float] | None = None) -> np.ndarray:
    """Rows: skills; columns: steps (column 0 is the reset accuracy when ``initial`` is given).

    A skill missing from a step is NaN (drawn blank), never a silent zero.
    """
    columns = ([initial] if initial is not None else []) + [s.get("student/accuracy") or {} for s in steps]
    values = [[col.get(skill) for col in columns] for skill in skills]
    return np.array([[np.nan if v is None else float(v) for v in row] for row in values], dtype=float).reshape(
        len(skills), len(columns)
    )


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def plot_accuracy_heatmap(
    steps: Sequence[dict],
    skills: Sequence[str],
    path: str | Path,
    initial: dict[str, float] | None = None,
    title: str = "",
) -> Path:
    """A skills x steps heatmap of validation accuracy, written to ``path``.

    With ``initial`` (the per-skill accuracy at reset) the first column is step 0; without it
    the columns are steps 1..N.
    """
    matrix = accuracy_matrix(steps, skills, initial)
    first_step = 0 if initial is not None else 1
    n_cols = matrix.shape[1]
    annotate = n_cols <= MAX_ANNOTATED_STEPS
    label_width = 0.075 * max((len(s) for s in skills), default=4)
    width = min(MAX_WIDTH, max(6.0, (0.55 if annotate else 0.12) * n_cols + label_width + 2.5))
    fig = Figure(figsize=(width, max(3.0, 0.32 * len(skills) + 1.6)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = colormaps["viridis"].with_extremes(bad="lightgrey")
    # The extent puts column c at x = its step number, so x ticks are step numbers.
    extent = (first_step - 0.5, first_step + n_cols - 0.5, len(skills) - 0.5, -0.5)
    image = ax.imshow(matrix, aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest", extent=extent)
    ax.set_yticks(range(len(skills)), labels=list(skills), fontsize=8)
    if annotate:
        ax.set_xticks(range(first_step, first_step + n_cols))
        for (row, col), value in np.ndenumerate(matrix):
            if np.isfinite(value):
                # viridis is dark below ~0.6: white text there, black above.
                ax.text(first_step + col, row, f"{value:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if value > 0.6 else "white")
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("step (0 = at reset, before any data)" if initial is not None else "step")
    ax.set_title(title or "validation accuracy per skill", fontsize=10)
    fig.colorbar(image, ax=ax, label="validation accuracy", fraction=0.04, pad=0.02)
    return _save(fig, path)


def plot_rewards(
    steps: Sequence[dict],
    curve: Sequence[float] | None,
    path: str | Path,
    title: str = "",
    test_macro_accuracy: float | None = None,
) -> Path:
    """Macro validation accuracy over steps (top) and the reward of each step (bottom).

    ``curve`` is the summary's ``validation_curve``: the reset accuracy then one value per
    step (N + 1 values); a curve of N values (no reset value known) is drawn at steps 1..N.
    ``test_macro_accuracy``, when given, is marked at the last step.
    """
    rewards = np.array([float(s.get("reward", 0.0)) for s in steps])
    n = len(rewards)
    curve = list(curve) if curve else [float(s.get("student/macro_accuracy", np.nan)) for s in steps]
    curve_x = np.arange(n + 1 - len(curve), n + 1)
    fig = Figure(figsize=(7.5, 5.0), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))

    top.plot(curve_x, curve, color="tab:blue", marker="o" if n <= 40 else None, markersize=4,
             label="macro validation accuracy")
    highest = max([v for v in curve if np.isfinite(v)] + [0.0])
    if test_macro_accuracy is not None:
        top.scatter([n], [test_macro_accuracy], marker="*", s=140, color="tab:orange", zorder=3,
                    label=f"test macro accuracy ({test_macro_accuracy:.3f})")
        highest = max(highest, test_macro_accuracy)
    top.set_ylim(0.0, max(0.05, 1.15 * highest))
    top.set_ylabel("macro accuracy")
    top.grid(axis="y", alpha=0.3)
    top.legend(loc="upper left", fontsize=8, frameon=False)
    top.set_title(title or "validation accuracy and reward", fontsize=10)

    colors = ["tab:green" if r >= 0 else "tab:red" for r in rewards]
    bottom.bar(np.arange(1, n + 1), rewards, color=colors, alpha=0.8)
    bottom.axhline(0.0, color="grey", linewidth=0.8)
    bottom.set_ylabel("reward\n(change in macro val. acc.)", fontsize=9)
    bottom.set_xlabel("step")
    bottom.grid(axis="y", alpha=0.3)
    if n + 1 <= 30:
        bottom.set_xticks(range(curve_x[0], n + 1))
    else:
        bottom.xaxis.set_major_locator(MaxNLocator(nbins=15, integer=True))
    return _save(fig, path)


def plot_data(steps: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """What each step's data came to (top: accepted and each rejection reason, stacked) and,
    for a run whose agent or engine asked an LLM, its tokens and failures per step (bottom)."""
    n = len(steps)
    x = np.arange(1, n + 1)
    reasons = sorted({reason for s in steps for reason in (s.get("teacher/rejected") or {})})
    llm = [prefix for prefix in ("teacher/llm_", "engine/llm_") if any(f"{prefix}requests" in s for s in steps)]
    fig = Figure(figsize=(min(MAX_WIDTH, max(7.5, 0.35 * n)), 5.5 if llm else 3.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2 if llm else 1, 1, sharex=True, squeeze=False)[:, 0]
    top = axes[0]
    bottom_of = np.zeros(n)
    accepted = np.array([float(s.get("teacher/accepted", 0)) for s in steps])
    top.bar(x, accepted, color="tab:green", label="accepted")
    bottom_of += accepted
    palette = colormaps["tab10"]
    for k, reason in enumerate(reasons):
        counts = np.array([float((s.get("teacher/rejected") or {}).get(reason, 0)) for s in steps])
        top.bar(x, counts, bottom=bottom_of, color=palette((k + 3) % 10), label=reason)
        bottom_of += counts
    top.set_ylabel("examples")
    top.legend(loc="upper left", fontsize=7, frameon=False, ncols=min(4, len(reasons) + 1))
    top.set_title(title or "data per step", fontsize=10)
    top.grid(axis="y", alpha=0.3)
    if llm:
        bottom = axes[1]
        width = 0.8 / (2 * len(llm))
        for j, prefix in enumerate(llm):
            who = "agent" if prefix.startswith("teacher") else "engine"
            for i, (key, shade) in enumerate((("prompt_tokens", 0.45), ("completion_tokens", 0.9))):
                values = np.array([float(s.get(prefix + key, 0)) for s in steps])
                offset = (2 * j + i - len(llm) + 0.5) * width
                bottom.bar(x + offset, values, width=width, color=palette(j)[:3] + (shade,),
                           label=f"{who} {key.replace('_', ' ')}")
            failures = [sum((s.get(prefix + "failures") or {}).values()) for s in steps]
            for step, failed in zip(x, failures):
                if failed:
                    bottom.annotate(f"{failed} failed", (step, 0), fontsize=6, rotation=90, va="bottom", ha="center")
        bottom.set_ylabel("LLM tokens")
        bottom.set_yscale("symlog")
        bottom.legend(loc="upper left", fontsize=7, frameon=False)
        bottom.grid(axis="y", alpha=0.3)
    axes[-1].set_xlabel("step")
    if n <= 30:
        axes[-1].set_xticks(x)
    else:
        axes[-1].xaxis.set_major_locator(MaxNLocator(nbins=15, integer=True))
    return _save(fig, path)


def curve_band(curves: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per step: (step, mean, 95% t-interval low, high) over the runs that reached that step.

    Runs may differ in length (a teacher that withholds data runs to the step limit); a step
    is drawn from the runs that have it, and its band collapses to the mean where only one does.
    """
    from scipy import stats

    length = max((len(c) for c in curves), default=0)
    steps, means, lows, highs = [], [], [], []
    for i in range(length):
        values = np.array([c[i] for c in curves if len(c) > i and c[i] is not None and np.isfinite(c[i])])
        if not len(values):
            continue
        mean = float(values.mean())
        half = 0.0
        if len(values) > 1:
            half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
        steps.append(i)
        means.append(mean)
        lows.append(mean - half)
        highs.append(mean + half)
    return np.array(steps), np.array(means), np.array(lows), np.array(highs)


def is_flat(mean: np.ndarray, low: np.ndarray, high: np.ndarray) -> bool:
    """Whether a curve band is one constant value at every step (a teacher that trains
    nothing): it says nothing per step, so it is drawn as a level, not as a curve."""
    return len(mean) > 1 and bool(np.all(mean == mean[0]) and np.all(low == mean[0]) and np.all(high == mean[0]))


def plot_learning_curves(curves: dict[str, Sequence[Sequence[float]]], title: str, path: str | Path) -> Path:
    """Macro validation accuracy over steps per agent: the mean over seeds with a 95% band.

    A flat curve (the same value at every step of every seed, such as ``no_teaching``'s) is a
    dashed level across the plot, and the steps shown are those of the other curves, so an
    agent that spends no budget and runs to the step limit does not squeeze the rest.
    """
    fig = Figure(figsize=(8.0, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = colormaps["tab10"]
    levels, last_step = [], 0
    for i, (agent, runs) in enumerate(curves.items()):
        steps, mean, low, high = curve_band(runs)
        if not len(steps):
            continue
        color = cmap(i % 10)
        label = f"{agent} (n={len(runs)})"
        if is_flat(mean, low, high):
            levels.append((float(mean[0]), color, f"{label}, flat over {len(steps) - 1} steps", int(steps[-1])))
            continue
        last_step = max(last_step, int(steps[-1]))
        ax.plot(steps, mean, color=color, label=label, linewidth=1.6)
        ax.fill_between(steps, low, high, color=color, alpha=0.18, linewidth=0)
    if levels and not last_step:  # every curve is flat: their own steps
        last_step = max(step for *_, step in levels)
    for value, color, label, _ in levels:
        ax.axhline(value, color=color, linestyle="--", linewidth=1.6, label=label, zorder=3)
    ax.set_xlim(0, max(last_step, 1))
    ax.set_xlabel("step (0 = at reset)")
    ax.set_ylabel("macro validation accuracy")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    top = max(ax.get_ylim()[1], 1e-3)
    ax.set_ylim(-0.02 * top, top)  # a level at 0 stays clear of the axis
    ax.grid(alpha=0.3)
    ax.set_title(f"{title}: mean over seeds, 95% band", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize=8, frameon=False)
    return _save(fig, path)
