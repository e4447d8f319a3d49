"""Pictures of the course itself (notebook 00, the map): the model built up in the order the series teaches
it, and the shapes world's classes.

* :func:`model_map_figure`: a block diagram of SPT-SEG (paper Fig. 2): the baseline first (frozen CLIP,
  deep visual prompts, the ZegCLIP decoder), then what SPT-SEG adds (spectral prompts eq. 1-3, the
  spectral guided decoder eq. 4-9, the focal + SSIM loss eq. 10), each block labelled with the notebook
  that teaches it and its equations;
* :func:`class_grid_figure`: the 16 colour x shape classes and the 4 stuff classes of the shapes world,
  the unseen ones framed: an unseen class is a new combination of words the seen classes use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

BASELINE_COLOUR = "#dce6f2"
"""Fill of the baseline's blocks (ZegCLIP: frozen CLIP, deep visual prompts, its decoder)."""
ADDED_COLOUR = "#fbd9b5"
"""Fill of what SPT-SEG adds to the baseline."""
FROZEN_COLOUR = "#e6e6e6"
"""Fill of the frozen CLIP towers."""
SCORE_COLOUR = "#e3f1dc"
"""Fill of the loss and the metrics."""


@dataclass(frozen=True)
class Block:
    """One box of the map: its text, where it sits (centre, in axes units 0-1), its fill."""

    text: str
    x: float
    y: float
    colour: str
    width: float = 0.17
    height: float = 0.16


BLOCKS: dict[str, Block] = {
    "image": Block("image\n(B, 3, H, W)", 0.05, 0.72, "white", width=0.1),
    "names": Block("class names\n'cat', 'sheep', ...", 0.05, 0.22, "white", width=0.1),
    "clip": Block(
        "frozen CLIP image encoder\n+ deep visual prompts V\n(01 §1, eq. 2; VPT)",
        0.24,
        0.72,
        BASELINE_COLOUR,
        width=0.2,
    ),
    "spt": Block("+ spectral prompts S\n(01, eq. 1-3)", 0.24, 0.95, ADDED_COLOUR, width=0.2, height=0.09),
    "text": Block(
        "frozen CLIP text encoder\nt: one embedding per name\n(00 §3)", 0.24, 0.22, FROZEN_COLOUR, width=0.2
    ),
    "descriptor": Block(
        "relationship descriptor\nt̂ = φ([t⊙g ; t])\n(03 §1, eq. 8)", 0.54, 0.22, BASELINE_COLOUR
    ),
    "decoder": Block("ZegCLIP decoder layers\nmasks = t̂ · tokensᵀ\n(03 §2)", 0.54, 0.72, BASELINE_COLOUR),
    "sgd": Block(
        "→ spectral guided decoder:\nHiLo (02, eq. 4-6), gate (03 §3, eq. 7)",
        0.54,
        0.95,
        ADDED_COLOUR,
        width=0.22,
        height=0.09,
    ),
    "masks": Block(
        "mask logits A = t̂ ẑᵀ\n(03 §4, eq. 9)\nper class", 0.75, 0.47, BASELINE_COLOUR, width=0.15
    ),
    "loss": Block(
        "training: focal + SSIM\n(04, eq. 10)\nseen classes only (05)", 0.92, 0.72, ADDED_COLOUR, width=0.16
    ),
    "metrics": Block(
        "test: pAcc, mIoU(S),\nmIoU(U), hIoU\n(07, eq. 11)", 0.92, 0.22, SCORE_COLOUR, width=0.16
    ),
}
"""The map's boxes. Notebook numbers and equation numbers are the series' and the paper's."""

ARROWS: tuple[tuple[str, str, str], ...] = (
    ("image", "clip", ""),
    ("names", "text", ""),
    ("clip", "decoder", "dense tokens x\n(B, D, h, w)"),
    ("clip", "descriptor", "g (B, D)"),
    ("text", "descriptor", "t (C, D)"),
    ("descriptor", "decoder", "queries t̂"),
    ("decoder", "masks", ""),
    ("masks", "loss", ""),
    ("masks", "metrics", ""),
)
"""Arrows between boxes, with what flows along them (shapes as the library's docstrings give them)."""


