"""The confusion matrix as a PNG (matplotlib, headless): the picture the web page shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labelwise.domain import LabelwiseError


def confusion_png(evaluation: dict[str, Any], path: Path, title: str = "") -> Path:
    confusion = evaluation.get("confusion")
    if not confusion:
        raise LabelwiseError("a confusion matrix exists for single-label models only")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, norm, raw = confusion["labels"], confusion["normalized"], confusion["matrix"]
    size = max(4.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("labeled")
    if len(labels) <= 25:
        for i, row in enumerate(raw):
            for j, v in enumerate(row):
                if v:
                    ax.text(
                        j,
                        i,
                        str(v),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if norm[i][j] > 0.5 else "black",
                    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the labeled class")
    ax.set_title(title or "confusion matrix")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
