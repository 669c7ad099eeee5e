"""Seeded mutation fuzzing of the dataset loaders (used by ``test_fuzz_loaders.py``).

A run starts from one valid file written in the real format and applies random mutations:
byte-level (truncation, bit flips, inserted, deleted and duplicated slices, odd bytes), line-
and field-level for text formats (deleted, duplicated, swapped and joined lines, fields
replaced by hostile tokens), tree-level for JSON (deleted and duplicated keys, type swaps,
huge, negative and non-finite numbers, deep nesting) and attribute-level for XML.

Each mutation must end in a valid record or a :class:`DataFormatError` naming a file of the
dataset; anything else, or a call slower than the time bound, is an *escape*. Usage::

    report = fuzz("ordering", original_bytes, write, load, mutate_text, n=300, seed=0, root=root)
    assert not report.escapes, report.summary()
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import resource
import signal
import struct
import time
import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from comicdepth_tf.errors import DataFormatError

#: Environment variable raising the number of mutations per loader (CI: :data:`DEFAULT_N`).
FUZZ_N_ENV = "COMICDEPTH_FUZZ_N"
DEFAULT_N = 300
#: Environment variable changing the seed (CI: the test's fixed seed), to explore other mutations locally.
FUZZ_SEED_ENV = "COMICDEPTH_FUZZ_SEED"
#: Longest a single load may take, in seconds (a valid load of these small files takes milliseconds).
TIME_LIMIT_S = 5.0

#: Field values that broke parsers elsewhere: empty, signs, huge and long numbers, digit
#: separators, non-ASCII digits, non-finite floats, NUL, path escapes, very long names.
TOKENS = ["", "-1", "0", "1", "+5", "-0", "3.5", "1e309", "nan", "inf", "0x1f", "1_0", "\u0663",
          "9" * 30, "9" * 5000, "\x00", "a\x00b", "\u00e9", " ", "../../etc/passwd", "/etc/passwd",
          "x" * 300, "y" * 5000, "#", "\t\t"]
#: JSON values swapped in for any node.
JSON_VALUES: list[Any] = [None, True, False, 0, -1, -(10**6), 10**40, 1e308, float("inf"), float("nan"), 0.5,
                          "", "1", "9" * 5000, "\x00", [], {}, [[]], [None], {"": None}, "a" * 10_000]
BYTE_TOKENS = [b"\x00", b"\xff", b"\xff\xfe", b"\xc3\x28", b"\x80", b"9" * 40, b"-1", b"1e999", b"NaN",
               b"\r\n", b"\n" * 3, b'"', b"<", b">", b"&", b",", b"\t"]


class _Hang(BaseException):
    """Raised by the alarm when a load runs past :data:`TIME_LIMIT_S` (BaseException: no loader swallows it)."""


@dataclass
class FuzzReport:
    """Outcome counts of one loader's fuzz run."""

    loader: str
    seed: int
    tried: int = 0
    valid: int = 0
    errors: int = 0
    escapes: list[str] = field(default_factory=list)
    slowest_s: float = 0.0
    rss_growth_mb: float = 0.0

    def summary(self) -> str:
        """One line: the loader, the mutations tried and every outcome count."""
        text = (f"fuzz {self.loader}: {self.tried} mutations (seed {self.seed}): {self.valid} valid, "
                f"{self.errors} DataFormatError, {len(self.escapes)} escapes; slowest {self.slowest_s:.3f} s, "
                f"peak RSS +{self.rss_growth_mb:.0f} MB")
        return text + "".join(f"\n  {e}" for e in self.escapes[:10])


def mutation_count() -> int:
    """Mutations per loader: ``$COMICDEPTH_FUZZ_N`` when set, else :data:`DEFAULT_N`."""
    return int(os.environ.get(FUZZ_N_ENV) or DEFAULT_N)


def mutation_seed(default: int) -> int:
    """The seed of a fuzz run: ``$COMICDEPTH_FUZZ_SEED`` when set, else ``default``."""
    return int(os.environ.get(FUZZ_SEED_ENV) or default)


