"""Paired augmentation for tf.data: geometry shared by image, depth and masks; colour on RGB only.

Geometric transforms (horizontal flip, random zoom-crop) are drawn once per example and applied
to every spatial tensor of it, so image, depth and masks stay aligned: images are resampled
bilinearly, depth and masks with nearest neighbour (interpolating depth across an occlusion
edge would invent surfaces; interpolating a mask would invent labels). The zoom-crop keeps the
depth values as they are (it changes the field of view, not the scene).

Photometric transforms (brightness, contrast, saturation, hue, channel swap) touch only tensors
of kind ``"image"``; when an example holds several images (MODEST's ``bg`` and ``bg_fg``) they
all get the same colour change, so their differences still come from the scene.

Every random draw uses TensorFlow's stateless ops with a per-example seed, so a pipeline is
reproducible given its seed, whatever the parallelism.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from comicdepth_tf.errors import ParameterError

#: Tensor kinds understood by the pipelines and the augmentation.
KINDS = ("image", "depth", "mask")


@dataclass(frozen=True)
class AugmentConfig:
    """What to randomise, and how much.

    Attributes:
        flip_prob: probability of a horizontal flip.
        scale_prob: probability of a zoom-crop.
        scale_range: zoom factor range of the crop (1.0 = the whole image, 1.25 = a crop 80 % wide).
        brightness: maximum additive brightness change (images are in [0, 1]).
        contrast: contrast factor drawn in [1 - contrast, 1 + contrast].
        saturation: saturation factor drawn in [1 - saturation, 1 + saturation].
        hue: maximum hue shift (fraction of the colour circle, at most 0.5).
        channel_swap_prob: probability of a random permutation of the RGB channels.
    """

    flip_prob: float = 0.5
    scale_prob: float = 0.5
    scale_range: tuple[float, float] = (1.0, 1.25)
    brightness: float = 0.1
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.02
    channel_swap_prob: float = 0.0

    def __post_init__(self):
        for name in ("flip_prob", "scale_prob", "channel_swap_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ParameterError(f"AugmentConfig.{name} must be a probability in [0, 1], got {value!r}")
        if not 0.0 <= self.brightness <= 1.0:
            raise ParameterError(f"AugmentConfig.brightness must be in [0, 1], got {self.brightness!r}")
        for name in ("contrast", "saturation"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ParameterError(f"AugmentConfig.{name} must be in [0, 1), got {value!r}")
        if not 0.0 <= self.hue <= 0.5:
            raise ParameterError(f"AugmentConfig.hue must be in [0, 0.5], got {self.hue!r}")
        low, high = self.scale_range
        if not 1.0 <= low <= high:
            raise ParameterError(f"AugmentConfig.scale_range must satisfy 1 <= low <= high, got {self.scale_range!r}")

    @classmethod
    def none(cls) -> "AugmentConfig":
        """A configuration that changes nothing."""
        return cls(0.0, 0.0, (1.0, 1.0), 0.0, 0.0, 0.0, 0.0, 0.0)

    @classmethod
    def geometric_only(cls, **overrides) -> "AugmentConfig":
        """Flip and zoom-crop, no colour change."""
        values = dict(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, channel_swap_prob=0.0)
        values.update(overrides)
        return cls(**values)

    @classmethod
    def photometric_only(cls, **overrides) -> "AugmentConfig":
        """Colour changes, no geometry change."""
        values = dict(flip_prob=0.0, scale_prob=0.0, scale_range=(1.0, 1.0))
        values.update(overrides)
        return cls(**values)


def _check_kinds(kinds: Mapping[str, str]) -> None:
    for key, kind in kinds.items():
        if kind not in KINDS:
            raise ParameterError(f"kind of '{key}' must be one of {KINDS}, got {kind!r}")


def _seed(seed, salt: int):
    import tensorflow as tf

    return tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), salt)


def _resize(tensor, size, kind: str):
    import tensorflow as tf

    method = "bilinear" if kind == "image" else "nearest"
    return tf.image.resize(tensor, size, method=method)


def paired_geometric(example: Mapping, kinds: Mapping[str, str], config: AugmentConfig, seed) -> dict:
    """Flip and zoom-crop every tensor named in ``kinds`` the same way.

    Args:
        example: tensors of shape (H, W, C), all with the same H and W.
        kinds: key -> ``"image"`` | ``"depth"`` | ``"mask"`` for the tensors to transform; other
            keys are passed through.
        config: the augmentation settings.
        seed: an int tensor of shape [2] (stateless random seed) for this example.

    Returns:
        A new dict with the transformed tensors (same shapes and dtypes).
    """
    import tensorflow as tf

    _check_kinds(kinds)
    out = dict(example)
    keys = [k for k in kinds if k in example]
    if not keys:
        return out
    flip = tf.random.stateless_uniform([], _seed(seed, 1)) < config.flip_prob
    do_scale = tf.random.stateless_uniform([], _seed(seed, 2)) < config.scale_prob
    low, high = config.scale_range
    factor = tf.random.stateless_uniform([], _seed(seed, 3), minval=low, maxval=high)
    factor = tf.where(do_scale, factor, 1.0)
    offsets = tf.random.stateless_uniform([2], _seed(seed, 4))

    first = example[keys[0]]
    shape = tf.shape(first)
    height, width = shape[0], shape[1]
    crop_h = tf.clip_by_value(tf.cast(tf.round(tf.cast(height, tf.float32) / factor), tf.int32), 1, height)
    crop_w = tf.clip_by_value(tf.cast(tf.round(tf.cast(width, tf.float32) / factor), tf.int32), 1, width)
    top = tf.cast(offsets[0] * tf.cast(height - crop_h + 1, tf.float32), tf.int32)
    left = tf.cast(offsets[1] * tf.cast(width - crop_w + 1, tf.float32), tf.int32)
    top = tf.minimum(top, height - crop_h)
    left = tf.minimum(left, width - crop_w)

    for key in keys:
        tensor = example[key]
        dtype = tensor.dtype
        tensor = tf.cond(flip, lambda t=tensor: tf.reverse(t, axis=[1]), lambda t=tensor: t)
        cropped = tensor[top : top + crop_h, left : left + crop_w, :]
        resized = _resize(cropped, [height, width], kinds[key])
        resized = tf.cast(resized, dtype)
        resized.set_shape(example[key].shape)
        out[key] = resized
    return out


def photometric(image, config: AugmentConfig, seed):
    """Random brightness, contrast, saturation, hue and channel swap of one RGB image in [0, 1].

    Args:
        image: float32 (H, W, 3) in [0, 1].
        config: the augmentation settings.
        seed: an int tensor of shape [2] for this example.

    Returns:
        The changed image, clipped to [0, 1].
    """
    import tensorflow as tf

    if config.brightness > 0:
        image = tf.image.stateless_random_brightness(image, config.brightness, _seed(seed, 11))
    if config.contrast > 0:
        image = tf.image.stateless_random_contrast(image, 1.0 - config.contrast, 1.0 + config.contrast, _seed(seed, 12))
    if config.saturation > 0:
        image = tf.image.stateless_random_saturation(
            image, 1.0 - config.saturation, 1.0 + config.saturation, _seed(seed, 13)
        )
    if config.hue > 0:
        image = tf.image.stateless_random_hue(image, config.hue, _seed(seed, 14))
    if config.channel_swap_prob > 0:
        swap = tf.random.stateless_uniform([], _seed(seed, 15)) < config.channel_swap_prob
        order = tf.argsort(tf.random.stateless_uniform([3], _seed(seed, 16)))
        order = tf.where(swap, order, tf.range(3))
        image = tf.gather(image, order, axis=-1)
    return tf.clip_by_value(image, 0.0, 1.0)


def augment_example(example: Mapping, kinds: Mapping[str, str], config: AugmentConfig, seed) -> dict:
    """Paired geometric augmentation of all spatial tensors, then photometric on images only.

    Args:
        example: tensors of shape (H, W, C) (images float32 in [0, 1]).
        kinds: key -> kind for the spatial tensors of ``example``.
        config: the augmentation settings.
        seed: an int tensor of shape [2]; the same seed gives the same result.

    Returns:
        The augmented example (other keys passed through).
    """
    out = paired_geometric(example, kinds, config, seed)
    photo_seed = _seed(seed, 10)
    for key, kind in kinds.items():
        if kind == "image" and key in out:
            out[key] = photometric(out[key], config, photo_seed)
    return out


def augment_dataset(ds, kinds: Mapping[str, str], config: AugmentConfig, seed: int):
    """Map :func:`augment_example` over a dataset of ``(position, example)`` pairs.

    The example at stream position ``p`` (see :func:`comicdepth_tf.data.pipelines.make_dataset`)
    gets the seed ``(seed, p)``: every epoch draws new transforms, and the draws depend on the
    seed and the position only, whatever the parallelism or what ran before.

    Returns:
        A dataset of augmented examples (the positions dropped).
    """
    import tensorflow as tf

    def augment_fn(position, example):
        element_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(position, tf.int64)])
        return augment_example(example, kinds, config, element_seed)

    return ds.map(augment_fn, num_parallel_calls=tf.data.AUTOTUNE)
