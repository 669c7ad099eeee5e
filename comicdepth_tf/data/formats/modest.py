"""MODEST museum layout: backgrounds, composites with a foreground, masks and depth maps.

::

    <root>/bg/  fg/  fg_mask/  bg_fg/  bg_fg_mask/  bg_fg_depth_map/
    <root>/file_map.txt      tab-separated: bg stem, bg_fg stem, mask stem, depth stem (no extensions)

Depth maps are 8-bit, brighter = farther, decoded with codec ``modest_png8``; in the real
dataset they are a monocular network's *relative* predictions, not sensor depth.

The real set has 400 000 composites, so extensions are resolved from one ``os.scandir`` per
folder (a stem -> file name map built once), never by listing a folder per row.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from comicdepth_tf import fileio
from comicdepth_tf.errors import DataFormatError

#: file_map.txt columns and the folder each one names a file in.
COLUMNS = (("bg", "bg"), ("bg_fg", "bg_fg"), ("mask", "bg_fg_mask"), ("depth", "bg_fg_depth_map"))
DEPTH_CODEC = "modest_png8"
_HEADER_WORDS = {"bg", "bg_fg", "fg_bg", "mask", "bg_fg_mask", "depth", "depth_map", "bg_fg_depth_map"}


@dataclass(frozen=True)
class ModestRecord:
    """One MODEST composite: background, composite, foreground mask and depth map paths."""

    bg: Path
    bg_fg: Path
    mask: Path
    depth: Path
    name: str
    line: int

    def to_sample(self) -> dict[str, str]:
        """The plain dict the tf.data pipelines read."""
        return {
            "bg": str(self.bg),
            "bg_fg": str(self.bg_fg),
            "mask": str(self.mask),
            "depth": str(self.depth),
            "depth_codec": DEPTH_CODEC,
            "name": self.name,
        }


class _FolderIndex:
    """Stem -> file name of one folder, from a single scandir, built on first use."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._by_stem: dict[str, str] | None = None
        self._ambiguous: dict[str, list[str]] = {}
        self._links: set[str] = set()

    def _build(self) -> dict[str, str]:
        by_stem: dict[str, str] = {}
        try:
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    stem, ext = os.path.splitext(entry.name)
                    if ext.lower() not in fileio.IMAGE_EXTENSIONS or not entry.is_file():
                        continue
                    if stem in by_stem:
                        self._ambiguous.setdefault(stem, [by_stem[stem]]).append(entry.name)
                    by_stem[stem] = entry.name
                    if entry.is_symlink():  # from the directory entry: no extra system call
                        self._links.add(entry.name)
        except FileNotFoundError:
            pass  # reported per row, naming the line that needs the folder
        return by_stem

    def resolve(self, stem: str, file_map: Path, field: str) -> Path:
        if self._by_stem is None:
            self._by_stem = self._build()
        if stem in self._ambiguous:
            raise DataFormatError(
                file_map, field, f"one image named '{stem}' in {self.folder}", sorted(self._ambiguous[stem])
            )
        name = self._by_stem.get(stem)
        if name is None:
            # Stems may carry an extension or a sub-folder; check that one path directly.
            path = fileio.safe_join(self.folder, stem, file_map, field)
            if path.is_file():
                return path
            if not self.folder.is_dir():
                raise DataFormatError(file_map, field, f"an existing folder {self.folder}", stem)
            raise DataFormatError(file_map, field, f"an image '{stem}.<ext>' in {self.folder}", stem)
        path = self.folder / name
        # Only links can lead out of <root> (the folders are <root>/<column folder>); resolving every
        # file of a 400 000-row map would cost a path walk each.
        return fileio.check_inside(path, self.folder.parent) if name in self._links else path


def _decode_line(raw: bytes, file_map: Path, line_no: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(file_map, f"line {line_no}", "UTF-8 text", raw[exc.start:exc.start + 8]) from None


def _is_header(fields: list[str]) -> bool:
    return all(f.strip().lower() in _HEADER_WORDS for f in fields)


def iter_modest(root: str | os.PathLike) -> Iterator[ModestRecord]:
    """Yield MODEST records one ``file_map.txt`` line at a time (see :func:`load_modest`)."""
    root = Path(root)
    file_map = root / "file_map.txt"
    if not file_map.is_file():
        raise DataFormatError(file_map, "", "the MODEST file_map.txt (tab-separated bg, bg_fg, mask, depth stems)")
    indexes = {column: _FolderIndex(root / folder) for column, folder in COLUMNS}
    with open(file_map, "rb") as fh:  # bytes, decoded per line: a bad byte is named with its line
        for line_no, raw in enumerate(fh, start=1):
            text = _decode_line(raw, file_map, line_no).rstrip("\r\n")
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            fields = text.split("\t")
            if line_no == 1 and _is_header(fields):
                continue
            if len(fields) != len(COLUMNS) or not all(f.strip() for f in fields):
                raise DataFormatError(
                    file_map, f"line {line_no}", "4 non-empty tab-separated stems: bg, bg_fg, mask, depth", text
                )
            paths = {
                column: indexes[column].resolve(stem.strip(), file_map, f"line {line_no} column {i} ({column})")
                for i, ((column, _), stem) in enumerate(zip(COLUMNS, fields), start=1)
            }
            yield ModestRecord(name=fields[1].strip(), line=line_no, **paths)


def load_modest(root: str | os.PathLike, limit: int | None = None) -> list[ModestRecord]:
    """Read the records of a MODEST folder from its ``file_map.txt``.

    Only paths are resolved; no image is opened.

    Args:
        root: the dataset folder holding ``file_map.txt`` and the image folders.
        limit: keep only the first ``limit`` records (the file is read no further).

    Returns:
        The records in file order.

    Raises:
        DataFormatError: a missing file_map, a line without 4 tab-separated stems, a stem with no
            (or more than one) image in its folder, or a stem escaping the folder (errors name the
            file_map line and column); an image that is a symlink leading outside ``root``.
    """
    return list(islice(iter_modest(root), limit))


def to_samples(records: list[ModestRecord]) -> list[dict[str, str]]:
    """Samples for :func:`comicdepth_tf.data.pipelines.make_dataset`: keys ``bg``, ``bg_fg``,
    ``mask``, ``depth`` (paths) and ``depth_codec``."""
    return [r.to_sample() for r in records]


def channel_statistics(
    records: list[ModestRecord], n: int = 100, keys: tuple[str, ...] = ("bg", "bg_fg"), seed: int = 0
) -> dict[str, dict[str, list[float]]]:
    """Per-channel mean and standard deviation of RGB images in [0, 1], for input normalisation.

    Args:
        records: the dataset's records.
        n: how many records to sample (all when fewer).
        keys: which images of each record to measure (``bg``, ``bg_fg``).
        seed: seed of the sample.

    Returns:
        ``{key: {"mean": [r, g, b], "std": [r, g, b]}}`` over all pixels of the sampled images.
    """
    if not records:
        raise ValueError("channel_statistics needs at least one record")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(records), size=min(n, len(records)), replace=False)
    stats = {}
    for key in keys:
        total = np.zeros(3)
        total_sq = np.zeros(3)
        count = 0
        for i in sorted(chosen):
            pixels = fileio.read_image(getattr(records[i], key)).reshape(-1, 3).astype(np.float64) / 255.0
            total += pixels.sum(axis=0)
            total_sq += np.square(pixels).sum(axis=0)
            count += pixels.shape[0]
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
        stats[key] = {"mean": mean.tolist(), "std": std.tolist()}
    return stats