def _edge(block: Block, towards: Block) -> tuple[float, float]:
    """The point where the segment from ``block``'s centre towards ``towards``'s centre leaves its box."""
    dx, dy = towards.x - block.x, towards.y - block.y
    scale = min(
        (block.width / 2) / abs(dx) if dx else np.inf,
        (block.height / 2) / abs(dy) if dy else np.inf,
    )
    return block.x + dx * scale, block.y + dy * scale


def model_map_figure(title: str = "SPT-SEG, built up in the order the series teaches it") -> Figure:
    """The block diagram of the model (paper Fig. 2) with the series' notebook and equation numbers.

    Blue: the baseline (ZegCLIP: a frozen CLIP with deep visual prompts, the relationship descriptor and
    its decoder); orange: what SPT-SEG adds (spectral prompts in the encoder's first blocks, the spectral
    guided decoder's HiLo attention and gate replacing ZegCLIP's layers, the focal + SSIM loss); grey: the
    frozen text tower; green: the test metrics.
    """
    fig = Figure(figsize=(12.5, 5.6), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(0.08, 1.04)
    ax.axis("off")
    for block in BLOCKS.values():
        box = FancyBboxPatch(
            (block.x - block.width / 2, block.y - block.height / 2),
            block.width,
            block.height,
            boxstyle="round,pad=0.004,rounding_size=0.01",
            facecolor=block.colour,
            edgecolor="#444444",
            linewidth=1.0,
        )
        ax.add_patch(box)
        ax.text(block.x, block.y, block.text, ha="center", va="center", fontsize=8.5)
    for source, target, label in ARROWS:
        a, b = BLOCKS[source], BLOCKS[target]
        start, end = _edge(a, b), _edge(b, a)
        ax.add_patch(
            FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="#333333", linewidth=1.0)
        )
        if label:
            mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
            ax.text(
                mx,
                my,
                label,
                ha="center",
                va="center",
                fontsize=7.5,
                color="#333333",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
            )
    for added, base in (("spt", "clip"), ("sgd", "decoder")):  # the additions plug into the baseline
        a, b = BLOCKS[added], BLOCKS[base]
        ax.add_patch(
            FancyArrowPatch(
                (a.x, a.y - a.height / 2),
                (b.x, b.y + b.height / 2),
                arrowstyle="-|>",
                mutation_scale=12,
                color="#c06000",
                linewidth=1.4,
                linestyle="--",
            )
        )
    ax.legend(
        handles=[
            Patch(facecolor=BASELINE_COLOUR, edgecolor="#444444", label="the baseline (ZegCLIP)"),
            Patch(facecolor=ADDED_COLOUR, edgecolor="#444444", label="added by SPT-SEG"),
            Patch(facecolor=FROZEN_COLOUR, edgecolor="#444444", label="frozen CLIP text tower"),
            Patch(facecolor=SCORE_COLOUR, edgecolor="#444444", label="the test metrics"),
        ],
        loc="lower center",
        ncol=4,
        fontsize=8.5,
        frameon=False,
        bbox_to_anchor=(0.5, -0.02),
    )
    fig.suptitle(title, fontsize=11)
    return fig


def class_grid_figure(
    images: Sequence[np.ndarray],
    names: Sequence[str],
    unseen: Sequence[int],
    columns: int = 4,
    title: str = "The shapes world: 16 colour x shape classes (4 unseen, framed) and 4 stuff classes",
) -> Figure:
    """One picture per class, named, the unseen ones framed in red and marked "(unseen)".

    Args:
        images: one ``(H, W, 3)`` uint8 picture per class, in class-index order.
        names: the class names, same order.
        unseen: the indices of the unseen classes.
        columns: pictures per row.
    """
    if len(images) != len(names):
        raise ValueError(f"{len(images)} pictures for {len(names)} class names")
    rows = -(-len(images) // columns)
    fig = Figure(figsize=(1.9 * columns, 1.95 * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if index >= len(images):
            ax.axis("off")
            continue
        ax.imshow(images[index])
        hidden = index in unseen
        ax.set_title(
            names[index] + (" (unseen)" if hidden else ""),
            fontsize=8.5,
            color="#b00000" if hidden else "black",
        )
        for spine in ax.spines.values():
            spine.set_edgecolor("#d00000" if hidden else "#999999")
            spine.set_linewidth(3.0 if hidden else 0.8)
    fig.suptitle(title, fontsize=10.5)
    return fig


__all__ = ["ARROWS", "BLOCKS", "Block", "class_grid_figure", "model_map_figure"]
