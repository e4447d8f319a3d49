"""Known mistakes of the training exercises (notebooks 04-05): the focal term, the SSIM of one window,
the inductive target. Each mistake is implemented (sometimes in several ways) so that the checker can
recognise a reader's output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..ssim import C1, C2, SIGMA, WINDOW_SIZE
from .core import Mistake
from .solutions import my_focal

# --- eq. 10: the focal term -----


def _focal(logits, targets, alpha, gamma, *, alpha_t="paper", focus="p_t"):
    p = torch.sigmoid(logits)
    p_t = p * targets + (1 - p) * (1 - targets)
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    weight = {
        "paper": alpha * targets + (1 - alpha) * (1 - targets),
        "same": torch.full_like(logits, alpha),
        "inverted": (1 - alpha) * targets + alpha * (1 - targets),
        "none": torch.ones_like(logits),
    }[alpha_t]
    modulation = (1 - p_t) ** gamma if focus == "p_t" else (1 - p) ** gamma
    return weight * modulation * bce


def _focal_without_sigmoid(logits, targets, alpha, gamma):
    p_t = logits * targets + (1 - logits) * (1 - targets)  # logits taken for probabilities
    return (alpha * targets + (1 - alpha) * (1 - targets)) * (1 - p_t) ** gamma * -torch.log(p_t)


def _focal_variant(**change: str) -> tuple:
    """The candidate of a mistake that changes one choice of :func:`_focal` (``alpha_t`` or ``focus``)."""
    return (lambda logits, targets, alpha=0.25, gamma=2.0: _focal(logits, targets, alpha, gamma, **change),)


FOCAL_MISTAKES = (
    Mistake(
        "alpha_for_negatives",
        "every pixel is weighted by alpha: α_t is α for the positives (t = 1) and 1 - α for the negatives "
        "(t = 0), so that the rare positives and the many negatives are balanced.",
        "the same alpha for negatives",
        _focal_variant(alpha_t="same"),
    ),
    Mistake(
        "alpha_inverted",
        "α and 1 - α are swapped: α_t = α where t = 1 (positives), 1 - α where t = 0.",
        "alpha and 1 - alpha swapped",
        _focal_variant(alpha_t="inverted"),
    ),
    Mistake(
        "no_alpha",
        "the α_t weight is missing: FL = α_t (1 - p_t)^γ BCE, with α_t = α for positives and 1 - α for "
        "negatives.",
        "no alpha_t weight",
        _focal_variant(alpha_t="none"),
    ),
    Mistake(
        "focus_on_p",
        "the modulating factor uses p instead of p_t: (1 - p_t)^γ with p_t = p for a positive and 1 - p "
        "for a negative, so that well-classified pixels of *either* kind are down-weighted; (1 - p)^γ does "
        "that for positives only.",
        "(1 - p)^gamma instead of (1 - p_t)^gamma",
        _focal_variant(focus="p"),
    ),
    Mistake(
        "alpha_gamma_swapped",
        "α and γ are swapped: α (0.25) weights the classes, γ (2) is the exponent of (1 - p_t).",
        "alpha and gamma swapped",
        (lambda logits, targets, alpha=0.25, gamma=2.0: my_focal(logits, targets, gamma, alpha),),
    ),
    Mistake(
        "fixed_parameters",
        "the function ignores its alpha and gamma arguments (0.25 and 2 written in): use the parameters.",
        "alpha and gamma written in instead of passed",
        (lambda logits, targets, alpha=0.25, gamma=2.0: my_focal(logits, targets),),
    ),
    Mistake(
        "no_sigmoid",
        "the logits are used as probabilities: p = sigmoid(logit) first (or "
        "binary_cross_entropy_with_logits, "
        "which applies it stably); a logit is any real number, not a probability.",
        "no sigmoid (logits used as probabilities)",
        (
            lambda logits, targets, alpha=0.25, gamma=2.0: _focal_without_sigmoid(
                logits, targets, alpha, gamma
            ),
            lambda logits, targets, alpha=0.25, gamma=2.0: F.binary_cross_entropy(logits, targets),
            lambda logits, targets, alpha=0.25, gamma=2.0: F.binary_cross_entropy(
                logits, targets, reduction="none"
            ),
        ),
    ),
)

# --- eq. 10: SSIM of one window -----


def _ssim(x, y, *, weights="gauss", constants=True, centred=True):
    coords = torch.arange(WINDOW_SIZE, dtype=torch.float64) - WINDOW_SIZE // 2
    g = torch.exp(-(coords**2) / (2 * SIGMA**2))
    window = torch.outer(g, g)
    if weights == "gauss":
        window = window / window.sum()
    elif weights == "uniform":
        window = torch.full_like(window, 1 / window.numel())
    x, y = x.double(), y.double()
    mu_x, mu_y = (window * x).sum(), (window * y).sum()
    shift = 1.0 if centred else 0.0
    var_x = (window * x * x).sum() - shift * mu_x**2
    var_y = (window * y * y).sum() - shift * mu_y**2
    cov = (window * x * y).sum() - shift * mu_x * mu_y
    c1, c2 = (C1, C2) if constants else (0.0, 0.0)
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))


SSIM_MISTAKES = (
    Mistake(
        "no_constants",
        "C1 and C2 are missing: SSIM = ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2)) "
        "with "
        "C1 = 0.01², C2 = 0.03² (sptseg_lib.ssim.C1, C2); they keep flat, dark windows from dividing by ~0.",
        "no C1 / C2",
        (lambda x, y: _ssim(x, y, constants=False),),
    ),
    Mistake(
        "uniform_window",
        "the statistics are plain means over the window: SSIM weighs the window with a Gaussian (σ = 1.5, "
        "11 x 11, "
        "normalised to sum 1: sptseg_lib.ssim.gaussian_window_1d, outer product with itself).",
        "uniform instead of Gaussian weights",
        (lambda x, y: _ssim(x, y, weights="uniform"),),
    ),
    Mistake(
        "window_not_normalised",
        "the Gaussian weights do not sum to 1: divide the 11 x 11 window g gᵀ by its sum, so that μ = Σ w "
        "x is "
        "a weighted mean.",
        "an unnormalised Gaussian window",
        (lambda x, y: _ssim(x, y, weights="raw"),),
    ),
    Mistake(
        "not_centred",
        "the (co)variances are not centred: σx² = E[x²] - μx² and σxy = E[xy] - μx μy, with E the window's "
        "weighted mean; E[x²] alone is a second moment, not a variance.",
        "E[x^2] without - mu^2",
        (lambda x, y: _ssim(x, y, centred=False),),
    ),
)

# --- the inductive target -----


def _target(label, seen, unseen, ignore_index=255, *, unseen_to=None, renumber=True, ignore_to=None):
    out = torch.full_like(label, ignore_index, dtype=torch.long)
    for channel, cls in enumerate(seen):
        out[label == cls] = channel if renumber else cls
    for cls in unseen:
        out[label == cls] = ignore_index if unseen_to is None else (cls if unseen_to == "kept" else unseen_to)
    if ignore_to is not None:
        out[label == ignore_index] = ignore_to
    return out


INDUCTIVE_MISTAKES = (
    Mistake(
        "unseen_not_ignored",
        "unseen pixels are not ignored: in the inductive setting no mask of an unseen class is ever shown, "
        "so "
        "their pixels become ignore_index (255); set to 0 (or any channel) they would teach a seen class, "
        "and "
        "kept they are not even a channel of the decoder.",
        "unseen pixels kept or set to a class instead of ignored",
        (
            lambda label, seen, unseen, ignore_index=255: _target(
                label, seen, unseen, ignore_index, unseen_to=0
            ),
            lambda label, seen, unseen, ignore_index=255: _target(
                label, seen, unseen, ignore_index, unseen_to="kept"
            ),
        ),
    ),
    Mistake(
        "not_renumbered",
        "seen classes keep their data-set index: the decoder trains one channel per seen class, so seen "
        "class c "
        "becomes its position in `seen` (training_classes(split, 'inductive').index(c)).",
        "seen classes not renumbered to channels",
        (
            lambda label, seen, unseen, ignore_index=255: _target(
                label, seen, unseen, ignore_index, renumber=False
            ),
        ),
    ),
    Mistake(
        "ignore_remapped",
        "ignored pixels were remapped: ignore_index (255) must stay ignore_index in every setting.",
        "ignore_index pixels remapped",
        (
            lambda label, seen, unseen, ignore_index=255: _target(
                label, seen, unseen, ignore_index, ignore_to=0
            ),
        ),
    ),
)
