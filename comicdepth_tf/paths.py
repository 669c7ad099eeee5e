"""Where things live: the repository folders and the embedded dataset layout.

Every folder can be moved with an environment variable so that Colab users and tests can
point the package elsewhere without editing code.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: The repository root when running from a checkout; the current folder otherwise.
REPO_DIR = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").exists() else Path.cwd()


def _env_dir(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    """Root of datasets (``COMICDEPTH_DATA``, default ``<repo>/data``)."""
    return _env_dir("COMICDEPTH_DATA", REPO_DIR / "data")


def models_dir() -> Path:
    """Root of saved runs (``COMICDEPTH_MODELS``, default ``<repo>/saved_models``)."""
    return _env_dir("COMICDEPTH_MODELS", REPO_DIR / "saved_models")


def reports_dir() -> Path:
    """Root of executed notebooks and reports (``COMICDEPTH_REPORTS``, default ``<repo>/reports``)."""
    return _env_dir("COMICDEPTH_REPORTS", REPO_DIR / "reports")


def notebooks_dir() -> Path:
    """The numbered notebooks shipped with the repository."""
    return REPO_DIR / "notebooks"


def params_dir() -> Path:
    """Parameter profiles: ``params/<notebook>/<profile>.yaml``."""
    return REPO_DIR / "params"


def embedded_dir(profile: str = "cpu") -> Path:
    """Folder of the embedded synthetic dataset generated for ``profile``."""
    return data_dir() / "embedded" / profile


def real_data_dir() -> Path | None:
    """The shared folder of real check files (``COMICDEPTH_REAL_DATA``), or None when absent."""
    candidates = [os.environ.get("COMICDEPTH_REAL_DATA"), REPO_DIR.parent / "shared" / "data" / "real"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c).resolve()
    return None
