"""The config types: :class:`ModelConfig`, :class:`DataConfig`, :class:`TrainConfig` and the
:class:`ExperimentConfig` that joins them, with their validation, dict/JSON forms and dotted overrides.

Every departure of the reference code from the paper is a field here, with the reference behaviour as the
default and the alternative documented next to it (see ``docs/reference.md``). The named presets built from
these types live in :mod:`sptseg_lib.config.presets`.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .clip import vision_depth
from .overrides import _coerce, _example, _parse_assignment, _type_name

SptGridMode = Literal["error", "interpolate"]
GateInit = Literal["randn", "first_batch"]


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines an SPT-SEG (or ZegCLIP) network.

    Both ``spt`` and ``sgd`` off gives the ZegCLIP baseline.
    """

    # --- CLIP -------------------------------------------------------------------------------
    clip_model: str = "ViT-B-16"
    """open_clip model config name (``ViT-B-16``, or the tiny config the package registers)."""
    pretrained: str | None = "openai"
    """open_clip hub tag (``openai``), a local checkpoint path, or ``None`` for random weights."""
    image_size: int = 512
    """Training crop / sliding-window size in pixels; sets the token grid the spectral filter is built for."""

    # --- deep visual prompt tuning (docs/reference.md §2.1) ---------------------------------
    prompt_tokens: int = 10
    """Learnable prompt tokens per layer: 10 for VOC, 100 for COCO-Stuff. 0 disables VPT."""
    prompt_dropout: float = 0.1
    cls_token_quirk: bool = True
    """Reference quirk: the class token entering ``ln_pre`` is ``2*class_embedding + pos[0]``
    (OpenAI CLIP: ``class_embedding + pos[0]``). ``False`` gives CLIP's own class token."""

    # --- spectral prompt tuning (eq. 1-3, docs/reference.md §1) -------------------------------
    spt: bool = True
    spt_layers: tuple[int, ...] = (0, 1)
    """0-based indices of the transformer blocks whose *input* patch tokens get S added.
    The paper's "layers 1-2" are blocks (0, 1)."""
    spt_shared_filter: bool = True
    """One filter w_f shared by all SPT layers (reference code) or one per layer (the paper's w_f^l)."""
    spt_filter_init_std: float = 0.02
    spt_grid_mode: SptGridMode = "error"
    """A token grid the filter was not built for: ``error`` (reference: 32x32 only) or ``interpolate``
    (the filter's real and imaginary parts are resized bilinearly over the frequency grid)."""

    # --- decoder (eq. 7-9, docs/reference.md §3) -----------------------------------------------
    sgd: bool = True
    """Spectral Guided Decoder layers (HiLo + gate) instead of ZegCLIP's cross-attention layers."""
    decoder_layers: int = 3
    decoder_heads: int = 8
    decoder_ffn_dim: int = 2048
    decoder_dropout: float = 0.1
    hilo_window: int = 3
    hilo_alpha: float = 0.9
    hilo_hifi_projection: bool = False
    """LITv2 applies ``h_proj`` to the Hi-Fi output; the SPT code defines it but does not apply it."""
    gate_init: GateInit = "randn"
    """The eq. 7 gate's direction ``xi`` at the start of training: ``randn`` (``N(0, 1)``, the reference)
    or ``first_batch`` (each SGD layer's ``xi`` turned towards the mean direction of its HiLo output on
    the first training batch, so that the gate cannot start closed on every token; see
    :meth:`sptseg_lib.decoder.MaskDecoder.initialise_gates` and ``data/miniature/spread/README.md``)."""

    # --- text side ---------------------------------------------------------------------------
    templates: str = "voc"
    """Prompt-template set for class-name embeddings: ``voc`` (one template) or ``coco`` (15)."""

    # --- inference ---------------------------------------------------------------------------
    seen_penalty: float = 0.1
    """Subtracted from seen-class sigmoid scores at inference in the inductive setting."""

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def __post_init__(self) -> None:
        if self.prompt_tokens < 0:
            raise ValueError(f"prompt_tokens must be >= 0, got {self.prompt_tokens}")
        if self.decoder_layers < 1:
            raise ValueError(f"decoder_layers must be >= 1, got {self.decoder_layers}")
        if not 0.0 <= self.hilo_alpha <= 1.0:
            raise ValueError(f"hilo_alpha must lie in [0, 1], got {self.hilo_alpha}")
        if self.spt_grid_mode not in ("error", "interpolate"):
            raise ValueError(f"spt_grid_mode must be 'error' or 'interpolate', got {self.spt_grid_mode!r}")
        if self.gate_init not in ("randn", "first_batch"):
            raise ValueError(f"gate_init must be 'randn' or 'first_batch', got {self.gate_init!r}")
        if self.templates not in ("voc", "coco"):
            raise ValueError(f"templates must be 'voc' or 'coco', got {self.templates!r}")
        if self.spt and not self.spt_layers:
            raise ValueError("spt=True needs at least one layer in spt_layers")
        if any(i < 0 for i in self.spt_layers):
            raise ValueError(f"spt_layers are 0-based block indices, got {self.spt_layers}")
        depth = vision_depth(self.clip_model)
        if depth is not None and self.spt and any(i >= depth for i in self.spt_layers):
            raise ValueError(
                f"spt_layers {list(self.spt_layers)} out of range: {self.clip_model}'s ViT has blocks "
                f"0..{depth - 1} (0-based; the paper's layers 1-2 are [0,1])"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- experiments: data + schedule + model, the unit the trainer, the CLI and the notebooks consume ---

Setting = Literal["inductive", "transductive", "fully"]
AmpMode = Literal["auto", "bf16", "fp16", "off"]
TestMode = Literal["slide", "whole"]


@dataclass(frozen=True)
class DataConfig:
    """Which data set, where it lives, and how images are cropped for training and tiled for testing."""

    dataset: str = "voc"
    """Split name for :func:`sptseg_lib.data.splits.get_split` (``voc``, ``coco_stuff``, ``shapes``,
    ``stripes``, ``fabrics``)."""
    root: str | None = None
    """Data root; ``None`` means ``$SPTSEG_DATA`` (resolved by ``data.paths.resolve_data_root``)."""
    crop_size: int = 512
    """Training crop (reference: 512, ``RandomCrop(cat_max_ratio=0.75)`` after a 0.5-2.0 rescale)."""
    test_mode: TestMode = "slide"
    """``slide``: 512 windows at stride 426, logits averaged (reference); ``whole``: one forward."""
    test_stride: int = 426
    num_workers: int | None = None
    """Training DataLoader workers; ``None``: what this machine allows, ``min(4, CPUs of this process - 1)``
    (resolved by :func:`sptseg_lib.train.default_num_workers`)."""

    def __post_init__(self) -> None:
        if self.test_mode not in ("slide", "whole"):
            raise ValueError(f"test_mode must be 'slide' or 'whole', got {self.test_mode!r}")
        if self.crop_size < 1 or self.test_stride < 1 or (self.num_workers or 0) < 0:
            raise ValueError("crop_size and test_stride must be >= 1, num_workers >= 0 (or None: automatic)")
        if self.test_stride > self.crop_size:
            raise ValueError(
                f"test_stride {self.test_stride} exceeds crop_size {self.crop_size}: sliding windows would "
                "skip pixels; set data.test_stride <= data.crop_size (reference: 426 for 512)"
            )


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation recipe (docs/reference.md §2.2 and §6.1) and the runtime knobs.

    Fields named in :data:`RUNTIME_FIELDS` may differ when a run is resumed (other hardware, other
    number of processes); every other field must match the checkpoint exactly.
    """

    setting: Setting = "inductive"
    """``inductive`` (seen names only), ``transductive`` (ZegCLIP self-training on unseen pixels) or
    ``fully`` (every class supervised: Table 1's asterisk rows)."""
    iterations: int = 20_000
    batch_size: int = 16
    """Global (effective) batch: micro_batch x processes x accumulation steps."""
    micro_batch: int | None = None
    """Images per process per forward; ``None`` = ``batch_size / world_size`` (no accumulation)."""
    lr: float = 2e-4
    """Reference: lr 2e-5 with lr_mult 10 on every trainable group = 2e-4 (docs/reference.md §2.2)."""
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_iters: int = 1500
    warmup_ratio: float = 1e-6
    poly_power: float = 0.9
    min_lr: float = 1e-6
    focal_weight: float = 100.0
    ssim_weight: float = 1.0
    dice_weight: float = 0.0
    seed: int = 0
    init_from: str | None = None
    """A checkpoint whose trained parameters start this run (model configs must match); the
    transductive presets start from the inductive run's checkpoint at half its schedule."""
    schedule: str = "paper: 20,000 iterations (VOC)"
    """Where the iteration count comes from, in words (logged and written to every report)."""
    amp: AmpMode = "auto"
    """``auto``: bf16 autocast on GPUs with native bf16, fp16 + a gradient scaler on older GPUs (T4), fp32
    on the CPU and MPS; ``bf16``; ``fp16``; ``off`` (:mod:`sptseg_lib.amp`)."""
    compile: bool = False
    """Opt-in ``torch.compile`` of the model."""
    checkpoint_every: int = 2000
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.setting not in ("inductive", "transductive", "fully"):
            raise ValueError(f"setting must be inductive, transductive or fully, got {self.setting!r}")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise ValueError(f"amp must be 'auto', 'bf16', 'fp16' or 'off', got {self.amp!r}")
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError("iterations and batch_size must be >= 1")
        if self.micro_batch is not None and not 1 <= self.micro_batch <= self.batch_size:
            raise ValueError(
                f"micro_batch must lie in [1, batch_size={self.batch_size}], got {self.micro_batch}"
            )
        if self.warmup_iters < 0 or not 0.0 < self.warmup_ratio <= 1.0:
            raise ValueError("warmup_iters must be >= 0 and warmup_ratio in (0, 1]")
        if self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError("checkpoint_every and log_every must be >= 1")


_SECTIONS: dict[type, str] = {ModelConfig: "model", DataConfig: "data", TrainConfig: "train"}
"""Config class -> its section name in dotted overrides and messages."""

RUNTIME_FIELDS: frozenset[str] = frozenset(
    {
        "data.root",
        "data.num_workers",
        "data.test_mode",
        "data.test_stride",
        "train.micro_batch",
        "train.amp",
        "train.compile",
        "train.checkpoint_every",
        "train.log_every",
        "train.init_from",
    }
)
"""Fields that do not change what is learned (hardware, logging, paths): ignored when resuming.
``micro_batch`` changes only how the fixed global batch is split, not the update."""


@dataclass(frozen=True)
class ExperimentConfig:
    """One row of a table: a model, the data it trains on, and the schedule."""

    name: str
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExperimentConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        return cls(
            name=d["name"],
            model=_build(ModelConfig, d.get("model", {})),
            data=_build(DataConfig, d.get("data", {})),
            train=_build(TrainConfig, d.get("train", {})),
            description=d.get("description", ""),
        )

    def with_overrides(self, overrides: dict[str, Any] | list[str]) -> ExperimentConfig:
        """A copy with dotted fields changed: ``{"train.iterations": 100}`` or ``["train.iterations=100"]``.

        String values are parsed as JSON where possible (``100``, ``true``, ``[0, 1]``), else kept as text.
        """
        if isinstance(overrides, list):
            overrides = dict(_parse_assignment(a) for a in overrides)
        d = self.to_dict()
        for key, value in overrides.items():
            section, _, name = key.partition(".")
            if name and section in ("model", "data", "train") and name in d[section]:
                d[section][name] = value
            elif not name and key in ("name", "description"):
                d[key] = value
            else:
                raise KeyError(
                    f"unknown config field {key!r}; use section.field with a section of model, data, "
                    f"train (e.g. train.iterations)"
                )
        return ExperimentConfig.from_dict(d)

    def shortened(self, iterations: int) -> ExperimentConfig:
        """The same recipe compressed to ``iterations`` (a demo, a notebook's smoke run, a study's budget).

        The warm-up keeps its share of the schedule (``round(warmup_iters * iterations / preset's)``), a
        checkpoint is written at least at the end, and about 20 log records cover the run. The poly decay
        follows from ``train.iterations`` itself. ``iterations`` equal to the preset's returns it unchanged.
        """
        t = self.train
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if iterations == t.iterations:
            return self
        return self.with_overrides(
            {
                "train.iterations": iterations,
                "train.warmup_iters": round(t.warmup_iters * iterations / t.iterations),
                "train.checkpoint_every": min(iterations, t.checkpoint_every),
                "train.log_every": max(1, min(t.log_every, iterations // 20)),
            }
        )


def _build(cls: type, values: dict[str, Any]) -> Any:
    """``cls(**values)`` after checking every value against the field's type; a wrong type or value is a
    ``ValueError`` naming the dotted field, the expected type and an example (``--set`` messages)."""
    section = _SECTIONS[cls]
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(hints))
    if unknown:
        known = ", ".join(f"{section}.{n}" for n in hints)
        raise KeyError(
            f"unknown config field(s) {[f'{section}.{n}' for n in unknown]}; {section} has {known}"
        )
    kwargs = {}
    for key, value in values.items():
        try:
            kwargs[key] = _coerce(hints[key], value)
        except TypeError:
            example = _example(fields[key], hints[key])
            raise ValueError(
                f"{section}.{key} expects {_type_name(hints[key])} (e.g. --set {section}.{key}={example}), "
                f"got {value!r}"
            ) from None
    try:
        return cls(**kwargs)
    except ValueError as err:
        raise ValueError(f"{section}: {err}") from None


def config_differences(
    a: ExperimentConfig, b: ExperimentConfig, *, ignore: frozenset[str] = RUNTIME_FIELDS
) -> list[str]:
    """Human-readable ``section.field: a != b`` lines for every differing field outside ``ignore``."""
    da, db = a.to_dict(), b.to_dict()
    out = []
    if "name" not in ignore and da["name"] != db["name"]:
        out.append(f"name: {da['name']!r} != {db['name']!r}")
    for section in ("model", "data", "train"):
        for name in sorted(set(da[section]) | set(db[section])):
            dotted = f"{section}.{name}"
            va, vb = da[section].get(name), db[section].get(name)
            if dotted not in ignore and va != vb:
                out.append(f"{dotted}: {va!r} != {vb!r}")
    return out


def load_experiment_json(path: str | Path) -> ExperimentConfig:
    """The :class:`ExperimentConfig` a JSON file (a run's ``config.json``) holds."""
    return ExperimentConfig.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


__all__ = [
    "RUNTIME_FIELDS",
    "AmpMode",
    "DataConfig",
    "ExperimentConfig",
    "GateInit",
    "ModelConfig",
    "Setting",
    "SptGridMode",
    "TestMode",
    "TrainConfig",
    "config_differences",
    "load_experiment_json",
]
