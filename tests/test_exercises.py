"""The course's exercise checker (sptseg_lib.exercises).

Every reference solution passes its check (random inputs and real-like tensors) and agrees with the library;
planted wrong solutions, written here independently of the library's catalogue of mistakes (other code, the
same conceptual mistake), are rejected with the expected mistake id and a hint of their own; an unknown
mistake gets the generic hint; unattempted exercises, raising functions and stubs never raise; a broken
reference does, with ``solutions=True``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sptseg_lib import exercises
from sptseg_lib.config import TrainConfig
from sptseg_lib.data.shapes import ShapesDataset
from sptseg_lib.data.splits import SHAPES_SPLIT
from sptseg_lib.decoder import SpectralGate
from sptseg_lib.hilo import HiLoAttention
from sptseg_lib.losses import focal_loss
from sptseg_lib.metrics import ConfusionMatrix
from sptseg_lib.ssim import SIGMA, ssim_map

# --- real-like inputs, as a notebook would pass them ------


def _hilo_and_tokens() -> tuple[HiLoAttention, torch.Tensor, tuple[int, int]]:
    torch.manual_seed(1)
    hilo = HiLoAttention(32, num_heads=4, window_size=3, alpha=0.75, hifi_projection=False)
    grid = (5, 7)
    return hilo, torch.randn(1, 35, 32), grid


def _real(name: str) -> dict:
    torch.manual_seed(2)
    if name == "eq1":
        return dict(
            H=torch.randn(8, 8, 16), g=torch.randn(16), w_f=torch.randn(8, 5, 16, dtype=torch.complex64)
        )
    if name == "head_split":
        return dict(num_heads=8, alpha=0.9)
    if name == "lofi_query":
        hilo, x, grid = _hilo_and_tokens()
        return exercises.lofi_query_inputs(hilo, x, grid, query=(4, 6), head=1)
    if name == "gate":
        gate = SpectralGate(12)
        return dict(z=torch.randn(20, 12), xi=gate.xi, P=gate.P + 0.1 * torch.randn(12, 12))
    if name == "focal":
        return dict(logits=4 * torch.randn(64), targets=(torch.rand(64) > 0.7).float())
    if name == "ssim_window":
        x, y = torch.randn(16, 16), (torch.rand(16, 16) > 0.5).float()
        return exercises.ssim_window_inputs(x, y, (2, 9))
    if name == "inductive_target":
        scenes = ShapesDataset("train", size=32)
        index = next(i for i in range(100) if np.isin(scenes.scene(i).label, SHAPES_SPLIT.unseen).any())
        label = scenes.scene(index).label  # a numpy array with unseen pixels, as notebook 05 has it
        return dict(label=label, seen=SHAPES_SPLIT.seen, unseen=SHAPES_SPLIT.unseen)
    if name == "poly_lr":
        return dict(config=TrainConfig(iterations=300, warmup_iters=40, min_lr=1e-5))
    if name == "hiou":
        cm = ConfusionMatrix(20)
        cm.update(torch.randint(0, 20, (4000,)), torch.randint(0, 19, (4000,)))  # class 19 never labelled
        return dict(confusion=cm.matrix, seen=SHAPES_SPLIT.seen, unseen=SHAPES_SPLIT.unseen)
    raise KeyError(name)


NAMES = list(exercises.EXERCISES)


def test_every_notebook_01_to_07_has_an_exercise() -> None:
    assert {e.notebook for e in exercises.EXERCISES.values()} >= {f"0{i}" for i in range(1, 8)}
    assert len(NAMES) >= 9


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes_on_random_and_real_inputs(name: str, capsys: pytest.CaptureFixture) -> None:
    ex = exercises.EXERCISES[name]
    result = exercises.check(name, ex.solution, **_real(name))
    out = capsys.readouterr().out.strip().splitlines()
    assert result.passed and result.attempted and result.mistake is None, result
    assert out == [str(result)] and "passed" in out[0] and "this notebook's tensors" in out[0]
    assert exercises.check(name, lambda *a: None, solutions=True, **_real(name)).passed


# --- the reference against independent computations ------


def test_eq1_reference_matches_a_per_element_dft() -> None:
    """S[m, n, c] from the definition: the 2-D DFT of H ⊙ g at the kept frequencies, times w_f, and the
    inverse real transform of a half-spectrum (the DC column's real part, the others counted twice)."""
    h, w, c = 4, 5, 2
    H, g = torch.randn(h, w, c, dtype=torch.float64), torch.randn(c, dtype=torch.float64)
    w_f = torch.randn(h, w // 2 + 1, c, dtype=torch.complex128)
    x = (H * g).numpy()
    spectrum = np.zeros((h, w // 2 + 1, c), dtype=complex)
    for k in range(h):
        for l in range(w // 2 + 1):
            for m in range(h):
                for n in range(w):
                    spectrum[k, l] += x[m, n] * np.exp(-2j * np.pi * (k * m / h + l * n / w))
    filtered = spectrum / math.sqrt(h * w) * w_f.numpy()
    S = np.zeros((h, w, c))
    for m in range(h):
        for n in range(w):
            for l in range(w // 2 + 1):
                a = sum(filtered[k, l] * np.exp(2j * np.pi * k * m / h) for k in range(h))
                S[m, n] += (1 if l == 0 else 2) * (a * np.exp(2j * np.pi * l * n / w)).real
    S /= math.sqrt(h * w)
    mine = exercises.EXERCISES["eq1"].solution(H, g, w_f)
    assert np.allclose(mine.numpy(), S, atol=1e-10)


def test_lofi_inputs_give_the_layers_own_lofi_output() -> None:
    hilo, x, grid = _hilo_and_tokens()
    answers = [
        exercises.EXERCISES["lofi_query"].solution(**exercises.lofi_query_inputs(hilo, x, grid, (4, 6), head))
        for head in range(hilo.l_heads)
    ]
    with torch.no_grad():
        lofi = hilo.l_proj(torch.cat(answers))
        z = hilo(x, grid)[0, 4 * grid[1] + 6]
    assert torch.allclose(lofi, z[hilo.h_dim :], atol=1e-5)


def test_focal_mean_is_the_library_focal_loss_of_one_pair() -> None:
    real = _real("focal")
    per_pixel = exercises.EXERCISES["focal"].solution(**real)
    library = focal_loss(
        real["logits"].reshape(1, 1, 8, 8), real["targets"].reshape(1, 1, 8, 8), num_masks=1.0
    )
    assert torch.allclose(per_pixel.mean(), library, atol=1e-6)


def test_ssim_window_is_ssim_map_at_a_pixel_with_the_papers_window() -> None:
    x, y = torch.randn(16, 16, dtype=torch.float64), torch.rand(16, 16, dtype=torch.float64)
    for pixel in ((0, 0), (7, 8), (15, 3)):
        window = exercises.ssim_window_inputs(x, y, pixel)
        value = exercises.EXERCISES["ssim_window"].solution(window["x"].double(), window["y"].double())
        assert (
            abs(float(value) - float(ssim_map(x[None, None], y[None, None])[0, 0, pixel[0], pixel[1]])) < 1e-6
        )
    assert SIGMA == 1.5


# --- planted wrong solutions, independent of the catalogue ------


def _np_eq1(H, g, w_f, use_g=True, inverse_norm="ortho"):
    x = (H * g if use_g else H).numpy()
    spectrum = np.fft.rfft2(x, axes=(0, 1), norm="ortho") * w_f.numpy()
    return torch.from_numpy(np.fft.irfft2(spectrum, s=H.shape[:2], axes=(0, 1), norm=inverse_norm))


def _blocks(x, ws, reduce, pad=True, real_only=False):
    """The ws x ws blocks of an (h, w, D) grid, reduced to one token each, by loops."""
    h, w, dim = x.shape
    rows = range(0, h, ws) if pad else range(0, h - ws + 1, ws)
    cols = range(0, w, ws) if pad else range(0, w - ws + 1, ws)
    tokens = []
    for r in rows:
        for c in cols:
            block = torch.zeros(ws, ws, dim)
            part = x[r : r + ws, c : c + ws]
            block[: part.shape[0], : part.shape[1]] = part
            cells = part.reshape(-1, dim) if real_only else block.reshape(-1, dim)
            tokens.append(reduce(cells))
    return torch.stack(tokens)


def _attend(q, tokens, w_k, w_v, scale=True):
    scores = torch.einsum("d,md->m", q, tokens @ w_k)
    if scale:
        scores = scores * q.numel() ** -0.5
    return torch.einsum("m,md->d", scores.softmax(0), tokens @ w_v)


def _gate_parts(z, xi):
    return F.cosine_similarity(z, xi.expand_as(z), dim=1)


def _np_focal(logits, targets, alpha, gamma, weights="paper", focus_on="p_t"):
    x, t = logits.double(), targets.double()
    bce = -(t * F.logsigmoid(x) + (1 - t) * F.logsigmoid(-x))
    p = x.sigmoid()
    p_t = torch.where(t == 1, p, 1 - p)
    a = torch.where(t == 1, alpha, 1 - alpha) if weights == "paper" else torch.full_like(x, alpha)
    return a * (1 - (p_t if focus_on == "p_t" else p)) ** gamma * bce


def _np_ssim(x, y, window="gauss", constants=True, centred=True):
    k = np.arange(11) - 5
    g = np.exp(-(k**2) / (2 * 1.5**2))
    weights = np.outer(g, g) / np.outer(g, g).sum() if window == "gauss" else np.full((11, 11), 1 / 121)
    x, y = x.double().numpy(), y.double().numpy()
    mx, my = (weights * x).sum(), (weights * y).sum()
    c = 1.0 if centred else 0.0
    vx, vy = (weights * x**2).sum() - c * mx**2, (weights * y**2).sum() - c * my**2
    cov = (weights * x * y).sum() - c * mx * my
    c1, c2 = (1e-4, 9e-4) if constants else (0.0, 0.0)
    return float((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))


def _np_target(label, seen, unseen, ignore_index=255, unseen_value=None, renumber=True):
    lab = label.numpy()
    out = np.full_like(lab, ignore_index)
    for i, c in enumerate(seen):
        out[lab == c] = i if renumber else c
    if unseen_value is not None:
        out[np.isin(lab, unseen)] = unseen_value
    return torch.from_numpy(out)


def _lr(step, lr, iterations, power, min_lr, warmup_iters, warmup_ratio, warm=True, decay="poly", base=False):
    frac = step / iterations
    if decay == "poly":
        value = min_lr + (lr - min_lr) * math.pow(1 - frac, power)
    elif decay == "plus":
        value = lr * math.pow(1 - frac, power) + min_lr
    else:
        value = min_lr + (lr - min_lr) * (1 - frac)
    if warm and step < warmup_iters:
        start = warmup_ratio + (1 - warmup_ratio) * step / warmup_iters  # the factor 1 - k, linear in step
        value = (lr if base else value) * start
    return value


def _np_metrics(
    confusion, seen, unseen, score="iou", mean="harmonic", absent="nan", scale=100.0, pooled=False
):
    m = confusion.numpy().astype(float)
    tp = np.diag(m)
    denom = m.sum(1) if score == "recall" else m.sum(0) + m.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = scale * tp / denom
    if absent == "zero":
        iou = np.nan_to_num(iou)
    s = np.nanmean(iou) if pooled else np.nanmean(iou[list(seen)])
    u = np.nanmean(iou) if pooled else np.nanmean(iou[list(unseen)])
    h = (s + u) / 2 if mean == "arithmetic" else 2 * s * u / (s + u)
    return {"pAcc": scale * tp.sum() / m.sum(), "mIoU_seen": s, "mIoU_unseen": u, "hIoU": h}


PLANTED = {
    "eq1": [
        (
            "fft_axes",
            lambda H, g, w_f: torch.fft.irfft2(torch.fft.rfft2(H * g, norm="ortho") * w_f, norm="ortho"),
        ),
        (
            "full_fft",
            lambda H, g, w_f: torch.fft.ifftn(torch.fft.fftn(H * g, dim=[0, 1]) * w_f, dim=[0, 1]).real,
        ),
        ("no_class_token", lambda H, g, w_f: _np_eq1(H, g, w_f, use_g=False)),
        ("fft_norm", lambda H, g, w_f: _np_eq1(H, g, w_f, inverse_norm="backward")),
        (
            "filter_not_complex",
            lambda H, g, w_f: torch.fft.irfft2(
                torch.fft.rfft2(H * g, dim=(0, 1)) * w_f.real, s=H.shape[:2], dim=(0, 1)
            ),
        ),
        (
            "irfft_size",
            lambda H, g, w_f: torch.fft.irfftn(
                torch.fft.rfftn(H * g, dim=(0, 1), norm="ortho") * w_f, dim=(0, 1), norm="ortho"
            ),
        ),
    ],
    "head_split": [
        ("paper_split", lambda n, a: (math.floor(a * n), n - math.floor(a * n))),
        ("rounding", lambda n, a: (n - int(n * a + 0.5), int(n * a + 0.5))),
    ],
    "lofi_query": [
        (
            "no_scale",
            lambda q, x, w_k, w_v, ws: _attend(q, _blocks(x, ws, lambda t: t.mean(0)), w_k, w_v, scale=False),
        ),
        (
            "max_pool",
            lambda q, x, w_k, w_v, ws: _attend(q, _blocks(x, ws, lambda t: t.max(0).values), w_k, w_v),
        ),
        (
            "padding_excluded",
            lambda q, x, w_k, w_v, ws: _attend(
                q, _blocks(x, ws, lambda t: t.mean(0), real_only=True), w_k, w_v
            ),
        ),
        (
            "no_padding",
            lambda q, x, w_k, w_v, ws: _attend(q, _blocks(x, ws, lambda t: t.mean(0), pad=False), w_k, w_v),
        ),
        ("no_pooling", lambda q, x, w_k, w_v, ws: _attend(q, x.reshape(-1, x.shape[-1]), w_k, w_v)),
    ],
    "gate": [
        ("no_clamp", lambda z, xi, P: _gate_parts(z, xi)[:, None] * z @ P),
        ("P_transposed", lambda z, xi, P: (P @ (_gate_parts(z, xi).clamp(min=0, max=1)[:, None] * z).T).T),
        ("sigmoid", lambda z, xi, P: torch.sigmoid(_gate_parts(z, xi))[:, None] * z @ P),
        ("dot_product", lambda z, xi, P: torch.einsum("nd,d->n", z, xi).clamp(0, 1)[:, None] * z @ P),
    ],
    "focal": [
        ("alpha_for_negatives", lambda x, t, a=0.25, g=2.0: _np_focal(x, t, a, g, weights="same")),
        ("focus_on_p", lambda x, t, a=0.25, g=2.0: _np_focal(x, t, a, g, focus_on="p")),
        ("alpha_gamma_swapped", lambda x, t, a=0.25, g=2.0: _np_focal(x, t, g, a)),
        ("no_sigmoid", lambda x, t, a=0.25, g=2.0: F.binary_cross_entropy(x, t, reduction="none")),
    ],
    "ssim_window": [
        ("no_constants", lambda x, y: _np_ssim(x, y, constants=False)),
        ("uniform_window", lambda x, y: _np_ssim(x, y, window="uniform")),
        ("not_centred", lambda x, y: _np_ssim(x, y, centred=False)),
    ],
    "inductive_target": [
        ("unseen_not_ignored", lambda lab, s, u, ig=255: _np_target(lab, s, u, ig, unseen_value=0)),
        ("not_renumbered", lambda lab, s, u, ig=255: _np_target(lab, s, u, ig, renumber=False)),
        (
            "ignore_remapped",
            lambda lab, s, u, ig=255: torch.where(lab == ig, 0, _np_target(lab, s, u, ig)),
        ),
    ],
    "poly_lr": [
        ("no_warmup", lambda *a: _lr(*a, warm=False)),
        ("min_lr_added", lambda *a: _lr(*a, decay="plus")),
        ("linear_decay", lambda *a: _lr(*a, decay="linear")),
        ("warmup_of_base_lr", lambda *a: _lr(*a, base=True)),
    ],
    "hiou": [
        ("recall", lambda c, s, u: _np_metrics(c, s, u, score="recall")),
        ("arithmetic_mean", lambda c, s, u: _np_metrics(c, s, u, mean="arithmetic")),
        ("fractions", lambda c, s, u: _np_metrics(c, s, u, scale=1.0)),
        ("absent_as_zero", lambda c, s, u: _np_metrics(c, s, u, absent="zero")),
        ("mean_over_all", lambda c, s, u: _np_metrics(c, s, u, pooled=True)),
    ],
}


@pytest.mark.parametrize("name", NAMES)
def test_planted_mistakes_are_named(name: str, capsys: pytest.CaptureFixture) -> None:
    planted = PLANTED[name]
    assert len({m for m, _ in planted}) >= 2
    hints = {}
    for expected_id, wrong in planted:
        result = exercises.check(name, wrong, **_real(name))
        assert result.attempted and not result.passed, (expected_id, result)
        assert result.mistake == expected_id, (expected_id, str(result))
        assert result.hint in str(result) and f"show_solution('{name}')" in str(result)
        hints[expected_id] = result.hint
    assert len(set(hints.values())) == len(hints)  # each mistake has its own hint
    capsys.readouterr()


UNKNOWN = {
    "eq1": lambda H, g, w_f: H * g,
    "gate": lambda z, xi, P: z @ P,
    "hiou": lambda c, s, u: {**_np_metrics(c, s, u), "pAcc": 50.0},
    "poly_lr": lambda step, lr, *rest: lr / (1 + step),
}


@pytest.mark.parametrize("name", list(UNKNOWN))
def test_an_unknown_mistake_gets_the_generic_hint(name: str) -> None:
    result = exercises.check(name, UNKNOWN[name], **_real(name))
    assert not result.passed and result.mistake == "unknown", str(result)
    assert "common mistakes" in result.hint
    assert all(m.summary in result.hint for m in exercises.EXERCISES[name].mistakes)


def test_a_constant_factor_and_a_transpose_are_diagnosed() -> None:
    solution = exercises.EXERCISES["eq1"].solution
    scaled = exercises.check("eq1", lambda H, g, w_f: 3 * solution(H, g, w_f))
    assert scaled.mistake == "scale" and "factor of 3" in scaled.hint
    gate = exercises.EXERCISES["gate"].solution
    square = dict(z=torch.randn(6, 6), xi=torch.randn(6), P=torch.randn(6, 6))
    transposed = exercises.core.evaluate(
        exercises.EXERCISES["gate"], lambda z, xi, P: gate(z, xi, P).T, [square], seed=0
    )
    assert transposed.mistake in ("shape", "transposed")


def test_correct_solutions_written_otherwise_pass(capsys: pytest.CaptureFixture) -> None:
    """Another order of operations (numpy, float64; loops) on large real tokens still passes."""
    real = _real("eq1")
    real["H"] = 50 * real["H"]
    assert exercises.check("eq1", lambda H, g, w_f: _np_eq1(H, g, w_f), **real).passed
    lofi = lambda q, x, w_k, w_v, ws: _attend(q, _blocks(x, ws, lambda t: t.mean(0)), w_k, w_v)  # noqa: E731
    assert exercises.check("lofi_query", lofi, **_real("lofi_query")).passed
    assert exercises.check("ssim_window", lambda x, y: _np_ssim(x, y), **_real("ssim_window")).passed
    assert exercises.check("hiou", lambda c, s, u: _np_metrics(c, s, u), **_real("hiou")).passed
    assert exercises.check("poly_lr", _lr, **_real("poly_lr")).passed
    assert exercises.check(
        "focal", lambda x, t, a=0.25, g=2.0: _np_focal(x, t, a, g), **_real("focal")
    ).passed
    target = lambda lab, s, u, ig=255: _np_target(lab, s, u, ig)  # noqa: E731
    assert exercises.check("inductive_target", target, **_real("inductive_target")).passed
    capsys.readouterr()


# --- unattempted, raising, broken references, stubs ------


def _stub(*args):
    raise NotImplementedError  # your code here


@pytest.mark.parametrize("fn", [None, _stub, lambda *a: None, lambda *a: ...])
def test_unattempted_prints_one_line_and_never_raises(fn, capsys: pytest.CaptureFixture) -> None:
    result = exercises.check("eq1", fn, **_real("eq1"))
    lines = capsys.readouterr().out.strip().splitlines()
    assert not result.attempted and not result.passed
    assert lines == [
        "Exercise eq1 not attempted yet: write `my_spectral_prompt` above, then run this cell again."
    ]


def test_a_raising_function_is_reported_not_raised(capsys: pytest.CaptureFixture) -> None:
    def bad_gate(z, xi, P):
        return (z @ xi[:, None]) @ P.T[:2]  # a shape error

    result = exercises.check("gate", bad_gate)
    assert result.attempted and not result.passed and result.mistake == "shape_error"
    assert "RuntimeError" in str(result) and "z is (N, D)" in result.hint

    def broken(z, xi, P):
        raise KeyError("oops")

    assert exercises.check("gate", broken).mistake == "exception"
    capsys.readouterr()


def test_a_check_is_printed_once_and_names_a_non_function(capsys: pytest.CaptureFixture) -> None:
    result = exercises.check("head_split", lambda n, a: (n - int(n * a), int(n * a)))
    result._ipython_display_()  # the cell's automatic display right after check: already printed
    assert capsys.readouterr().out.splitlines() == [str(result)]
    result._ipython_display_()  # displayed again later: shown
    assert capsys.readouterr().out.splitlines() == [str(result)]
    value = exercises.check("head_split", (1, 7))
    assert value.attempted and not value.passed and value.mistake == "not_callable"
    capsys.readouterr()


ODD_OUTPUTS = [
    lambda *a: "text",
    lambda *a: {"a": 1},
    lambda *a: [1, 2],
    lambda *a: (torch.zeros(2), 1),
    lambda *a: torch.zeros(3, dtype=torch.complex64),
    lambda *a: float("nan"),
    lambda *a: (x for x in range(3)),
    lambda *a: torch.zeros(0),
    lambda *a: 1 / 0,
    lambda *a: a[0],
]


@pytest.mark.parametrize("name", NAMES)
def test_odd_outputs_are_reported_never_raised(name: str, capsys: pytest.CaptureFixture) -> None:
    for fn in ODD_OUTPUTS:
        result = exercises.check(name, fn)
        assert result.attempted and not result.passed and result.mistake, result
    capsys.readouterr()


def test_a_broken_reference_raises_with_solutions(monkeypatch: pytest.MonkeyPatch) -> None:
    ex = exercises.EXERCISES["gate"]
    broken = dataclasses.replace(ex, solution=PLANTED["gate"][0][1])
    monkeypatch.setitem(exercises.EXERCISES, "gate", broken)
    with pytest.raises(AssertionError, match="reference solution"):
        exercises.check("gate", None, solutions=True)


@pytest.mark.parametrize("name", NAMES)
def test_stub_compiles_and_is_unattempted(name: str, capsys: pytest.CaptureFixture) -> None:
    ex = exercises.EXERCISES[name]
    source = exercises.stub_source(name)
    assert (
        source.startswith(f"def {ex.function}(") and "raise NotImplementedError  # your code here" in source
    )
    namespace: dict = {"torch": torch}
    exec(compile(source, f"<stub {name}>", "exec"), namespace)
    result = exercises.check(name, namespace[ex.function])
    assert not result.attempted and not result.passed
    exercises.show_solution(name)
    assert f"def {ex.function}(" in capsys.readouterr().out


def test_real_inputs_must_be_named_like_the_parameters() -> None:
    with pytest.raises(TypeError, match="unknown argument"):
        exercises.check("gate", None, tokens=torch.zeros(2, 2))
