"""The search's history as a picture: the validation score of each trial by trial number, and the best so far.
Draws with matplotlib (Agg backend, imported inside the function) and touches no other library."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw_history(trials: list[Any], metric: str, direction: str, path: Path) -> Path:
    """A PNG at `path` of the trials (tasks.search.Trial): each complete trial's score, failed or pruned ones
    marked at the bottom, and the best-so-far line the search followed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [(t.number, t.value) for t in trials if t.value is not None]
    others = [t.number for t in trials if t.value is None]
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    try:
        if done:
            xs, ys = zip(*done, strict=True)
            ax.scatter(xs, ys, s=18, label="trial", color="#4477aa")
            best: float | None = None
            line: list[float] = []
            for y in ys:
                better = best is None or (y > best if direction == "maximize" else y < best)
                best = y if better or best is None else best
                line.append(best)
            ax.step(xs, line, where="post", color="#ee6677", label="best so far")
            if others:
                ax.scatter(
                    others, [min(ys)] * len(others), marker="x", color="grey", label="failed or pruned"
                )
        ax.set_xlabel("trial")
        ax.set_ylabel(f"validation {metric}")
        ax.set_title(f"model.search: {len(trials)} trials ({direction} {metric})")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
