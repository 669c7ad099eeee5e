"""NYU Depth v2 in the Kaggle layout (``nyu_data/``): CSV lists of RGB + depth PNG pairs.

::

    <root>/data/nyu2_train.csv        no header: data/nyu2_train/<scene>/<i>.jpg,data/nyu2_train/<scene>/<i>.png
    <root>/data/nyu2_test.csv         no header: data/nyu2_test/<i>_colors.png,data/nyu2_test/<i>_depth.png

Paths in the CSVs are relative to ``<root>``, the folder that *contains* ``data/``. Train depth
is 8-bit (metres = v / 255 * 10, codec ``nyu_png8_10m``); test depth is 16-bit millimetres
(codec ``png16_mm``). The codec follows the CSV's name; the first row's depth bit depth is
checked against it, so a mislabelled file fails at load time instead of decoding to nonsense.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from comicdepth_tf import fileio
from comicdepth_tf.data.formats.rgbd import RGBDRecord
from comicdepth_tf.data.formats.rgbd import to_samples as _rgbd_to_samples
from comicdepth_tf.errors import DataFormatError

#: Depth codec by bit depth of the depth PNGs.
CODEC_BY_BITS = {8: "nyu_png8_10m", 16: "png16_mm"}
BITS_BY_CODEC = {codec: bits for bits, codec in CODEC_BY_BITS.items()}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_bit_depth(path: str | os.PathLike) -> int:
    """Bits per sample of an image, read from the PNG header (other formats are decoded)."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(26)
    if head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR" and len(head) >= 25:
        return int(head[24])
    return fileio.read_raw(path).dtype.itemsize * 8


def _codec_from_name(csv_path: Path) -> str | None:
    name = csv_path.stem.lower()
    if "train" in name:
        return "nyu_png8_10m"
    if "test" in name:
        return "png16_mm"
    return None


def _default_root(csv_path: Path) -> Path:
    # Kaggle CSVs live in <root>/data/ and list paths starting with "data/".
    parent = csv_path.resolve().parent
    return parent.parent if parent.name == "data" else parent


def _read_rows(csv_path: Path) -> list[tuple[int, list[str]]]:
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            rows = [(n, row) for n, row in enumerate(csv.reader(fh), start=1)]
    except FileNotFoundError:
        raise DataFormatError(csv_path, "", "an existing NYU CSV file (nyu2_train.csv / nyu2_test.csv)") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataFormatError(csv_path, "", f"a UTF-8 CSV of path pairs ({exc})") from None
    return [(n, row) for n, row in rows if any(cell.strip() for cell in row)]


def load_nyu_csv(
    csv_path: str | os.PathLike, root: str | os.PathLike | None = None, codec: str | None = None
) -> list[RGBDRecord]:
    """Read a Kaggle NYU CSV into RGB-D records.

    Args:
        csv_path: ``nyu2_train.csv`` or ``nyu2_test.csv``.
        root: folder the CSV's relative paths start from; default: the folder holding ``data/``.
        codec: depth codec override; by default ``nyu_png8_10m`` for a name with "train",
            ``png16_mm`` for "test", otherwise chosen from the first depth PNG's bit depth.

    Returns:
        One record per row, in file order; names are the RGB path without ``data/`` and extension.

    Raises:
        DataFormatError: missing CSV, a row without exactly two columns, a path escaping ``root``,
            a missing file (naming the line and column), or a depth bit depth that contradicts
            the codec.
    """
    csv_path = Path(csv_path)
    root = Path(root).resolve() if root is not None else _default_root(csv_path)
    rows = _read_rows(csv_path)
    if not rows:
        raise DataFormatError(csv_path, "", "at least one 'rgb,depth' row")
    records = []
    for line, row in rows:
        if len(row) != 2:
            raise DataFormatError(
                csv_path, f"line {line}", "2 columns (rgb path, depth path)", f"{len(row)} columns: {row}"
            )
        paths = []
        for column, (label, cell) in enumerate(zip(("rgb", "depth"), row), start=1):
            field = f"line {line} column {column} ({label})"
            path = fileio.safe_join(root, cell.strip(), csv_path, field)
            if not path.is_file():
                raise DataFormatError(csv_path, field, f"an existing {label} file under {root}", cell.strip())
            paths.append(path)
        name = os.path.splitext(row[0].strip())[0]
        name = name[len("data/") :] if name.startswith("data/") else name
        records.append(RGBDRecord(paths[0], paths[1], codec or "", name))
    chosen = codec or _codec_from_name(csv_path)
    first_line, first_depth = rows[0][0], records[0].depth_path
    bits = png_bit_depth(first_depth)
    if chosen is None:
        if bits not in CODEC_BY_BITS:
            raise DataFormatError(first_depth, "bit depth", "an 8-bit or 16-bit depth PNG", bits)
        chosen = CODEC_BY_BITS[bits]
    expected_bits = BITS_BY_CODEC.get(chosen)
    if expected_bits is not None and bits != expected_bits:
        other = CODEC_BY_BITS.get(bits)
        hint = f"; pass codec='{other}' if the file is right" if other else ""
        raise DataFormatError(
            csv_path,
            f"line {first_line} column 2 (depth)",
            f"a {expected_bits}-bit depth PNG for codec '{chosen}'{hint}",
            f"{bits}-bit {first_depth}",
        )
    return [RGBDRecord(r.rgb_path, r.depth_path, chosen, r.name) for r in records]


def find_nyu(root: str | os.PathLike) -> dict[str, Path]:
    """Find the Kaggle NYU CSVs under ``root``.

    Looks in ``root/data``, ``root``, ``root/nyu_data/data`` and ``root/nyu/data``.

    Returns:
        ``{"train": csv, "test": csv}`` with the splits that exist (at least one).

    Raises:
        DataFormatError: when no ``nyu2_train.csv`` or ``nyu2_test.csv`` is found (names where it looked).
    """
    root = Path(root)
    places = [root / "data", root, root / "nyu_data" / "data", root / "nyu" / "data"]
    for place in places:
        found = {split: place / f"nyu2_{split}.csv" for split in ("train", "test")}
        found = {split: path for split, path in found.items() if path.is_file()}
        if found:
            return found
    raise DataFormatError(
        root,
        "",
        "a NYU Kaggle folder with data/nyu2_train.csv or data/nyu2_test.csv",
        f"nothing in {[str(p) for p in places]}",
    )


def load_nyu(root: str | os.PathLike) -> dict[str, list[RGBDRecord]]:
    """Records of every split found by :func:`find_nyu` (``"train"``, ``"test"``)."""
    return {split: load_nyu_csv(path) for split, path in find_nyu(root).items()}


def to_samples(records: list[RGBDRecord]) -> list[dict[str, str]]:
    """Samples for :func:`comicdepth_tf.data.pipelines.make_dataset` (keys ``image``, ``depth``, ``depth_codec``)."""
    return _rgbd_to_samples(records)
