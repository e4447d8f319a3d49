"""Reference solutions of the course's exercises, written as a reader would write them.

Each function is named like the notebook's stub, and its docstring is the stub's: the checker
(:func:`sptseg_lib.exercises.check`) proves each one equal to the library on random inputs, and
``exercises.show_solution(name)`` prints one for a stuck reader.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..ssim import C1, C2, SIGMA, WINDOW_SIZE


def my_spectral_prompt(H: torch.Tensor, g: torch.Tensor, w_f: torch.Tensor) -> torch.Tensor:
    """Eq. 1 of the paper for one image: S = IFFT2(FFT2(H ⊙ g) ⊙ w_f) over the token grid.

    Args:
        H: the patch tokens on their grid, real, shape (h, w, C).
        g: the class token, shape (C,): one gain per channel, the same at every patch.
        w_f: the learned complex filter, shape (h, w//2 + 1, C): one gain per (frequency, channel).

    Returns:
        S, real, shape (h, w, C). As in the library (docs/reference.md §1.2) the transforms are the real
        ones (torch.fft.rfft2 / irfft2) over the grid axes (0, 1), both orthonormal (norm="ortho"),
        and the inverse is told the grid's size (s=(h, w)).
    """
    h, w, _ = H.shape
    gated = H * g  # (h, w, C): g broadcasts over the grid
    spectrum = torch.fft.rfft2(gated, dim=(0, 1), norm="ortho")  # (h, w//2 + 1, C), complex
    filtered = spectrum * w_f  # the complex product, frequency by frequency, channel by channel
    return torch.fft.irfft2(filtered, s=(h, w), dim=(0, 1), norm="ortho")


def my_head_split(num_heads: int, alpha: float) -> tuple[int, int]:
    """Eq. 4-5: how HiLo attention splits its num_heads heads between the two branches.

    Args:
        num_heads: the total number of heads N_h.
        alpha: the share of heads given to Lo-Fi, in [0, 1] (SPT uses 0.9).

    Returns:
        (hifi_heads, lofi_heads). The library follows LITv2 and the reference code (docs/reference.md §4):
        int(N_h * alpha) heads are Lo-Fi (truncated, not rounded), the rest Hi-Fi. (The paper's text
        says it the other way round.)
    """
    lofi = int(num_heads * alpha)
    return num_heads - lofi, lofi


def my_lofi_query(
    q: torch.Tensor, x: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor, window: int
) -> torch.Tensor:
    """Eq. 5 for one query and one Lo-Fi head: attention over the average-pooled keys.

    Args:
        q: the query vector of this head at one position, shape (d,).
        x: the layer's input tokens on their grid, shape (h, w, D).
        w_k, w_v: this head's key and value projections, shape (D, d) each (k = pooled @ w_k).
        window: the pooling size ws.

    Returns:
        The head's output at that query, shape (d,): softmax(q · kᵀ / sqrt(d)) v over the pooled keys.
        As in LITv2 (docs/reference.md §4) the grid is zero-padded at the bottom and on the right to a
        multiple of ws, then each ws x ws block is averaged (the padded zeros count in the mean) into
        one pooled token, projected to one key and one value.
    """
    h, w, dim = x.shape
    d = q.shape[0]
    pad_h, pad_w = (-h) % window, (-w) % window
    padded = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))  # zeros at the right and at the bottom
    gh, gw = padded.shape[0] // window, padded.shape[1] // window
    blocks = padded.reshape(gh, window, gw, window, dim)
    pooled = blocks.mean(dim=(1, 3)).reshape(gh * gw, dim)  # one token per block
    k, v = pooled @ w_k, pooled @ w_v  # (gh*gw, d) each
    weights = torch.softmax(k @ q / math.sqrt(d), dim=0)  # one weight per pooled key
    return weights @ v


def my_gate(z: torch.Tensor, xi: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Eq. 7: the spectral gate z_hat = P · sim(z, ξ) · z of a Spectral Guided Decode layer.

    Args:
        z: the HiLo tokens, shape (N, D).
        xi: the learned direction ξ, shape (D,).
        P: the learned channel transform, shape (D, D).

    Returns:
        z_hat, shape (N, D): each token scaled by sim = clamp(cos(z_i, ξ), 0, 1), then multiplied by P
        on the right, (sim_i z_i) @ P, as in the library (docs/reference.md §3.2).
    """
    cos = (z @ xi) / (z.norm(dim=1) * xi.norm()).clamp(min=1e-8)  # (N,)
    sim = cos.clamp(0.0, 1.0)
    return (sim[:, None] * z) @ P


def my_focal(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Eq. 10's focal term at every pixel: FL = α_t (1 - p_t)^γ · BCE(logit, t).

    Args:
        logits: mask logits, shape (N,) (any shape works: the loss is pixel by pixel).
        targets: 0/1 targets, same shape, float.
        alpha: the weight of the positives; negatives get 1 - alpha (α_t).
        gamma: the focusing exponent.

    Returns:
        The loss of every pixel, same shape. p = sigmoid(logit); p_t = p where t = 1 and 1 - p where
        t = 0. Averaged over the pixels this is sptseg_lib.losses.focal_loss of one (image, class) pair
        with num_masks = 1 (docs/reference.md §5.2).
    """
    p = torch.sigmoid(logits)
    p_t = torch.where(targets > 0.5, p, 1 - p)
    alpha_t = torch.where(targets > 0.5, alpha, 1 - alpha)
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # = -log(p_t), stably
    return alpha_t * (1 - p_t) ** gamma * bce


def my_ssim_window(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Eq. 10's SSIM for one window: the local SSIM index of its centre pixel.

    Args:
        x, y: the prediction and the target under one 11 x 11 window, shape (11, 11) each.

    Returns:
        A scalar: ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2)), with every mean taken
        with the Gaussian weights of the window (σ = 1.5, weights summing to 1), σx² = E[x²] - μx² and
        σxy = E[xy] - μx μy, C1 = 0.01², C2 = 0.03² (sptseg_lib.ssim; docs/reference.md §5.4).
    """
    coords = torch.arange(WINDOW_SIZE, dtype=x.dtype) - WINDOW_SIZE // 2
    g = torch.exp(-(coords**2) / (2 * SIGMA**2))
    weights = torch.outer(g, g) / torch.outer(g, g).sum()  # (11, 11), sums to 1

    def mean(m: torch.Tensor) -> torch.Tensor:
        return (weights * m).sum()

    mu_x, mu_y = mean(x), mean(y)
    var_x = mean(x * x) - mu_x**2
    var_y = mean(y * y) - mu_y**2
    cov = mean(x * y) - mu_x * mu_y
    return ((2 * mu_x * mu_y + C1) * (2 * cov + C2)) / ((mu_x**2 + mu_y**2 + C1) * (var_x + var_y + C2))


def my_inductive_target(
    label: torch.Tensor, seen: tuple[int, ...], unseen: tuple[int, ...], ignore_index: int = 255
) -> torch.Tensor:
    """The inductive training target of a label map (docs/reference.md §6.3).

    Args:
        label: (H, W) integer class indices of the data set (0..K-1), and ignore_index.
        seen, unseen: the split's seen and unseen class indices (together 0..K-1).
        ignore_index: the label no loss sees.

    Returns:
        (H, W) long: a seen class becomes its channel, i.e. its position in ``seen`` (the decoder
        trains one channel per seen class); an unseen class becomes ignore_index (no mask of it is ever
        shown); ignore_index stays ignore_index. As sptseg_lib.data.splits.remap_for_training(label,
        split, "inductive").
    """
    target = torch.full_like(label, ignore_index, dtype=torch.long)
    for channel, cls in enumerate(seen):
        target[label == cls] = channel
    return target


def my_lr(
    step: int,
    lr: float,
    iterations: int,
    power: float,
    min_lr: float,
    warmup_iters: int,
    warmup_ratio: float,
) -> float:
    """The learning rate at one (0-based) step: poly decay with a linear warm-up (docs/reference.md §6.1).

    Args:
        step: the iteration, 0 <= step <= iterations.
        lr, iterations, power, min_lr: poly(t) = (lr - min_lr)(1 - t/T)^power + min_lr.
        warmup_iters, warmup_ratio: during the warm-up (t < warmup_iters) the rate is
            poly(t) · (1 - k) with k = (1 - t/warmup_iters)(1 - warmup_ratio), rising linearly from
            warmup_ratio · poly(0).

    Returns:
        The rate, a float: sptseg_lib.train.PolyWarmupSchedule(...).lr_at(step).
    """
    progress = min(step, iterations) / iterations
    rate = (lr - min_lr) * (1 - progress) ** power + min_lr
    if step < warmup_iters:
        k = (1 - step / warmup_iters) * (1 - warmup_ratio)
        rate = rate * (1 - k)
    return rate


def my_metrics(confusion: torch.Tensor, seen: tuple[int, ...], unseen: tuple[int, ...]) -> dict[str, float]:
    """Eq. 11 and the other metrics from a confusion matrix (docs/reference.md §6.1).

    Args:
        confusion: (K, K) pixel counts, confusion[label, prediction] (rows: the ground truth).
        seen, unseen: the split's class indices.

    Returns:
        {"pAcc", "mIoU_seen", "mIoU_unseen", "hIoU"}, in percent: pAcc = correct / all pixels;
        IoU_c = TP / (TP + FP + FN) = diagonal / (row sum + column sum - diagonal); a class whose union
        is empty (absent from labels and predictions) has no IoU and is left out of the means;
        hIoU = 2 S U / (S + U), the harmonic mean of mIoU(S) and mIoU(U).
    """
    m = confusion.double()
    tp = m.diagonal()
    union = m.sum(0) + m.sum(1) - tp
    iou = 100 * tp / union  # NaN where the union is empty (0 / 0)

    def nanmean(values: torch.Tensor) -> float:
        values = values[~torch.isnan(values)]
        return float(values.mean()) if len(values) else math.nan

    s, u = nanmean(iou[list(seen)]), nanmean(iou[list(unseen)])
    h = 0.0 if s + u == 0 else 2 * s * u / (s + u)
    return {"pAcc": float(100 * tp.sum() / m.sum()), "mIoU_seen": s, "mIoU_unseen": u, "hIoU": h}
