"""Tests of the synthetic shapes world: determinism, exact masks, class coverage, the zero-shot split."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.path import Path as MplPath

from sptseg_lib.data.shapes import (
    CLASS_NAMES,
    COLOURS,
    FABRICS_WORLD,
    NUM_OBJECT_CLASSES,
    OBJECT_CLASSES,
    SHAPE_TEXTURE,
    SHAPES,
    SHAPES_SPLIT,
    SHAPES_WORLD,
    STRIPE_TEXTURE,
    STRIPES_WORLD,
    STUFF,
    ShapesDataset,
    class_attributes,
    get_world,
    object_texture,
    render_scene,
    render_single_object,
    shape_mask,
    stripe_frequency_bins,
)
from sptseg_lib.data.splits import ZeroShotSplit
from sptseg_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD


def test_generator_is_deterministic_by_seed() -> None:
    a = render_scene(np.random.default_rng(7))
    b = render_scene(np.random.default_rng(7))
    c = render_scene(np.random.default_rng(8))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label) and a.objects == b.objects
    assert not np.array_equal(a.image, c.image)
    ds = ShapesDataset("val")
    x, y = ds[3], ds[3]
    assert torch.equal(x["image"], y["image"]) and torch.equal(x["label"], y["label"])


def test_splits_are_distinct_fixed_sets() -> None:
    val, test, train = ShapesDataset("val"), ShapesDataset("test"), ShapesDataset("train")
    assert len(val) == len(test) == 200
    assert not np.array_equal(val.scene(0).image, test.scene(0).image)
    assert not np.array_equal(val.scene(0).image, train.scene(0).image)
    assert train.scene(10**7).image.shape == (64, 64, 3)  # the training stream has no end
    with pytest.raises(ValueError, match="unknown split"):
        ShapesDataset("validation")
    with pytest.raises(IndexError):
        val[200]


def test_item_format_and_normalisation() -> None:
    ds = ShapesDataset("val")
    item, scene = ds[5], ds.scene(5)
    assert set(item) == {"image", "label", "name"}
    assert item["image"].dtype == torch.float32 and item["image"].shape == (3, 64, 64)
    assert item["label"].dtype == torch.int64 and item["label"].shape == (64, 64)
    assert isinstance(item["name"], str)
    # Per pixel, per channel: (value - mean) / std on 0-255, channel-first.
    for ch in range(3):
        expected = (scene.image[..., ch].astype(np.float64) - IMAGENET_MEAN[ch]) / IMAGENET_STD[ch]
        np.testing.assert_allclose(item["image"][ch].numpy(), expected, rtol=1e-5, atol=1e-5)
    assert np.array_equal(item["label"].numpy(), scene.label)


@pytest.mark.parametrize("shape", ["square", "triangle", "star"])
def test_polygon_masks_match_matplotlib(shape: str) -> None:
    """Our even-odd rasteriser against matplotlib's point-in-polygon at pixel centres."""
    size, cx, cy, r, angle = 64, 30.3, 33.7, 15.0, 0.4
    mask = shape_mask(shape, size, cx, cy, r, angle)
    n = {"square": 4, "triangle": 3, "star": 10}[shape]
    k = np.arange(n)
    if shape == "square":
        radii, phi = np.full(n, r), angle + np.pi / 4 + k * np.pi / 2
    elif shape == "triangle":
        radii, phi = np.full(n, 1.15 * r), angle - np.pi / 2 + k * 2 * np.pi / 3
    else:
        radii, phi = np.where(k % 2 == 0, 1.2 * r, 0.5 * r), angle - np.pi / 2 + k * np.pi / 5
    poly = MplPath(np.stack([cx + radii * np.cos(phi), cy + radii * np.sin(phi)], 1))
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    expected = poly.contains_points(np.stack([xx.ravel(), yy.ravel()], 1)).reshape(size, size)
    differ = mask != expected
    assert differ.sum() <= 2, f"{differ.sum()} pixels differ"  # only points exactly on an edge may differ
    assert mask.sum() > 100


