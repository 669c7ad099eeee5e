"""Where things live: the repository folders and the embedded dataset layout.

From a checkout, data, models and reports live in the repository; from an installed package
(``pip install``) under the current folder; ``COMICDEPTH_HOME`` moves all three, and each can be
moved alone with its own variable, so that Colab users and tests can point the package
elsewhere without editing code. The notebooks and their parameter profiles come from the
checkout, or from the copies inside the installed package.
"""

from __future__ import annotations

import os
from pathlib import Path

from comicdepth_tf.errors import ParameterError

PACKAGE_DIR = Path(__file__).resolve().parent
#: The repository root when running from a checkout (editable install or PYTHONPATH), else None.
CHECKOUT_DIR = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").exists() \
    and (PACKAGE_DIR.parent / "notebooks").is_dir() else None


def _env_dir(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def home_dir() -> Path:
    """Where data, models and reports go: ``COMICDEPTH_HOME``, else the checkout, else the current folder."""
    return _env_dir("COMICDEPTH_HOME", CHECKOUT_DIR or Path.cwd().resolve())


def data_dir() -> Path:
    """Root of datasets (``COMICDEPTH_DATA``, default ``<home>/data``)."""
    return _env_dir("COMICDEPTH_DATA", home_dir() / "data")


def models_dir() -> Path:
    """Root of saved runs (``COMICDEPTH_MODELS``, default ``<home>/saved_models``).

    A world other than ``street`` (:func:`world_name`) keeps its runs in ``<root>-<world>``
    beside it: run ids, ``latest-<profile>`` pointers and the stage ledger name no world, so in
    one folder a run of one world would resume or stand in for another's.
    """
    root = _env_dir("COMICDEPTH_MODELS", home_dir() / "saved_models")
    return root.with_name(_in_world(root.name, world_name()))


def reports_dir() -> Path:
    """Root of executed notebooks and reports (``COMICDEPTH_REPORTS``, default ``<home>/reports``)."""
    return _env_dir("COMICDEPTH_REPORTS", home_dir() / "reports")


def notebooks_dir() -> Path:
    """The numbered notebooks: the checkout's ``notebooks/``, else the installed package's copy."""
    return CHECKOUT_DIR / "notebooks" if CHECKOUT_DIR else PACKAGE_DIR / "notebooks"


def params_dir() -> Path:
    """Parameter profiles ``<notebook>/<profile>.yaml``: the checkout's ``params/``, else the package's copy."""
    return CHECKOUT_DIR / "params" if CHECKOUT_DIR else PACKAGE_DIR / "params"


#: The variable naming the embedded world (``comicdepth_tf.data.scene.WORLDS``) every stage reads.
WORLD_VAR = "COMICDEPTH_WORLD"
DEFAULT_WORLD = "street"


def world_name() -> str:
    """The embedded world this process uses: ``COMICDEPTH_WORLD``, default ``street``."""
    return os.environ.get(WORLD_VAR) or DEFAULT_WORLD


def embedded_dir(profile: str = "cpu", world: str | None = None) -> Path:
    """Folder of the embedded synthetic dataset generated for ``profile`` in ``world`` (default :func:`world_name`).

    The street world keeps the plain profile folder; another world gets ``<profile>-<world>``
    beside it, so that both datasets coexist (their runs too: :func:`models_dir`).
    """
    return data_dir() / "embedded" / _in_world(profile, world or world_name())


def _in_world(name: str, world: str) -> str:
    """``name`` for the street world, ``<name>-<world>`` for another (its own folder beside it)."""
    return name if world == DEFAULT_WORLD else f"{name}-{world}"


def default_real_data_dir() -> Path:
    """``<checkout or home>/../shared/data/real``: where the shared real files sit beside a checkout."""
    return (CHECKOUT_DIR or home_dir()).parent / "shared" / "data" / "real"


def real_data_dir() -> Path | None:
    """The shared folder of real check files: ``COMICDEPTH_REAL_DATA``, else the default beside a
    checkout when it exists, else None.

    Raises:
        ParameterError: ``COMICDEPTH_REAL_DATA`` is set to something that is not a folder (a typo
            must not quietly fall back to another folder's files).
    """
    chosen = os.environ.get("COMICDEPTH_REAL_DATA")
    if chosen:
        if not Path(chosen).is_dir():
            raise ParameterError(f"COMICDEPTH_REAL_DATA={chosen}: expected a folder of real files "
                                 f"(rgbd/, comics/), found {'a file' if Path(chosen).exists() else 'nothing'}")
        return Path(chosen).resolve()
    default = default_real_data_dir()
    return default.resolve() if default.is_dir() else None
