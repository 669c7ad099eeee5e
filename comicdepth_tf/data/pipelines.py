"""Generic tf.data input pipelines over the loaders' plain samples.

Every loader's ``to_samples`` gives a list of dicts of file paths (plus ``<key>_codec`` for
depth). :func:`make_dataset` turns such a list into batches of float32 tensors:

- ``"image"`` -> (H, W, 3) RGB in [0, 1], resized with area (shrinking) or bilinear interpolation;
- ``"depth"`` -> (H, W, 1) metres, 0 = invalid, resized with nearest neighbour, plus a derived
  validity mask (H, W, 1) named ``valid`` for the key ``depth`` and ``<key>_valid`` otherwise;
- ``"mask"`` -> (H, W, 1) in {0, 1}, resized with nearest neighbour.

Decoding runs the library's own readers (OpenCV, which releases the GIL) inside
``tf.numpy_function`` with ``num_parallel_calls=AUTOTUNE``; batches are prefetched.

Errors: files are checked for existence when the dataset is built, so a missing file fails at
once with a :class:`DataFormatError`. A file that exists but cannot be decoded fails while
iterating; TensorFlow then wraps the error in its own exception, whose message starts with the
library's message naming the file. :func:`data_errors` (used by :func:`to_numpy`) turns that
back into the original :class:`DataFormatError`::

    with pipelines.data_errors():
        model.fit(train_ds, epochs=3)
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np

from comicdepth_tf import fileio
from comicdepth_tf.data.augment import KINDS, AugmentConfig, augment_dataset
from comicdepth_tf.data.formats import rgbd
from comicdepth_tf.errors import DataFormatError, ParameterError

#: Codec used for a depth key when a sample has no ``<key>_codec`` entry.
DEFAULT_DEPTH_CODEC = "png16_mm"
_CHANNELS = {"image": 3, "depth": 1, "mask": 1}

# Errors raised inside numpy_function, remembered so data_errors() can re-raise them as they were.
_ERRORS: OrderedDict[str, DataFormatError] = OrderedDict()
_ERRORS_LOCK = threading.Lock()
_ERRORS_KEPT = 64


def _remember(error: DataFormatError) -> DataFormatError:
    with _ERRORS_LOCK:
        _ERRORS[str(error)] = error
        while len(_ERRORS) > _ERRORS_KEPT:
            _ERRORS.popitem(last=False)
    return error


def _recall(message: str) -> DataFormatError | None:
    with _ERRORS_LOCK:
        for text, error in reversed(_ERRORS.items()):
            if text in message:
                return error
    return None


@contextmanager
def data_errors() -> Iterator[None]:
    """Re-raise data errors from inside a tf.data pipeline as the library's :class:`DataFormatError`.

    TensorFlow wraps exceptions raised while decoding in ``tf.errors.OpError``; inside this
    context such an error is replaced by the original DataFormatError naming the file.
    """
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as exc:
        original = _recall(str(exc))
        if original is None:
            raise
        raise original from None


def valid_key(key: str) -> str:
    """Name of the validity mask derived from the depth output ``key``."""
    return "valid" if key == "depth" else f"{key}_valid"


def _check_arguments(keys: Mapping[str, str], size: Sequence[int], batch_size: int) -> tuple[int, int]:
    if not keys:
        raise ParameterError("keys must name at least one output, e.g. {'image': 'image', 'depth': 'depth'}")
    for key, kind in keys.items():
        if kind not in KINDS:
            raise ParameterError(f"keys['{key}'] must be one of {KINDS}, got {kind!r}")
    if len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size):
        raise ParameterError(f"size must be (height, width) in positive pixels, got {size!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ParameterError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(size[0]), int(size[1])


def _columns(samples: Sequence[Mapping[str, Any]], keys: Mapping[str, str], check_files: bool) -> tuple[list, list]:
    """Per-sample path and codec lists, checked eagerly (keys present, files exist, codecs known)."""
    paths, codecs = [], []
    for i, sample in enumerate(samples):
        row_paths, row_codecs = [], []
        for key, kind in keys.items():
            if key not in sample:
                raise ParameterError(f"sample {i} has no key '{key}' (it has {sorted(sample)})")
            path = os.fspath(sample[key])
            if check_files and not os.path.isfile(path):
                name = f" ({sample['name']})" if "name" in sample else ""
                raise DataFormatError(path, f"sample {i}{name} '{key}'", f"an existing {kind} file")
            codec = ""
            if kind == "depth":
                codec = sample.get(f"{key}_codec", DEFAULT_DEPTH_CODEC)
                if codec not in rgbd.CODECS:
                    raise DataFormatError(path, f"{key}_codec", f"one of {sorted(rgbd.CODECS)}", codec)
            row_paths.append(path)
            row_codecs.append(codec)
        paths.append(row_paths)
        codecs.append(row_codecs)
    return paths, codecs


def _read(path: str, kind: str, codec: str) -> np.ndarray:
    if kind == "image":
        return fileio.read_image(path)
    if kind == "depth":
        return rgbd.decode_depth(path, codec)
    return fileio.read_mask(path)


def _resize(array: np.ndarray, kind: str, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    if array.shape[:2] != (height, width):
        if kind == "image":
            shrinking = array.shape[0] >= height and array.shape[1] >= width
            interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        else:
            interpolation = cv2.INTER_NEAREST
        array = cv2.resize(array, (width, height), interpolation=interpolation)
    return array


def _to_float(array: np.ndarray, kind: str) -> np.ndarray:
    if kind == "image":
        return array.astype(np.float32) / np.float32(255.0)
    return array.astype(np.float32)[..., None]


def load_example(
    paths: Sequence[str], kinds: Sequence[str], codecs: Sequence[str], size: tuple[int, int], same_size: bool = True
) -> list[np.ndarray]:
    """Decode and resize the files of one sample (the NumPy side of the pipeline).

    Args:
        paths: one file per output.
        kinds: the kind of each file (``image``, ``depth``, ``mask``).
        codecs: depth codec of each file (ignored for other kinds).
        size: output (height, width).
        same_size: require all files of the sample to have the same size before resizing.

    Returns:
        float32 arrays, (H, W, 3) for images and (H, W, 1) otherwise.

    Raises:
        DataFormatError: naming the file that cannot be read, or both files of a size mismatch.
    """
    arrays = []
    for path, kind, codec in zip(paths, kinds, codecs):
        try:
            array = _read(path, kind, codec)
        except DataFormatError:
            raise
        except Exception as exc:  # an unexpected decoder failure still has to name the file
            raise DataFormatError(path, kind, f"a readable {kind} file", f"{type(exc).__name__}: {exc}") from exc
        if same_size and arrays:
            rgbd.check_same_size(paths[0], arrays[0][1].shape, path, array.shape)
        arrays.append((kind, array))
    return [_to_float(_resize(array, kind, size), kind) for kind, array in arrays]


def _numpy_loader(kinds: tuple[str, ...], size: tuple[int, int], same_size: bool, paths: np.ndarray,
                  codecs: np.ndarray, cache: bool):
    """``load(index)``: the decoded arrays of sample ``index`` (kept in memory when ``cache``)."""
    kept: dict[int, list[np.ndarray]] = {}

    def load(index) -> list[np.ndarray]:
        index = int(index)
        if index in kept:
            return kept[index]
        try:
            arrays = load_example(list(paths[index]), kinds, list(codecs[index]), size, same_size)
        except DataFormatError as exc:
            raise _remember(exc) from None
        if cache:
            kept[index] = arrays
        return arrays

    return load


def index_stream(n: int, *, batch_size: int, shuffle: bool = False, seed: int = 0, repeat: bool = False,
                 clocked: bool = True):
    """``(position, sample index)`` pairs: the order in which a pipeline shows ``n`` samples.

    A clocked stream starts at the training position (:mod:`comicdepth_tf.data.clock`): a finite
    one yields epoch ``e``'s positions ``[e·n, (e+1)·n)``, a repeated one starts at the example
    ``step × batch_size`` (its batches are consecutive chunks) and never ends. Position ``p``
    shows sample ``p mod n``, or with ``shuffle`` that index under a stateless permutation of
    ``(seed, p // n)``, so every pass has its own order and no global seed is read. An unclocked
    stream is positions ``0 … n-1`` (evaluation).
    """
    import tensorflow as tf

    from comicdepth_tf.data import clock

    def stream(_):
        epoch, step = tf.unstack(clock.position_tensor())
        if repeat:
            return tf.data.Dataset.range(step * batch_size, tf.int64.max)
        return tf.data.Dataset.range(epoch * n, (epoch + 1) * n)

    if clocked:
        ds = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).flat_map(stream)
        # flat_map hides the length; schedules and Keras' progress read it.
        ds = ds.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY if repeat else n))
    else:
        ds = tf.data.Dataset.range(n).repeat() if repeat else tf.data.Dataset.range(n)

    def pick(position):
        index = position % n
        if shuffle:
            # index_shuffle mixes only part of a negative key's bits: keep the key (seed, pass) as it is.
            key = tf.stack([tf.constant(seed, tf.int64), position // n])
            index = tf.random.experimental.index_shuffle(index, seed=key, max_index=tf.constant(n - 1, tf.int64))
        return position, index

    return ds.map(pick)


def array_stream(arrays, *, batch_size: int, shuffle: bool = False, seed: int = 0):
    """``(position, element)`` pairs over in-memory arrays (any nest of arrays of one length).

    The order is :func:`index_stream`'s (clocked when shuffled), so an in-memory training set is
    as reproducible and resumable as a file-backed one. Callers map and batch the elements.
    """
    import tensorflow as tf

    tensors = tf.nest.map_structure(tf.constant, arrays)
    n = int(tf.nest.flatten(tensors)[0].shape[0])
    ds = index_stream(n, batch_size=batch_size, shuffle=shuffle, seed=seed, clocked=shuffle)
    return ds.map(lambda p, i: (p, tf.nest.map_structure(lambda t: tf.gather(t, i), tensors)))


def make_dataset(
    samples: Sequence[Mapping[str, Any]],
    *,
    keys: Mapping[str, str],
    size: Sequence[int] = (128, 128),
    batch_size: int = 8,
    shuffle: bool = False,
    augment: AugmentConfig | bool | None = None,
    seed: int = 0,
    cache: bool = False,
    repeat: bool = False,
    drop_remainder: bool = False,
    check_files: bool = True,
    same_size: bool = True,
):
    """Build a batched ``tf.data.Dataset`` of dicts of float32 tensors from plain samples.

    Args:
        samples: dicts of file paths, from any loader's ``to_samples``; depth keys read their
            codec from ``<key>_codec`` (default ``png16_mm``).
        keys: output name -> kind (``"image"``, ``"depth"`` or ``"mask"``); each name must be a
            key of every sample. Each depth output adds a validity mask (see :func:`valid_key`).
        size: output (height, width).
        batch_size: examples per batch.
        shuffle: shuffle the samples: pass ``p`` over the samples is a stateless permutation of
            ``(seed, p)``, so every epoch has its own order and no global seed is read.
        augment: paired geometric + photometric augmentation settings; True for the defaults,
            None or False for none.
        seed: seed of shuffling and augmentation; the same seed and training position give the
            same batches (see :mod:`comicdepth_tf.data.clock`).
        cache: keep decoded, resized examples in memory, before augmentation, so later epochs
            skip decoding.
        repeat: repeat forever (the stream starts at the training position's step).
        drop_remainder: drop the last, smaller batch.
        check_files: check now that every file exists (one stat per file).
        same_size: require the files of a sample (RGB, depth, masks) to share one size.

    Returns:
        The dataset; elements are dicts ``{name: (B, H, W, C) float32}``.

    Raises:
        ParameterError: bad ``keys``, ``size`` or ``batch_size``, or a sample without a key.
        DataFormatError: a missing file or unknown codec (at once); an unreadable file (while
            iterating; see :func:`data_errors`).
    """
    import tensorflow as tf

    height, width = _check_arguments(keys, size, batch_size)
    if augment is True:
        augment = AugmentConfig()
    elif augment is False:
        augment = None
    elif augment is not None and not isinstance(augment, AugmentConfig):
        raise ParameterError(f"augment must be an AugmentConfig, True, False or None, got {augment!r}")
    if not samples:
        raise ParameterError("make_dataset needs at least one sample")
    names = tuple(keys)
    kinds = tuple(keys[name] for name in names)
    paths, codecs = _columns(samples, keys, check_files)
    loader = _numpy_loader(kinds, (height, width), same_size, np.array(paths, dtype=object),
                           np.array(codecs, dtype=object), bool(cache))

    def decode(index):
        arrays = tf.numpy_function(loader, [index], [tf.float32] * len(names), stateful=False)
        example = {}
        for name, kind, array in zip(names, kinds, arrays):
            array.set_shape((height, width, _CHANNELS[kind]))
            example[name] = array
        return example

    def add_valid(example):
        example = dict(example)
        for name, kind in keys.items():
            if kind == "depth":
                example[valid_key(name)] = tf.cast(example[name] > 0, tf.float32)
        return example

    autotune = tf.data.AUTOTUNE
    ds = index_stream(len(samples), batch_size=batch_size, shuffle=shuffle, seed=seed, repeat=repeat,
                      clocked=shuffle or augment is not None or repeat)
    ds = ds.map(lambda p, i: (p, decode(i)), num_parallel_calls=autotune)
    if augment is not None:
        ds = augment_dataset(ds, keys, augment, seed)
    else:
        ds = ds.map(lambda p, example: example)
    ds = ds.map(add_valid, num_parallel_calls=autotune)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(autotune)


def rgbd_dataset(records: Sequence, *, with_valid: bool = False, **kwargs):
    """``(image, depth)`` batches for ``keras.Model.fit`` from RGB-D records or samples.

    Args:
        records: :class:`~comicdepth_tf.data.formats.rgbd.RGBDRecord` objects or their samples.
        with_valid: add the validity mask as a third element, ``(image, depth, valid)``
            (the place Keras reads sample weights from).
        **kwargs: passed to :func:`make_dataset` (``size``, ``batch_size``, ``shuffle``, ...).

    Returns:
        A dataset of ``(image (B, H, W, 3), depth (B, H, W, 1)[, valid (B, H, W, 1)])``.
    """
    samples = [r.to_sample() if hasattr(r, "to_sample") else r for r in records]
    ds = make_dataset(samples, keys={"image": "image", "depth": "depth"}, **kwargs)
    if with_valid:
        return ds.map(lambda e: (e["image"], e["depth"], e["valid"]))
    return ds.map(lambda e: (e["image"], e["depth"]))


def to_numpy(dataset, n: int):
    """The first ``n`` examples of a batched dataset as NumPy arrays (same structure as its elements).

    Decoding errors are raised as :class:`DataFormatError` (see :func:`data_errors`).
    """
    import tensorflow as tf

    if n <= 0:
        raise ParameterError(f"n must be positive, got {n!r}")
    batches, count = [], 0
    with data_errors():
        for batch in dataset:
            batches.append(tf.nest.map_structure(lambda t: t.numpy(), batch))
            count += len(tf.nest.flatten(batches[-1])[0])
            if count >= n:
                break
    if not batches:
        raise ParameterError("the dataset is empty")
    return tf.nest.map_structure(lambda *parts: np.concatenate(parts, axis=0)[:n], *batches)
