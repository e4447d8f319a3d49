"""Experiment configs: every row of Tables 1-4 is a preset, configs round-trip, overrides are checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sptseg_lib.config import (
    EXPERIMENT_PRESETS,
    MINIATURE_WORLDS,
    MODEL_PRESETS,
    PAPER_DEPTH,
    RUNTIME_FIELDS,
    TABLE_FAMILIES,
    TINY_CLIP_DEPTH,
    TINY_CLIP_NAME,
    ExperimentConfig,
    ModelConfig,
    TrainConfig,
    config_differences,
    experiment_preset,
    vision_depth,
)

ROOT = Path(__file__).resolve().parent.parent

TABLE_ROWS = {
    # Table 1 / Table 2: baseline, +SPT, +SGD, SPT-SEG
    "zegclip": dict(spt=False, sgd=False),
    "spt": dict(spt=True, sgd=False),
    "sgd": dict(spt=False, sgd=True),
    "sptseg": dict(spt=True, sgd=True, spt_layers=(0, 1), decoder_layers=3),
    # Table 3: SPT depth (paper layers are 1-based and inclusive)
    "sptseg-depth1-6": dict(spt_layers=(0, 1, 2, 3, 4, 5)),
    "sptseg-depth6-12": dict(spt_layers=(5, 6, 7, 8, 9, 10, 11)),
    "sptseg-depth1-12": dict(spt_layers=tuple(range(12))),
    "sptseg-depth11-12": dict(spt_layers=(10, 11)),
    "sptseg-depth1-2": dict(spt_layers=(0, 1)),
    # Table 4: decoder layers
    "sptseg-dec1": dict(decoder_layers=1),
    "sptseg-dec3": dict(decoder_layers=3),
    "sptseg-dec5": dict(decoder_layers=5),
}


@pytest.mark.parametrize("dataset", ["voc", "coco"])
@pytest.mark.parametrize("row", sorted(TABLE_ROWS))
def test_every_table_row_is_an_inductive_preset(dataset: str, row: str) -> None:
    exp = experiment_preset(f"{dataset}-{row}")
    for field, value in TABLE_ROWS[row].items():
        assert getattr(exp.model, field) == value, field
    assert exp.train.setting == "inductive"
    assert exp.model == MODEL_PRESETS[f"{dataset}-{row}"]
    assert exp.model.prompt_tokens == (10 if dataset == "voc" else 100)
    assert exp.data.dataset == ("voc" if dataset == "voc" else "coco_stuff")


def test_schedules_and_losses_follow_the_paper_and_zegclip() -> None:
    for name, exp in EXPERIMENT_PRESETS.items():
        t = exp.train
        if name.split("-", 1)[0] in MINIATURE_WORLDS:
            continue
        assert (t.lr, t.weight_decay, t.batch_size, t.warmup_iters, t.poly_power, t.min_lr) == (
            2e-4,
            0.01,
            16,
            1500,
            0.9,
            1e-6,
        )
        zegclip = "-zegclip" in name
        assert (t.focal_weight, t.dice_weight, t.ssim_weight) == ((100, 1, 0) if zegclip else (100, 0, 1)), (
            name
        )
        inductive = {"inductive": 1, "fully": 1, "transductive": 2}[t.setting]
        if name.startswith("voc"):
            assert t.iterations * inductive == 20_000
        else:
            assert t.iterations * inductive == (80_000 if zegclip else 96_000), name
            assert ("80,000" if zegclip else "96,000") in t.schedule or t.setting == "transductive"


def test_table1_transductive_and_fully_supervised_variants() -> None:
    for dataset in ("voc", "coco"):
        for method in ("zegclip", "sptseg"):
            base = experiment_preset(f"{dataset}-{method}")
            st = experiment_preset(f"{dataset}-{method}-transductive")
            fully = experiment_preset(f"{dataset}-{method}-fully")
            assert (st.train.setting, fully.train.setting) == ("transductive", "fully")
            assert st.model == base.model == fully.model
            assert st.train.iterations == base.train.iterations // 2
            assert f"iter_{base.train.iterations // 2:06d}.pt" in st.description


def test_every_preset_round_trips_through_json() -> None:
    for exp in EXPERIMENT_PRESETS.values():
        again = ExperimentConfig.from_dict(json.loads(exp.to_json()))
        assert again == exp and hash(again) == hash(exp)


def test_overrides_parse_values_and_reject_unknown_fields() -> None:
    exp = experiment_preset("voc-sptseg")
    changed = exp.with_overrides(["train.iterations=100", "model.spt_layers=[0,1,2]", "data.root=/data/x"])
    assert changed.train.iterations == 100 and changed.model.spt_layers == (0, 1, 2)
    assert changed.data.root == "/data/x"
    assert exp.train.iterations == 20_000, "presets are immutable"
    with pytest.raises(KeyError, match=r"unknown config field 'train\.iters'"):
        exp.with_overrides({"train.iters": 5})
    with pytest.raises(ValueError, match=r"section\.field=value"):
        exp.with_overrides(["train.iterations"])
    with pytest.raises(ValueError, match="micro_batch"):
        exp.with_overrides({"train.micro_batch": 17})


def test_differences_name_each_field_and_skip_runtime_fields() -> None:
    a = experiment_preset("voc-sptseg")
    b = a.with_overrides({"train.micro_batch": 4, "data.num_workers": 0, "train.lr": 1e-4})
    assert config_differences(a, b) == ["train.lr: 0.0002 != 0.0001"]
    assert {"train.micro_batch", "data.num_workers"} <= RUNTIME_FIELDS
    c = experiment_preset("voc-zegclip")
    diffs = config_differences(a, c)
    assert "model.spt: True != False" in diffs and "model.sgd: True != False" in diffs
    assert diffs[0] == "name: 'voc-sptseg' != 'voc-zegclip'"


def test_bad_values_and_unknown_presets_are_clear_errors() -> None:
    with pytest.raises(KeyError, match=r"unknown preset 'voc-spt-seg'.*voc-sptseg"):
        experiment_preset("voc-spt-seg")
    with pytest.raises(ValueError, match="setting"):
        TrainConfig(setting="semi")
    with pytest.raises(ValueError, match="amp"):
        TrainConfig(amp="fp8")


def test_every_table_family_has_every_row_on_its_data_set() -> None:
    for family, dataset in TABLE_FAMILIES.items():
        for row in TABLE_ROWS:
            assert experiment_preset(f"{family}-{row}").data.dataset == dataset


def _python(code: str) -> str:
    """``code`` run by a fresh interpreter in the repository root (its ``sptseg_lib``); its stdout."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout


def test_the_configs_import_without_torch_open_clip_or_numpy() -> None:
    loaded = _python(
        "import sys, sptseg_lib.config as c; c.experiment_preset('shapes-sptseg'); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'open_clip', 'numpy'}))"
    )
    assert loaded.strip() == "[]"


def test_vit_depths_read_from_the_files_match_open_clips_registry() -> None:
    """Without open_clip, every model config's depth is read from the JSON files; it must be what open_clip
    registers (with the project's configs added)."""
    mismatches = _python(
        "import sys\n"
        "from sptseg_lib.config.clip import MODEL_CONFIG_DIR, open_clip_config_dir, vision_depth\n"
        "names = [p.stem for d in (open_clip_config_dir(), MODEL_CONFIG_DIR) for p in d.glob('*.json')]\n"
        "from_files = {n: vision_depth(n) for n in [*names, 'no-such-model']}\n"
        "assert 'open_clip' not in sys.modules\n"
        "import open_clip, sptseg_lib.clip_loading\n"
        "assert set(open_clip.list_models()) <= set(names)\n"
        "layers = {n: (open_clip.get_model_config(n) or {}).get('vision_cfg', {}).get('layers') "
        "for n in from_files}\n"
        "registered = {n: d if isinstance(d, int) else None for n, d in layers.items()}\n"
        "print({n: (d, registered[n]) for n, d in from_files.items() if d != registered[n]})\n"
    )
    assert mismatches.strip() == "{}"
    assert vision_depth(TINY_CLIP_NAME) == TINY_CLIP_DEPTH and vision_depth("ViT-B-16") == PAPER_DEPTH


def test_spt_layers_beyond_the_vit_are_refused_when_the_config_is_made() -> None:
    with pytest.raises(
        ValueError, match=r"spt_layers \[12\] out of range: ViT-B-16's ViT has blocks 0\.\.11"
    ):
        ModelConfig(spt_layers=(12,))
    assert ModelConfig(spt=False, spt_layers=(12,)).spt_layers == (12,), "unused layers are not checked"