def test_circle_mask_is_a_disc() -> None:
    mask = shape_mask("circle", 64, 32.0, 32.0, 10.0, 0.0)
    assert abs(mask.sum() - np.pi * 100) < 0.05 * np.pi * 100
    ys, xs = np.nonzero(mask)
    assert np.hypot(xs + 0.5 - 32, ys + 0.5 - 32).max() <= 10.0


def _scenes(n: int = 40) -> list:
    ds = ShapesDataset("val")
    return [ds.scene(i) for i in range(n)]


def test_label_regions_have_their_class_colour() -> None:
    """Masks match what was drawn: every labelled object region's mean colour is nearest to its class
    colour, and every stuff region's mean colour is nearest to its surface's mean colour."""
    stuff_means: dict[int, list[np.ndarray]] = {}
    colours = np.asarray(list(COLOURS.values()), dtype=np.float64)
    checked = 0
    for scene in _scenes():
        img = scene.image.astype(np.float64)
        for cls in np.unique(scene.label):
            region = scene.label == cls
            if region.sum() < 30:
                continue
            mean = img[region].mean(0)
            if cls < NUM_OBJECT_CLASSES:
                colour = class_attributes(int(cls))[0]
                nearest = list(COLOURS)[int(np.argmin(((colours - mean) ** 2).sum(1)))]
                assert nearest == colour, f"class {CLASS_NAMES[cls]} region looks {nearest}"
                checked += 1
            else:
                stuff_means.setdefault(int(cls), []).append(mean)
    assert checked > 50
    centroids = {c: np.mean(v, 0) for c, v in stuff_means.items()}
    assert len(centroids) == len(STUFF)
    for c, means in stuff_means.items():
        for mean in means:
            nearest = min(centroids, key=lambda k: ((centroids[k] - mean) ** 2).sum())
            assert nearest == c


def test_object_texture_has_its_shape_frequency_and_orientation() -> None:
    """The stripes inside each single-object mask peak at the shape's period and orientation (2-D FFT)."""
    for index in range(NUM_OBJECT_CLASSES):
        scene, _ = render_single_object(np.random.default_rng(index), index, size=64)
        mask = scene.label == index
        grey = scene.image.astype(np.float64).mean(2)
        patch = np.where(mask, grey - grey[mask].mean(), 0.0)
        spectrum = np.abs(np.fft.fft2(patch))
        spectrum[0, 0] = 0
        fy, fx = np.unravel_index(np.argmax(spectrum), spectrum.shape)
        fy, fx = np.fft.fftfreq(64)[fy], np.fft.fftfreq(64)[fx]
        period, degrees = SHAPE_TEXTURE[OBJECT_CLASSES[index][1]]
        assert abs(1 / np.hypot(fx, fy) - period) < 0.2 * period
        found = np.rad2deg(np.arctan2(fy, fx)) % 180
        assert min(abs(found - degrees), 180 - abs(found - degrees)) < 15


def test_stripes_world_classes_are_texture_and_shape_and_its_colour_tells_nothing() -> None:
    """In the stripes world the fill's peak frequency (windowed 2-D FFT of the fill) is the texture's period
    and orientation, not the shape's; and every texture comes in every colour, about equally often."""
    assert STRIPES_WORLD.class_names[:4] == (
        "pinstriped circle",
        "pinstriped square",
        "pinstriped triangle",
        "pinstriped star",
    )
    assert STRIPES_WORLD.class_names[16:] == CLASS_NAMES[16:]  # the same surfaces
    assert [STRIPES_WORLD.class_names[i] for i in STRIPES_WORLD.split.unseen] == [
        "pinstriped star",
        "corded triangle",
        "barred square",
        "banded circle",
    ]
    freqs, window = np.fft.fftfreq(512), np.outer(np.hanning(64), np.hanning(64))  # zero-padded: fine bins
    palette = np.asarray(list(COLOURS.values()), dtype=np.float64)
    for index, (texture, _) in enumerate(STRIPES_WORLD.object_classes):
        period, degrees = STRIPE_TEXTURE[texture]
        colours = []
        for k in range(40):
            fill = object_texture(np.random.default_rng((index, k)), index, 64, STRIPES_WORLD)
            grey = fill.mean(2)
            spectrum = np.abs(np.fft.fft2((grey - grey.mean()) * window, s=(512, 512)))
            fy, fx = np.unravel_index(np.argmax(spectrum), spectrum.shape)
            fy, fx = freqs[fy], freqs[fx]
            assert abs(1 / np.hypot(fx, fy) - period) < 0.25 * period, (texture, k)
            found = np.rad2deg(np.arctan2(fy, fx)) % 180
            assert min(abs(found - degrees), 180 - abs(found - degrees)) < 15, (texture, k)
            mean_rgb = fill.reshape(-1, 3).mean(0)
            colours.append(int(np.argmin(np.abs(palette - mean_rgb).sum(1))))
        counts = np.bincount(colours, minlength=4)
        assert counts.min() >= 4, (texture, counts)  # 40 draws: each of the 4 colours at least 4 times


