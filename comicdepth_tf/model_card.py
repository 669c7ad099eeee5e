"""``MODEL_CARD.md``: what a saved run's model takes, what it returns, how it was trained, how to load it.

Written beside ``model.keras`` by :func:`comicdepth_tf.models.registry.save_model` and beside the
networks of a GAN run, from the run's own ``config.json`` and ``metrics.json``, so a run folder
copied anywhere explains itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from comicdepth_tf.fileio import atomic_write_text

CARD_FILE = "MODEL_CARD.md"

#: What each depth-head convention means (see :class:`comicdepth_tf.models.layers.DepthHead`).
OUTPUTS = {
    "metric": "depth in metres, in (min_depth, max_depth); larger is farther",
    "inverse": "positive disparity-like values (softplus); larger is nearer; no metric scale",
    "relative": "relative depth in (0, 1); align scale and shift per image before comparing",
}
_INPUT = "RGB float32 in [0, 1], shape (batch, height, width, 3); the model rescales internally"
_DATA_KEYS = ("data_source", "data_root", "data_counts", "PROFILE", "DATA_DIR", "SEED")
_MAX_METRICS = 12


def _output_line(info: Mapping[str, Any]) -> str:
    convention = info.get("output")
    if convention in OUTPUTS:
        extra = f" (min {info.get('min_depth')}, max {info.get('max_depth')})" if convention == "metric" else ""
        return f"`{convention}`: {OUTPUTS[convention]}{extra}"
    return "see the model's last layer and the notebook that trained it"


def _metric_lines(metrics: Mapping[str, Any]) -> list[str]:
    numbers = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    lines = [f"- `{k}`: {v:.4g}" for k, v in numbers[:_MAX_METRICS]]
    if len(numbers) > _MAX_METRICS:
        lines.append(f"- … {len(numbers) - _MAX_METRICS} more in `metrics.json`")
    return lines or ["- none recorded"]


def card_text(run_dir: str | os.PathLike, config: Mapping[str, Any], metrics: Mapping[str, Any] | None = None,
              files: list[str] | None = None, output: str | None = None) -> str:
    """The Markdown model card of a run.

    Args:
        run_dir: the run folder (its name heads the card).
        config: the run's configuration (``model_info`` read for input and output).
        metrics: the run's metrics.
        files: the model files of the run (default: every ``*.keras`` in ``run_dir``).
        output: what the model returns, when no depth head says it (e.g. a GAN's images).
    """
    run_dir = Path(run_dir)
    info = config.get("model_info") or {}
    files = files if files is not None else sorted(p.name for p in run_dir.glob("*.keras"))
    data = {k: config[k] for k in _DATA_KEYS if config.get(k) not in (None, "")}
    first = "model.keras" if "model.keras" in files or not files else files[0]
    lines = [
        f"# Model card: {config.get('model', info.get('name', run_dir.parent.name))} · run `{run_dir.name}`",
        "",
        f"- **Files**: {', '.join(f'`{f}`' for f in files) or 'none yet'}",
        f"- **Architecture**: {info.get('name', 'see config.json')}"
        + (f", encoder `{info['encoder']}`" if info.get("encoder") else "")
        + (f", {info['params']:,} parameters" if info.get("params") else ""),
        f"- **Input**: {_INPUT}; declared shape {info.get('input_shape', 'see config.json')}"
        + (f"; trained at {config['input_size']}" if config.get("input_size") else ""),
        f"- **Output**: {output or _output_line(info)}",
        f"- **Training data**: {json.dumps(data) if data else 'see config.json'}",
        "",
        "## Metrics",
        *_metric_lines(metrics or {}),
        "",
        "## How to load",
        "```python",
        "import comicdepth_tf, keras  # importing comicdepth_tf registers its layers, losses and metrics",
        f'model = keras.saving.load_model("{first}")  # best.keras / last.keras load the same way',
        "depth = model.predict(images)  # images: " + _INPUT.split(";")[0],
        "```",
        "`config.json` holds every parameter of the run; `comicdepth predict --run <this folder>` runs it on files.",
        "",
    ]
    return "\n".join(lines)


def write_model_card(run_dir: str | os.PathLike, config: Mapping[str, Any], metrics: Mapping[str, Any] | None = None,
                     files: list[str] | None = None, output: str | None = None) -> Path:
    """Write ``MODEL_CARD.md`` into ``run_dir`` atomically (arguments as :func:`card_text`); returns its path."""
    path = Path(run_dir) / CARD_FILE
    atomic_write_text(path, card_text(run_dir, config, metrics, files, output))
    return path
