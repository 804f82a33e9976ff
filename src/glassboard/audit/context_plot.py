"""The long-context audit's picture: one depth x length heatmap of accuracy per task (matplotlib, PNG)."""

from __future__ import annotations

from pathlib import Path

from glassboard.audit.context_report import ContextReport
from glassboard.audit.haystack import ContextError


def heatmap(report: ContextReport, path: Path) -> Path:
    """Accuracy per (depth, length) cell for each task; provider-truncated cells are hatched and marked T."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = report.tasks
    lengths = [row.length for row in report.lengths]
    figure, axes = plt.subplots(1, len(tasks), figsize=(2.0 + 0.9 * len(lengths) * len(tasks), 3.8), squeeze=False,
                                layout="constrained")
    image = None
    for ax, task in zip(axes[0], tasks, strict=True):
        cells = [c for c in report.cells if c.task == task]
        depths = sorted({c.depth for c in cells}, key=lambda d: -1.0 if d is None else d)
        grid = [[float("nan")] * len(lengths) for _ in depths]
        for c in cells:
            i, j = depths.index(c.depth), lengths.index(c.length)
            if c.accuracy is not None:
                grid[i][j] = c.accuracy
            if c.truncated:
                ax.add_patch(matplotlib.patches.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//"))
                ax.text(j, i, "T", ha="center", va="center", fontsize=9, weight="bold")
            elif c.accuracy is not None:
                ax.text(j, i, f"{c.accuracy:.2f}", ha="center", va="center", fontsize=7)
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
        ax.set_xticks(range(len(lengths)), [_short(n) for n in lengths])
        ax.set_yticks(range(len(depths)), ["all" if d is None else f"{d:g}" for d in depths])
        ax.set_xlabel("prompt length (tokens)")
        if ax is axes[0][0]:
            ax.set_ylabel("needle depth")
        ax.set_title(task)
    if image is not None:
        figure.colorbar(image, ax=axes[0].tolist(), label="accuracy (recall)")
    sweep = "a needle per depth in each haystack" if report.sweep == "shared" else "one needle per prompt"
    figure.suptitle(f"{report.model}: claimed {report.claimed_context or '?'}, effective "
                    f"{report.effective_length or 'none'} ({report.verdict}); {report.samples} samples per cell, "
                    f"{sweep}", fontsize=9)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    except OSError as err:
        raise ContextError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        plt.close(figure)
    return path


def _short(n: int) -> str:
    return f"{n // 1024}k" if n % 1024 == 0 and n >= 1024 else str(n)
