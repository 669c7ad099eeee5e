"""Depth encoder-decoder: sizes, save/load without custom_objects, output conventions, registry."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from model_checks import check_model  # noqa: E402

from comicdepth_tf import runs  # noqa: E402
from comicdepth_tf.errors import DataFormatError, ParameterError  # noqa: E402
from comicdepth_tf.models import encoders, registry  # noqa: E402
from comicdepth_tf.models.depth_unet import build_depth_unet  # noqa: E402
from comicdepth_tf.models.layers import DepthHead, batchnorm_layers  # noqa: E402

SIZES = [(75, 75), (96, 128), (131, 97)]


def _batch(h, w, n=2, seed=0):
    return np.random.default_rng(seed).random((n, h, w, 3), dtype=np.float32)


@pytest.fixture(scope="module")
def tiny_model():
    keras.utils.set_random_seed(0)
    return build_depth_unet("tiny", bn_momentum=0.9)


@pytest.fixture(scope="module")
def irv2_model():
    keras.utils.set_random_seed(0)
    return build_depth_unet("irv2", weights=None)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_tiny_model_any_size_and_save_load(tiny_model, size, tmp_path):
    (out,) = check_model(tiny_model, _batch(*size), tmp_path)
    assert out.shape == (2, *size, 1) and out.dtype == np.float32
    assert 1e-3 < out.min() and out.max() < 10.0


@pytest.mark.slow
def test_irv2_model_saves_and_loads(irv2_model, tmp_path):
    # predict is run eagerly here: tracing the 800-layer graph costs ~15 s on CPU, and graph
    # mode is already covered by the tiny model, which uses the same custom layers.
    (out,) = check_model(irv2_model, _batch(75, 75), tmp_path, eager_predict=True)
    assert out.shape == (2, 75, 75, 1)
    assert registry.model_info(irv2_model)["encoder"] == "irv2"


def test_irv2_pyramid_keys_strides_and_channels(irv2_model):
    encoder = irv2_model.get_layer("irv2_encoder")
    for h, w in [(75, 75), (96, 128)]:
        features = encoder(_batch(h, w, n=1))
        assert sorted(features) == list(encoders.PYRAMID_KEYS)
        hs, ws = encoders.irv2_feature_sizes(h), encoders.irv2_feature_sizes(w)
        for key, channels in zip(encoders.PYRAMID_KEYS, (64, 192, 320, 1088, 1536)):
            assert tuple(features[key].shape) == (1, hs[key], ws[key], channels), key
    assert encoders.irv2_feature_sizes(299) == {"P1": 147, "P2": 71, "P3": 35, "P4": 17, "P5": 8}


def test_mobilenetv2_model_pyramid_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_depth_unet("mobilenetv2", bn_momentum=0.9)
    encoder = model.get_layer("mobilenetv2_encoder")
    for h, w in [(96, 128), (75, 97)]:
        features = encoder(_batch(h, w, n=1))
        assert sorted(features) == list(encoders.PYRAMID_KEYS)
        sides = (math.ceil(h / 2), math.ceil(w / 2))  # the stem pads 'same'; later stride-2 blocks floor
        for key, channels in zip(encoders.PYRAMID_KEYS, (96, 144, 192, 576, 1280)):
            assert tuple(features[key].shape) == (1, *sides, channels), key
            sides = (sides[0] // 2, sides[1] // 2)
    (out,) = check_model(model, _batch(75, 97), tmp_path)
    assert out.shape == (2, 75, 97, 1)
    assert registry.model_info(model)["encoder"] == "mobilenetv2"
    assert all(layer.momentum == 0.9 for layer in batchnorm_layers(model))


def test_tiny_pyramid_has_the_same_keys_and_strides():
    encoder = encoders.build_encoder("tiny")
    features = encoder(_batch(75, 97, n=1))
    for key, stride in encoders.PYRAMID_STRIDES.items():
        assert tuple(features[key].shape[1:3]) == (math.ceil(75 / stride), math.ceil(97 / stride)), key
    assert len(batchnorm_layers(encoder)) == 10


@pytest.mark.parametrize("output", ["metric", "inverse", "relative"])
def test_output_conventions_are_stored_and_reloaded(output, tmp_path):
    model = registry.build_model(
        "depth_unet", encoder="tiny", output=output, max_depth=20.0, decoder_filters=(8, 8, 8, 8), attention=False
    )
    x = _batch(40, 56)
    out = np.asarray(model(x))
    if output == "metric":
        assert out.min() > 1e-3 and out.max() < 20.0
    elif output == "relative":
        assert out.min() > 0.0 and out.max() < 1.0
    else:
        assert out.min() > 0.0
    run = runs.new_run_dir("depth_tiny", "test-run", root=tmp_path)
    registry.save_model(model, run, {"profile": "smoke"}, {"delta1": 0.5})
    assert sorted(p.name for p in run.iterdir()) == ["MODEL_CARD.md", "config.json", "metrics.json", "model.keras"]
    card = (run / "MODEL_CARD.md").read_text()
    assert f"`{output}`" in card and "`delta1`: 0.5" in card and 'keras.saving.load_model("model.keras")' in card
    reloaded = registry.load_model(run)
    info = registry.model_info(reloaded)
    assert (info["output"], info["max_depth"], info["encoder"]) == (output, 20.0, "tiny")
    record = registry.read_run(run)
    assert record["metrics"] == {"delta1": 0.5}
    assert record["config"]["profile"] == "smoke" and record["config"]["model_info"]["output"] == output
    np.testing.assert_allclose(np.asarray(reloaded(x)), out, atol=1e-6)


def test_mixed_precision_model_outputs_float32():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_depth_unet("tiny", decoder_filters=(8, 8, 8, 8))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert model.get_layer("dec_up_P1").compute_dtype == "float16"
    out = model(_batch(32, 48))
    assert out.dtype == "float32" and isinstance(model.layers[-1], DepthHead)


def test_bad_names_and_weights_are_reported(tmp_path):
    with pytest.raises(ParameterError):
        registry.build_model("no_such_model")
    with pytest.raises(ParameterError):
        build_depth_unet("resnet")
    with pytest.raises(ParameterError):
        build_depth_unet("tiny", decoder_filters=(8, 8))
    with pytest.raises(ParameterError):
        encoders.build_encoder("tiny", weights="imagenet")
    with pytest.raises(ParameterError):
        encoders.build_encoder("irv2", input_shape=(64, 64, 3))
    with pytest.raises(DataFormatError, match="weights"):
        encoders.build_encoder("irv2", weights=tmp_path / "missing.weights.h5")
    with pytest.raises(DataFormatError, match="MobileNetV2"):
        (tmp_path / "bad.weights.h5").write_bytes(b"not hdf5")
        encoders.build_encoder("mobilenetv2", weights=tmp_path / "bad.weights.h5")
    with pytest.raises(ParameterError, match="mobilenetv2"):
        encoders.build_encoder("mobilenetv2", input_shape=(16, 16, 3))
    with pytest.raises(DataFormatError):
        registry.load_model(tmp_path)


def test_imagenet_download_failure_gives_a_clear_error(monkeypatch):
    # Keras builds the whole network before downloading; a stand-in that fails like the
    # download does keeps this test fast and offline-proof.
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: no internet")

    monkeypatch.setattr(keras.applications, "InceptionResNetV2", offline)
    monkeypatch.setattr(keras.applications, "MobileNetV2", offline)
    with pytest.raises(encoders.WeightsUnavailableError, match="weights=None") as err:
        encoders.build_encoder("irv2", input_shape=(75, 75, 3), weights="imagenet")
    assert "~/.keras/models" in str(err.value)
    with pytest.raises(encoders.WeightsUnavailableError, match="mobilenet_v2_weights_tf_dim_ordering"):
        encoders.build_encoder("mobilenetv2", input_shape=(64, 64, 3), weights="imagenet")


def test_the_model_card_loads_model_keras_when_the_run_has_checkpoints_too(tmp_path):
    from comicdepth_tf.model_card import card_text

    card = card_text(
        tmp_path, {"model_info": {"output": "relative"}}, {}, files=["best.keras", "last.keras", "model.keras"]
    )
    assert 'keras.saving.load_model("model.keras")' in card and "`relative`: relative depth in (0, 1)" in card
    gan = card_text(tmp_path, {}, {}, files=["generator_natural2comics.keras"], output="images")
    assert 'load_model("generator_natural2comics.keras")' in gan and "**Output**: images" in gan