def test_stripes_world_scenes_share_the_geometry_and_only_change_the_fill() -> None:
    shapes, stripes = ShapesDataset("val"), ShapesDataset("val", world="stripes")
    assert stripes.class_names == STRIPES_WORLD.class_names and stripes[0]["name"] == "stripes_val_000000"
    same = 0
    for i in range(20):
        a, b = shapes.scene(i), stripes.scene(i)
        assert set(np.unique(b.label)) <= set(range(len(STRIPES_WORLD.class_names)))
        same += np.array_equal(a.label, b.label)  # the fill's extra draw moves later objects' geometry
    assert same < 20
    assert get_world("stripes") is STRIPES_WORLD and get_world(SHAPES_WORLD) is SHAPES_WORLD
    with pytest.raises(
        ValueError, match="unknown synthetic world 'dots'; expected one of shapes, stripes, fab"
    ):
        ShapesDataset("val", world="dots")


def _peak(fill: np.ndarray) -> tuple[float, float]:
    """(period in px, orientation in degrees mod 180) of the fill's strongest frequency (windowed, padded)."""
    freqs, window = np.fft.fftfreq(512), np.outer(np.hanning(64), np.hanning(64))
    grey = fill.mean(2)
    spectrum = np.abs(np.fft.fft2((grey - grey.mean()) * window, s=(512, 512)))
    fy, fx = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    return 1 / np.hypot(freqs[fx], freqs[fy]), np.rad2deg(np.arctan2(freqs[fy], freqs[fx])) % 180


def test_fabrics_world_classes_are_colour_and_texture_and_its_shape_tells_nothing() -> None:
    """The fill of a fabrics class has the class's colour and its texture's peak frequency; the outline is
    drawn at random per object, every shape about equally often for every class."""
    assert FABRICS_WORLD.class_names[:4] == ("red pinstriped", "red corded", "red barred", "red banded")
    assert FABRICS_WORLD.class_names[16:] == CLASS_NAMES[16:]
    assert [FABRICS_WORLD.class_names[i] for i in FABRICS_WORLD.split.unseen] == [
        "red banded",
        "green barred",
        "blue corded",
        "yellow pinstriped",
    ]
    palette = np.asarray(list(COLOURS.values()), dtype=np.float64)
    for index, (colour, texture) in enumerate(FABRICS_WORLD.object_classes):
        period, degrees = STRIPE_TEXTURE[texture]
        for k in range(10):
            fill = object_texture(np.random.default_rng((index, k)), index, 64, FABRICS_WORLD)
            found_period, found = _peak(fill)
            assert abs(found_period - period) < 0.25 * period, (texture, k)
            assert min(abs(found - degrees), 180 - abs(found - degrees)) < 15, (texture, k)
            mean_rgb = fill.reshape(-1, 3).mean(0)
            assert list(COLOURS)[int(np.argmin(np.abs(palette - mean_rgb).sum(1)))] == colour

    # the outline: area / bounding box is ~0.785 for every circle; over one fabrics class it ranges from
    # stars (under 0.45) to circles and squares (over 0.7)
    def fill_ratios(world, index: int) -> np.ndarray:
        ratios = []
        for k in range(40):
            scene = render_scene(np.random.default_rng(k), objects=[index], stuff=(16,), world=world)
            ys, xs = np.nonzero(scene.label == index)
            ratios.append(len(ys) / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1)))
        return np.asarray(ratios)

    circles = fill_ratios(SHAPES_WORLD, CLASS_NAMES.index("red circle"))
    assert np.abs(circles - np.pi / 4).max() < 0.06
    fabric = fill_ratios(FABRICS_WORLD, FABRICS_WORLD.class_names.index("red banded"))
    assert (fabric < 0.45).sum() >= 4 and (fabric > 0.7).sum() >= 8 and fabric.std() > 0.1