# --------------------------------------------------------------------------- byte level


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One byte-level mutation of ``data``."""
    if not data:
        return rng.choice(BYTE_TOKENS)
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randint(1, 64))
    op = rng.randrange(7)
    if op == 0:  # truncation
        return data[:i]
    if op == 1:  # bit flips
        out = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)
    if op == 2:  # an odd byte sequence in place of a slice
        return data[:i] + rng.choice(BYTE_TOKENS) + data[j:]
    if op == 3:  # inserted random bytes
        return data[:i] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + data[i:]
    if op == 4:  # deleted slice
        return data[:i] + data[j:]
    if op == 5:  # duplicated slice
        return data[:j] + data[i:j] + data[j:]
    out = bytearray(data)  # one byte set to an extreme value
    out[i] = rng.choice((0x00, 0x7F, 0x80, 0xFF))
    return bytes(out)


# --------------------------------------------------------------------------- PNG chunk level

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: IHDR sizes to declare: empty, one pixel, beyond the pixel limit, beyond PNG's own 2^31 - 1.
_PNG_SIDES = (0, 1, 3, 1000, 30000, 65535, 2**31 - 1, 2**32 - 1)


def _png_chunks(data: bytes) -> list[list[bytes]]:
    chunks, pos = [], len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunks.append([kind, data[pos + 8:pos + 8 + length]])
        pos += 12 + length
    return chunks


def _png_bytes(chunks: list[list[bytes]]) -> bytes:
    out = _PNG_SIGNATURE
    for kind, body in chunks:  # CRCs recomputed: the mutation reaches the decoder, not only its CRC check
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    return out


def png_mutator(byte_share: float = 0.4) -> Callable[[bytes, random.Random], bytes]:
    """A mutator of PNG files: IHDR fields (size, bit depth, colour type) and chunk bodies changed with
    valid CRCs, chunks dropped or doubled, or a plain byte mutation with ``byte_share``."""

    def mutate(data: bytes, rng: random.Random) -> bytes:
        chunks = _png_chunks(data)
        if rng.random() < byte_share or not chunks:
            return mutate_bytes(data, rng)
        k = rng.randrange(len(chunks))
        op = rng.randrange(4)
        if op == 0 and chunks[0][0] == b"IHDR":
            width, height, *rest = struct.unpack(">IIBBBBB", chunks[0][1])
            which = rng.randrange(3)
            if which == 0:
                width = rng.choice(_PNG_SIDES)
            elif which == 1:
                height = rng.choice(_PNG_SIDES)
            else:  # bit depth or colour type
                rest[rng.randrange(2)] = rng.choice((0, 1, 2, 3, 4, 6, 8, 16, 255))
            chunks[0][1] = struct.pack(">IIBBBBB", width, height, *rest)
        elif op == 1:
            chunks[k][1] = mutate_bytes(chunks[k][1], rng)
        elif op == 2:
            del chunks[k]
        else:
            chunks.insert(k, list(chunks[k]))
        return _png_bytes(chunks)

    return mutate


# --------------------------------------------------------------------------- text level


def _mutate_fields(line: str, rng: random.Random, sep: str | None) -> str:
    fields = line.split(sep)
    k = rng.randrange(len(fields))
    op = rng.randrange(4)
    if op == 0:
        fields[k] = rng.choice(TOKENS)
    elif op == 1:
        del fields[k]
    elif op == 2:
        fields.insert(k, rng.choice(TOKENS + fields))
    else:  # a number pushed to an extreme
        fields[k] = rng.choice(("-", "")) + rng.choice(("1" * 19, str(2**63), str(2**31), "10000000", fields[k] * 3))
    return (sep or " ").join(fields)


def mutate_text(data: bytes, rng: random.Random, sep: str | None = None) -> bytes:
    """One line- or field-level mutation of a line-based text file (``sep`` splits fields; None: whitespace)."""
    lines = data.decode("utf-8").split("\n")
    i = rng.randrange(len(lines))
    op = rng.randrange(8)
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(i, lines[i])
    elif op == 2:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == 3 and i + 1 < len(lines):
        lines[i:i + 2] = [lines[i] + rng.choice((" ", "\t", "")) + lines[i + 1]]
    elif op == 4:
        lines.insert(i, rng.choice(("", "   ", "#", "\x00", "\ufeff", rng.choice(TOKENS))))
    elif op == 5:
        lines = [ln + "\r" for ln in lines]
    elif lines[i].strip():
        lines[i] = _mutate_fields(lines[i], rng, sep)
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def text_mutator(sep: str | None = None, byte_share: float = 0.3) -> Callable[[bytes, random.Random], bytes]:
    """A mutator of line-based text: 1–3 line/field mutations, or a byte mutation with ``byte_share``."""

    def mutate(data: bytes, rng: random.Random) -> bytes:
        if rng.random() < byte_share:
            return mutate_bytes(data, rng)
        for _ in range(rng.randint(1, 3)):
            try:
                data = mutate_text(data, rng, sep)
            except UnicodeDecodeError:
                return mutate_bytes(data, rng)
        return data

    return mutate


# --------------------------------------------------------------------------- JSON tree level


class _Raw(str):
    """JSON text written as is: a number too long for ``json.dumps`` (which refuses > 4300 digits)."""


def _value(rng: random.Random) -> Any:
    return copy.deepcopy(rng.choice(JSON_VALUES))  # never share a mutable value between mutations


class _Duplicated(dict):
    """A JSON object written with one of its keys twice (``json.loads`` keeps the last)."""

    def __init__(self, items: dict, key: str, first: Any):
        super().__init__(items)
        self.key, self.first = key, first


def _dump(node: Any) -> str:
    if isinstance(node, _Raw):
        return str(node)
    if isinstance(node, _Duplicated):
        pairs = [(node.key, node.first)] + list(node.items())
        return "{" + ", ".join(f"{json.dumps(k)}: {_dump(v)}" for k, v in pairs) + "}"
    if isinstance(node, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {_dump(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(_dump(v) for v in node) + "]"
    return json.dumps(node)  # NaN and Infinity are written as Python's json reads them


def _containers(node: Any, out: list) -> list:
    if isinstance(node, (dict, list)):
        out.append(node)
        for child in (node.values() if isinstance(node, dict) else node):
            _containers(child, out)
    return out


def _swap_number(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _value(rng)
    return rng.choice(
        (-value, value * 10 ** rng.randint(3, 40), value + 0.5, value - 1, 2**63, -(2**63), _Raw("9" * 5000))
    )


def _mutate_tree(root: Any, rng: random.Random) -> Any:
    container = rng.choice(_containers(root, []))
    keys = list(container) if isinstance(container, dict) else list(range(len(container)))
    if not keys:
        if isinstance(container, list):
            container.append(_value(rng))
        else:
            container[rng.choice(("id", "x", ""))] = _value(rng)
        return root
    key = rng.choice(keys)
    op = rng.randrange(6)
    if op == 0:
        del container[key]
    elif op == 1:
        container[key] = _value(rng)
    elif op == 2:
        container[key] = _swap_number(container[key], rng)
    elif op == 3 and isinstance(container, list):
        container.insert(key, json.loads(json.dumps(container[key])))  # a duplicated record
    elif op == 3:
        swapped = _Duplicated(container, key, _value(rng))
        container.clear()
        container.update({"__dup__": swapped})
    elif op == 4:
        container[key] = [container[key]] if rng.random() < 0.5 else {"value": container[key]}
    elif not isinstance(container[key], _Raw):
        container[key] = str(container[key])
    return root


def _unwrap_duplicates(node: Any) -> Any:
    """Replace the ``{"__dup__": …}`` markers by the duplicated-key objects themselves."""
    if isinstance(node, dict) and not isinstance(node, _Duplicated) and set(node) == {"__dup__"}:
        return _unwrap_duplicates(node["__dup__"])
    if isinstance(node, _Duplicated):
        inner = _Duplicated({k: _unwrap_duplicates(v) for k, v in node.items()}, node.key, node.first)
        return inner
    if isinstance(node, dict):
        return {k: _unwrap_duplicates(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_unwrap_duplicates(v) for v in node]
    return node


def json_mutator(byte_share: float = 0.25) -> Callable[[bytes, random.Random], bytes]:
    """A mutator of JSON files: 1–3 tree mutations, deep nesting, or a byte mutation with ``byte_share``."""

    def mutate(data: bytes, rng: random.Random) -> bytes:
        roll = rng.random()
        if roll < byte_share:
            return mutate_bytes(data, rng)
        if roll < byte_share + 0.02:  # nesting deeper than the parser's recursion limit
            return b"[" * 50_000 + data + b"]" * 50_000
        tree = json.loads(data)
        for _ in range(rng.randint(1, 3)):
            tree = _mutate_tree(tree, rng)
        return _dump(_unwrap_duplicates(tree)).encode("utf-8", "surrogatepass")

    return mutate


# --------------------------------------------------------------------------- XML attribute level

_ATTRIBUTE = re.compile(r'(\s[\w:-]+)="([^"]*)"')


def xml_mutator(byte_share: float = 0.3) -> Callable[[bytes, random.Random], bytes]:
    """A mutator of XML: attribute values replaced, attributes deleted or doubled, lines mutated, or bytes."""

    def mutate(data: bytes, rng: random.Random) -> bytes:
        if rng.random() < byte_share:
            return mutate_bytes(data, rng)
        text = data.decode("utf-8")
        matches = list(_ATTRIBUTE.finditer(text))
        if not matches or rng.random() < 0.2:
            return mutate_text(data, rng)
        m = rng.choice(matches)
        name, value = m.group(1), m.group(2)
        op = rng.randrange(4)
        if op == 0:
            new = f'{name}="{rng.choice(TOKENS + ["1e30", "-5", "0,0 1,1", value * 50])}"'
        elif op == 1:
            new = ""
        elif op == 2:
            new = m.group(0) + m.group(0)  # a duplicated attribute: not well-formed
        else:
            numbers = re.sub(r"\d+", lambda d: rng.choice((d.group(0), "-" + d.group(0), "9" * 25, "1e30")), value)
            new = f'{name}="{numbers}"'
        return (text[:m.start()] + new + text[m.end():]).encode("utf-8", "surrogatepass")

    return mutate


# --------------------------------------------------------------------------- driver


def _alarm(_signum, _frame):
    raise _Hang()


def _names_the_dataset(err: DataFormatError, root: Path) -> bool:
    return os.fspath(err.path).startswith(os.fspath(root))


def _classify(report: FuzzReport, load: Callable[[], Any], root: Path, label: str) -> None:
    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
    try:
        load()
        report.valid += 1
    except DataFormatError as err:
        if _names_the_dataset(err, root):
            report.errors += 1
        else:
            report.escapes.append(f"{label}: DataFormatError naming {err.path!r}, outside {root}")
    except _Hang:
        report.escapes.append(f"{label}: still running after {TIME_LIMIT_S} s")
    except Exception as exc:  # noqa: BLE001 (every other type is the escape the fuzz looks for)
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if "comicdepth_tf" in f.filename] or frames  # the package line that let it out
        report.escapes.append(f"{label}: {type(exc).__name__}: {str(exc)[:160]!r} at "
                              f"{Path(ours[-1].filename).name}:{ours[-1].lineno}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    elapsed = time.monotonic() - start
    report.slowest_s = max(report.slowest_s, elapsed)
    if elapsed > TIME_LIMIT_S:  # C code the alarm could not interrupt
        report.escapes.append(f"{label}: took {elapsed:.1f} s")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kilobytes on Linux


def fuzz(loader: str, original: bytes, write: Callable[[bytes], None], load: Callable[[], Any],
         mutate: Callable[[bytes, random.Random], bytes], *, root: Path, n: int | None = None,
         seed: int = 0) -> FuzzReport:
    """Apply ``n`` seeded mutations of ``original`` and classify what ``load`` does with each.

    Args:
        loader: the loader's name, for the summary.
        original: the valid file's bytes.
        write: puts a mutated file in place (the dataset is otherwise left untouched).
        load: loads the dataset; returns a record or raises.
        mutate: one mutation: ``(bytes, rng) -> bytes``.
        root: the dataset folder; a :class:`DataFormatError` must name a file under it.
        n: mutations to try (default: :func:`mutation_count`).
        seed: seed of the mutations (mutation ``i`` uses ``Random(f"{seed}-{i}")``: reproducible alone).

    Returns:
        The :class:`FuzzReport`; ``escapes`` lists each mutation that ended otherwise.
    """
    n = mutation_count() if n is None else n
    report = FuzzReport(loader, seed)
    rss_before = _peak_rss_mb()
    for i in range(n):
        rng = random.Random(f"{seed}-{i}")
        data = mutate(original, rng)
        write(data)
        report.tried += 1
        _classify(report, load, root, f"mutation {i} ({len(data)} bytes)")
    write(original)
    report.rss_growth_mb = _peak_rss_mb() - rss_before
    return report
