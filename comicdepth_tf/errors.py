"""Error types that name the file, the field and what was expected."""

from __future__ import annotations

import os
from typing import Any


class DataFormatError(ValueError):
    """Bad input data: names the file, the field and what was expected.

    Args:
        path: the file (or folder) that holds the bad value.
        field: the field, key, line or element that is wrong (``""`` when the whole file is).
        expected: what a valid value looks like.
        got: what was found instead (optional, shortened in the message).
    """

    def __init__(self, path: str | os.PathLike, field: str, expected: str, got: Any = None):
        self.path = os.fspath(path)
        self.field = field
        self.expected = expected
        self.got = got
        where = f"{self.path}" + (f": field '{field}'" if field else "")
        msg = f"{where}: expected {expected}"
        if got is not None:
            text = repr(got)
            if len(text) > 120:
                text = text[:117] + "..."
            msg += f", got {text}"
        super().__init__(msg)


class ParameterError(ValueError):
    """A run or notebook parameter is unknown or has the wrong type."""


class TrainingDivergedError(RuntimeError):
    """A training run's losses became NaN or infinite; the run folder keeps its last finite epoch.

    Args:
        run_dir: the run folder.
        epoch: the epoch (1-based) whose logs were not finite.
        keys: the log entries that were not finite.
        kept: epochs finished in the checkpoint left on disk.
    """

    def __init__(self, run_dir: str | os.PathLike, epoch: int, keys: list[str], kept: int):
        self.run_dir, self.epoch, self.keys, self.kept = os.fspath(run_dir), int(epoch), list(keys), int(kept)
        super().__init__(
            f"{self.run_dir}: training diverged at epoch {self.epoch} (not finite: {', '.join(self.keys)}); "
            f"the checkpoint and networks on disk are those of epoch {self.kept}. Lower the learning "
            f"rate or change the seed, then start a new run (resuming would replay the same steps)."
        )


class OutputConflictError(FileExistsError):
    """A command refused to write an output file: it is one of the run's inputs, or it existed before the run.

    Args:
        path: the output file that was not written.
        source: the input whose output it would have been.
        expected: what an acceptable output path is.
    """

    def __init__(self, path: str | os.PathLike, source: str | os.PathLike, expected: str):
        self.path, self.source, self.expected = os.fspath(path), os.fspath(source), expected
        super().__init__(f"{self.path}: output of {self.source} not written: expected {expected}")