def test_listed_objects_are_visible_and_labels_are_valid() -> None:
    for scene in _scenes():
        present = set(np.unique(scene.label).tolist())
        assert present <= set(range(len(CLASS_NAMES)))  # exact masks: no ignore label needed
        assert set(scene.stuff) <= present and set(scene.objects) <= present
        for cls in present - set(scene.objects) - set(scene.stuff):
            assert (scene.label == cls).sum() < 12  # dropped objects are the nearly hidden ones


def test_every_class_appears_in_the_val_set() -> None:
    ds = ShapesDataset("val")
    counts = np.zeros(len(CLASS_NAMES), dtype=np.int64)
    for i in range(len(ds)):
        counts += np.bincount(ds.scene(i).label.ravel(), minlength=len(CLASS_NAMES))
    assert (counts > 0).all(), [CLASS_NAMES[i] for i in np.flatnonzero(counts == 0)]


def test_split_is_compositional() -> None:
    split = SHAPES_SPLIT
    assert isinstance(split, ZeroShotSplit) and split.name == "shapes"
    assert split.class_names == CLASS_NAMES and len(CLASS_NAMES) == 20
    assert sorted(split.seen + split.unseen) == list(range(split.num_classes))
    assert len(split.unseen) == 4 and all(i < NUM_OBJECT_CLASSES for i in split.unseen)
    unseen = [class_attributes(i) for i in split.unseen]
    seen = [class_attributes(i) for i in split.seen if i < NUM_OBJECT_CLASSES]
    # Every colour and shape of an unseen class occurs in seen classes; each is unseen only once.
    assert sorted(c for c, _ in unseen) == sorted(COLOURS) and sorted(s for _, s in unseen) == sorted(SHAPES)
    for colour, shape in unseen:
        assert sum(c == colour for c, _ in seen) == 3 and sum(s == shape for _, s in seen) == 3
    assert all(name.split() and all(w.isalpha() for w in name.split()) for name in CLASS_NAMES)


def test_bad_inputs_raise_clear_errors() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="not an object class"):
        render_scene(rng, objects=[NUM_OBJECT_CLASSES])
    with pytest.raises(ValueError, match="stuff"):
        render_scene(rng, stuff=(0,))
    with pytest.raises(ValueError, match="too small"):
        render_scene(rng, size=8)
    with pytest.raises(ValueError, match="unknown shape"):
        shape_mask("hexagon", 64, 32, 32, 10, 0)


def test_stripe_frequency_bins_are_where_a_striped_token_grid_peaks() -> None:
    """The bins named for each texture hold the peak of the real FFT of a token grid striped at its period
    (sampled at the patch centres)."""
    assert stripe_frequency_bins((8, 8), 8) == {
        "pinstriped": [(0, 4)],
        "corded": [(4, 0)],
        "barred": [(0, 3)],
        "banded": [(3, 0), (5, 0)],
    }
    for grid, patch in (((8, 8), 8), ((16, 16), 8)):
        centres = (np.arange(grid[0]) + 0.5) * patch
        for name, (period, degrees) in STRIPE_TEXTURE.items():
            along = centres[None, :] if degrees % 180 == 0 else centres[:, None]
            tokens = np.cos(2 * np.pi * along / period) * np.ones(grid)
            spectrum = np.abs(np.fft.rfft2(tokens))
            spectrum[0, 0] = 0
            peak = np.unravel_index(np.argmax(spectrum), spectrum.shape)
            assert tuple(int(i) for i in peak) in stripe_frequency_bins(grid, patch)[name], (grid, name)
