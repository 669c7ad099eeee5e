"""tf.data pipelines: shapes, paired augmentation alignment, photometric isolation, determinism, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from comicdepth_tf.data import pipelines  # noqa: E402
from comicdepth_tf.data.augment import AugmentConfig  # noqa: E402
from comicdepth_tf.data.formats import rgbd  # noqa: E402
from comicdepth_tf.errors import DataFormatError, ParameterError  # noqa: E402

H, W = 16, 24
KEYS = {"image": "image", "depth": "depth", "mask": "mask"}
NEAR, FAR = 1.0, 5.0


def _half_sample(folder, name="s"):
    """Left half: bright image, near depth, mask on. Right half: dark, far, mask off. Top row invalid."""
    folder.mkdir(parents=True, exist_ok=True)
    image = np.full((H, W, 3), 20, np.uint8)
    image[:, : W // 2] = 230
    depth = np.full((H, W), FAR * 1000, np.uint16)
    depth[:, : W // 2] = NEAR * 1000
    depth[0] = 0
    mask = np.zeros((H, W), np.uint8)
    mask[:, : W // 2] = 255
    paths = {
        "image": folder / f"{name}_rgb.png",
        "depth": folder / f"{name}_depth.png",
        "mask": folder / f"{name}_mask.png",
    }
    cv2.imwrite(str(paths["image"]), image)
    cv2.imwrite(str(paths["depth"]), depth)
    cv2.imwrite(str(paths["mask"]), mask)
    return {key: str(p) for key, p in paths.items()} | {"depth_codec": "png16_mm", "name": name}


@pytest.fixture
def samples(tmp_path):
    return [_half_sample(tmp_path / "d", f"s{i}") for i in range(3)]


def test_shapes_dtypes_and_valid_mask(samples):
    ds = pipelines.make_dataset(samples, keys=KEYS, size=(8, 12), batch_size=2)
    spec = ds.element_spec
    assert spec["image"].shape.as_list() == [None, 8, 12, 3]
    assert spec["depth"].shape.as_list() == [None, 8, 12, 1] and spec["valid"].shape.as_list() == [None, 8, 12, 1]
    assert all(s.dtype == tf.float32 for s in spec.values())
    batches = [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds]
    assert [len(b["image"]) for b in batches] == [2, 1]
    b = batches[0]
    assert 0.0 <= b["image"].min() and b["image"].max() <= 1.0
    np.testing.assert_allclose(b["image"][0, 4, 2], [230 / 255] * 3, atol=1e-6)
    assert set(np.unique(b["depth"])) == {0.0, NEAR, FAR}  # nearest neighbour: no invented depths
    assert set(np.unique(b["mask"])) == {0.0, 1.0}
    np.testing.assert_array_equal(b["valid"], (b["depth"] > 0).astype(np.float32))
    assert b["valid"][0, 0].sum() == 0 and b["valid"][0, 1:].min() == 1.0
    dropped = pipelines.make_dataset(samples, keys=KEYS, size=(8, 12), batch_size=2, drop_remainder=True)
    assert dropped.element_spec["image"].shape.as_list() == [2, 8, 12, 3]
    assert sum(1 for _ in dropped) == 1


def _check_aligned(batch):
    near = batch["depth"][..., 0] == NEAR
    far = batch["depth"][..., 0] == FAR
    mask = batch["mask"][..., 0] == 1.0
    bright = batch["image"].mean(axis=-1) > 0.5
    valid = near | far
    np.testing.assert_array_equal(mask[valid], near[valid])  # both nearest neighbour: exact
    # Bilinear image vs nearest depth may disagree only on the column next to the edge.
    disagree = (bright != near) & valid
    assert disagree.sum(axis=2).max() <= 1


def test_paired_flip_keeps_image_depth_and_mask_aligned(samples):
    config = AugmentConfig.geometric_only(flip_prob=0.5, scale_prob=0.0)
    ds = pipelines.make_dataset(samples * 6, keys=KEYS, size=(H, W), batch_size=18, augment=config, seed=1)
    batch = pipelines.to_numpy(ds, 18)
    _check_aligned(batch)
    left_near = batch["depth"][:, 1:, : W // 2, 0].mean(axis=(1, 2)) == NEAR
    assert 0 < left_near.sum() < 18  # some flipped, some not: the test can see a misalignment
    flipped = ~left_near
    assert (batch["image"][flipped][:, :, -1].mean() > 0.8) and (batch["mask"][flipped][:, :, 0].max() == 0)


def test_paired_scale_crop_keeps_alignment(samples):
    config = AugmentConfig.geometric_only(flip_prob=0.5, scale_prob=1.0, scale_range=(1.2, 1.8))
    ds = pipelines.make_dataset(samples * 4, keys=KEYS, size=(H, W), batch_size=12, augment=config, seed=2)
    batch = pipelines.to_numpy(ds, 12)
    _check_aligned(batch)
    near_share = (batch["depth"][:, 1:, :, 0] == NEAR).mean(axis=(1, 2))
    assert len(np.unique(np.round(near_share, 3))) > 1  # crops moved the edge


def test_photometric_never_changes_depth_or_masks(samples):
    config = AugmentConfig.photometric_only(
        brightness=0.5, contrast=0.5, saturation=0.5, hue=0.3, channel_swap_prob=1.0
    )
    plain = pipelines.to_numpy(pipelines.make_dataset(samples, keys=KEYS, size=(H, W), batch_size=3), 3)
    jitter = pipelines.to_numpy(
        pipelines.make_dataset(samples, keys=KEYS, size=(H, W), batch_size=3, augment=config), 3
    )
    for key in ("depth", "mask", "valid"):
        np.testing.assert_array_equal(plain[key], jitter[key])
    assert np.abs(plain["image"] - jitter["image"]).max() > 0.05
    assert 0.0 <= jitter["image"].min() and jitter["image"].max() <= 1.0


def test_same_seed_same_batches(tmp_path):
    samples = [_half_sample(tmp_path, f"s{i}") for i in range(4)]
    for i, s in enumerate(samples):  # make samples distinguishable after shuffling
        cv2.imwrite(s["image"], np.full((H, W, 3), 30 * i, np.uint8))

    def run(seed):
        ds = pipelines.make_dataset(
            samples, keys=KEYS, size=(H, W), batch_size=4, shuffle=True, augment=AugmentConfig(), seed=seed, repeat=True
        )
        return pipelines.to_numpy(ds, 8)

    first, again, other = run(3), run(3), run(4)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert any(not np.array_equal(first[k], other[k]) for k in first)


def test_corrupted_image_error_names_the_file(samples, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(open(samples[1]["image"], "rb").read()[:40])  # truncated PNG
    samples[1]["image"] = str(broken)
    ds = pipelines.make_dataset(samples, keys=KEYS, size=(H, W), batch_size=1)
    with pytest.raises(DataFormatError, match=r"broken\.png.*pixels"):
        pipelines.to_numpy(ds, 3)
    # Without the translator, TensorFlow's own error still carries the message naming the file.
    with pytest.raises(tf.errors.OpError, match=r"broken\.png"):
        for _ in ds:
            pass
    with pytest.raises(DataFormatError, match=r"broken\.png"):
        with pipelines.data_errors():
            for _ in ds:
                pass


def test_missing_file_fails_when_building(samples, tmp_path):
    samples[2]["mask"] = str(tmp_path / "gone.png")
    with pytest.raises(DataFormatError, match=r"gone\.png.*sample 2 \(s2\) 'mask'.*existing mask file"):
        pipelines.make_dataset(samples, keys=KEYS, size=(H, W), batch_size=1)


def test_size_mismatch_names_both_files(samples, tmp_path):
    small = tmp_path / "small_depth.png"
    cv2.imwrite(str(small), np.full((H // 2, W), 1000, np.uint16))
    samples[0]["depth"] = str(small)
    ds = pipelines.make_dataset(samples, keys=KEYS, size=(H, W), batch_size=1)
    with pytest.raises(DataFormatError, match=r"small_depth\.png.*size.*s0_rgb\.png \(24x16\).*24x8"):
        pipelines.to_numpy(ds, 1)


def test_wrong_codec_bit_depth_surfaces(samples):
    samples[0]["depth_codec"] = "nyu_png8_10m"
    ds = pipelines.make_dataset(samples, keys=KEYS, size=(H, W), batch_size=1)
    with pytest.raises(DataFormatError, match=r"s0_depth\.png.*8-bit"):
        pipelines.to_numpy(ds, 1)


def test_parameter_errors(samples):
    with pytest.raises(ParameterError, match="one of"):
        pipelines.make_dataset(samples, keys={"image": "picture"}, size=(H, W), batch_size=1)
    with pytest.raises(ParameterError, match="no key 'normals'"):
        pipelines.make_dataset(samples, keys={"normals": "image"}, size=(H, W), batch_size=1)
    with pytest.raises(ParameterError, match="size"):
        pipelines.make_dataset(samples, keys=KEYS, size=(H,), batch_size=1)
    with pytest.raises(ParameterError, match="augment must be"):
        pipelines.make_dataset(samples, keys=KEYS, size=(H, W), batch_size=1, augment="yes")
    with pytest.raises(ParameterError, match="scale_range"):
        AugmentConfig(scale_range=(0.5, 1.0))


def test_rgbd_dataset_tuples_from_records(samples):
    records = [rgbd.RGBDRecord(s["image"], s["depth"], "png16_mm", s["name"]) for s in samples]
    image, depth = pipelines.to_numpy(pipelines.rgbd_dataset(records, size=(8, 8), batch_size=2), 3)
    assert image.shape == (3, 8, 8, 3) and depth.shape == (3, 8, 8, 1)
    image, depth, valid = pipelines.to_numpy(
        pipelines.rgbd_dataset(records, size=(8, 8), batch_size=2, with_valid=True), 2
    )
    np.testing.assert_array_equal(valid, depth > 0)


def test_cache_gives_same_examples(samples):
    plain = pipelines.to_numpy(pipelines.make_dataset(samples, keys=KEYS, size=(H, W), batch_size=2), 3)
    cached_ds = pipelines.make_dataset(samples, keys=KEYS, size=(H, W), batch_size=2, cache=True, repeat=True)
    cached = pipelines.to_numpy(cached_ds, 6)
    for key in plain:
        np.testing.assert_array_equal(np.concatenate([plain[key]] * 2), cached[key])


def test_embedded_nyu_and_modest_pipelines(smoke_data):
    from comicdepth_tf.data.formats import modest, nyu

    records = nyu.load_nyu(smoke_data / "nyu")
    for split in ("train", "test"):
        image, depth, valid = pipelines.to_numpy(
            pipelines.rgbd_dataset(
                records[split], size=(32, 48), batch_size=2, with_valid=True, augment=AugmentConfig()
            ),
            2,
        )
        assert image.shape == (2, 32, 48, 3) and depth.shape == (2, 32, 48, 1)
        assert valid.mean() > 0.5 and depth.max() <= 10.0 + 1e-3
    samples = modest.to_samples(modest.load_modest(smoke_data / "modest"))
    keys = {"bg": "image", "bg_fg": "image", "mask": "mask", "depth": "depth"}
    batch = pipelines.to_numpy(
        pipelines.make_dataset(samples, keys=keys, size=(32, 32), batch_size=2, augment=AugmentConfig()), 2
    )
    assert set(batch) == {"bg", "bg_fg", "mask", "depth", "valid"}
    assert batch["bg"].shape == batch["bg_fg"].shape == (2, 32, 32, 3)
