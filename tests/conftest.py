"""Shared fixtures: the embedded smoke dataset (generated once per session) and real check files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Runs the tests make (the runner's stage ledger included) never land in the checkout's saved_models/.
os.environ.setdefault("COMICDEPTH_MODELS", tempfile.mkdtemp(prefix="comicdepth-test-models-"))


def pytest_collection_modifyitems(config, items):
    """Notebook tests (papermill runs of the smoke chain) are slow tests too: ``-m "not slow"`` is
    the developer's fast loop, CI runs everything."""
    for item in items:
        if item.get_closest_marker("notebook") is not None:
            item.add_marker(pytest.mark.slow)
    # The smoke chain is the longest single piece: started first, the other workers share the rest
    # beside it rather than waiting for it at the end (python3 tasks.py test runs files on workers).
    items.sort(key=lambda item: "smoke_pipeline" not in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory) -> Path:
    """The embedded dataset on the ``smoke`` profile, generated once into a temporary folder."""
    from comicdepth_tf.data import synthetic

    root = tmp_path_factory.mktemp("embedded") / "smoke"
    return synthetic.ensure_dataset("smoke", root=root, seed=0)


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """``shared/data/real`` (RGB-D pairs and a comics page); tests using it skip when absent."""
    from comicdepth_tf.paths import real_data_dir

    found = real_data_dir()
    if found is None:
        pytest.skip("shared/data/real is not present")
    return found
