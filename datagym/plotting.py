"""Plots of a run directory: per-skill validation accuracy over steps, and the reward curve.

Uses matplotlib's object API on the Agg backend (no pyplot state, no display needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def accuracy_matrix(steps: list[dict], skills: list[str], initial: dict[str, float] | None = None) -> np.ndarray:
    """Rows: skills; columns: steps (column 0 is the reset accuracy when ``initial`` is given)."""
    columns = ([initial] if initial is not None else []) + [s.get("student/accuracy", {}) for s in steps]
    return np.array([[float(col.get(skill, np.nan)) for col in columns] for skill in skills])


def plot_accuracy_heatmap(
    steps: list[dict], skills: list[str], path: str | Path, initial: dict[str, float] | None = None, title: str = ""
) -> Path:
    """A skills x steps heatmap of validation accuracy, written to ``path``."""
    matrix = accuracy_matrix(steps, skills, initial)
    first_step = 0 if initial is not None else 1
    fig = Figure(figsize=(max(6.0, 0.5 * matrix.shape[1] + 3.5), max(3.0, 0.32 * len(skills) + 1.5)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_yticks(range(len(skills)), labels=skills, fontsize=8)
    xs = list(range(matrix.shape[1]))
    ax.set_xticks(xs, labels=[str(first_step + x) for x in xs], fontsize=8)
    ax.set_xlabel("step (0 = before any data)" if initial is not None else "step")
    ax.set_title(title or "validation accuracy per skill", fontsize=10)
    for (row, col), value in np.ndenumerate(matrix):
        if np.isfinite(value):
            ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=6,
                    color="black" if value > 0.6 else "white")
    fig.colorbar(image, ax=ax, label="accuracy", fraction=0.04, pad=0.02)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path


def plot_rewards(steps: list[dict], curve: list[float] | None, path: str | Path, title: str = "") -> Path:
    """Reward per step (bars) and macro validation accuracy (line), written to ``path``."""
    rewards = [float(s.get("reward", 0.0)) for s in steps]
    xs = np.arange(1, len(rewards) + 1)
    fig = Figure(figsize=(7.0, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colors = ["tab:green" if r >= 0 else "tab:red" for r in rewards]
    ax.bar(xs, rewards, color=colors, alpha=0.75, label="reward (change in macro val. accuracy)")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("reward")
    ax.set_xticks(xs)
    twin = ax.twinx()
    if curve:
        twin.plot(np.arange(len(curve)), curve, color="tab:blue", marker="o", label="macro validation accuracy")
    twin.set_ylabel("macro validation accuracy")
    twin.set_ylim(0.0, max(0.05, 1.1 * max(curve or [0.0])))
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + twin.get_legend_handles_labels()[1]
    ax.legend(handles, labels, loc="upper left", fontsize=8)
    ax.set_title(title or "reward and validation accuracy", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path
