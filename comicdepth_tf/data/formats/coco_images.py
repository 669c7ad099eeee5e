"""Plain folders of images without labels (COCO ``val2017``, the embedded ``natural/images/``).

These feed the natural domain of the CycleGANs. Records only list files; pixel sizes are read
lazily from the file header, and pixels are read with :func:`comicdepth_tf.fileio.read_image`
(RGB ``uint8``; grayscale, RGBA and 16-bit files are converted).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from comicdepth_tf.errors import DataFormatError
from comicdepth_tf.fileio import IMAGE_EXTENSIONS, image_size, list_images, read_image, read_raw  # noqa: F401  (image_size re-exported)


@dataclass
class ImageRecord:
    """One image of a folder.

    Attributes:
        path: the image file.
        name: a unique name for outputs (relative path without extension, POSIX separators;
            the extension is kept when two files share a stem).
    """

    path: Path
    name: str
    _size: tuple[int, int] | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``, read from the header on first use."""
        if self._size is None:
            self._size = image_size(self.path)
        return self._size

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    def read(self) -> np.ndarray:
        """The pixels as RGB ``uint8`` (H, W, 3)."""
        return read_image(self.path)


def load_image_folder(folder: str | os.PathLike, recursive: bool = False) -> list[ImageRecord]:
    """List the images of a folder as records, sorted by path.

    Args:
        folder: the folder (e.g. COCO ``val2017/`` or ``<embedded>/natural/images/``).
        recursive: also list images in sub-folders.

    Returns:
        One :class:`ImageRecord` per image file.

    Raises:
        DataFormatError: when the folder is missing or holds no image file.
    """
    folder = Path(folder)
    paths = list_images(folder, recursive=recursive)
    if not paths:
        raise DataFormatError(
            folder,
            "",
            f"at least one image file ({', '.join(IMAGE_EXTENSIONS)})"
            + (" in it or its sub-folders" if recursive else ""),
        )
    stems = [p.relative_to(folder).with_suffix("").as_posix() for p in paths]
    clashes = {s for s, n in Counter(stems).items() if n > 1}
    return [
        ImageRecord(path=p, name=p.relative_to(folder).as_posix() if s in clashes else s)
        for p, s in zip(paths, stems)
    ]


def to_samples(records: Iterable[ImageRecord]) -> list[dict]:
    """Sample dicts for :func:`comicdepth_tf.data.pipelines.make_dataset`: ``name`` and ``image``."""
    return [{"name": r.name, "image": str(r.path)} for r in records]
