"""Frozen configs, profile files and typed overrides (comicdepth_tf.chain.config)."""

from __future__ import annotations

import pickle

import pytest

from comicdepth_tf.chain import config
from comicdepth_tf.errors import DataFormatError, ParameterError


def test_freeze_gives_attribute_and_mapping_access():
    cfg = config.freeze(PROFILE="smoke", IMAGE_SIZE=128, SIZES=[1, 2], OPT={"lr": 0.1})
    assert cfg.IMAGE_SIZE == 128 and cfg["PROFILE"] == "smoke"
    assert cfg.SIZES == (1, 2)
    assert cfg.OPT.lr == 0.1
    assert sorted(cfg) == ["IMAGE_SIZE", "OPT", "PROFILE", "SIZES"] and len(cfg) == 4
    assert cfg.to_dict() == {"PROFILE": "smoke", "IMAGE_SIZE": 128, "SIZES": [1, 2], "OPT": {"lr": 0.1}}


def test_config_is_immutable():
    cfg = config.freeze(A=1, L=[1])
    with pytest.raises(AttributeError):
        cfg.A = 2
    with pytest.raises(TypeError):
        cfg["A"] = 2
    with pytest.raises(AttributeError, match="known: A, L"):
        cfg.B
    with pytest.raises(AttributeError):
        cfg.L.append(2)  # lists are frozen into tuples
    assert cfg.to_dict() == {"A": 1, "L": [1]}


def test_derive_adds_values_and_refuses_to_replace():
    cfg = config.freeze(IMAGE_SIZE=64)
    derived = cfg.derive(INPUT_SHAPE=(cfg.IMAGE_SIZE, cfg.IMAGE_SIZE, 3))
    assert derived.INPUT_SHAPE == (64, 64, 3) and "INPUT_SHAPE" not in cfg
    with pytest.raises(ParameterError, match="IMAGE_SIZE"):
        cfg.derive(IMAGE_SIZE=32)


def test_save_load_round_trip_and_pickle(tmp_path):
    cfg = config.freeze(PROFILE="cpu", LR=1e-3, NAMES=["a", "b"], NESTED={"k": [1, 2]})
    path = cfg.save(tmp_path / "sub" / "config.json")
    again = config.load(path)
    assert again == cfg and again.NESTED.k == (1, 2)
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(DataFormatError, match="bad.json"):
        config.load(tmp_path / "bad.json")


def test_from_namespace_picks_upper_case_literals():
    ns = {"PROFILE": "smoke", "EPOCHS": 2, "np": object(), "lower": 1, "MODEL": object()}
    assert config.from_namespace(ns).to_dict() == {"PROFILE": "smoke", "EPOCHS": 2}
    assert config.from_namespace(ns, ["EPOCHS"]).to_dict() == {"EPOCHS": 2}
    with pytest.raises(ParameterError, match="MISSING"):
        config.from_namespace(ns, ["MISSING"])


def test_load_profile_reads_yaml_and_sets_profile(tmp_path):
    (tmp_path / "00_x").mkdir()
    (tmp_path / "00_x" / "smoke.yaml").write_text("IMAGE_SIZE: 32\nNAMES: [a, b]\nLR: 1e-3\n")
    assert config.load_profile("00_x", "smoke", tmp_path) == {"PROFILE": "smoke", "IMAGE_SIZE": 32,
                                                              "NAMES": ["a", "b"], "LR": 0.001}
    # a missing profile file means the notebook defaults
    assert config.load_profile("00_x", "full", tmp_path) == {"PROFILE": "full"}
    (tmp_path / "00_x" / "cpu.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(DataFormatError, match="cpu.yaml"):
        config.load_profile("00_x", "cpu", tmp_path)
    (tmp_path / "00_x" / "full.yaml").write_text("A: [1, 2\n")
    with pytest.raises(DataFormatError, match="line 2"):
        config.load_profile("00_x", "full", tmp_path)


def test_parse_overrides_yaml_scalars():
    got = config.parse_overrides(["EPOCHS=3", "LR=1e-3", "FLAG=true", "NAME=abc", "SIZES=[1, 2]",
                                  "EMPTY=", "10.EPOCHS=5", "X = 0.5"])
    assert got == {"EPOCHS": 3, "LR": 1e-3, "FLAG": True, "NAME": "abc", "SIZES": [1, 2],
                   "EMPTY": "", "10.EPOCHS": 5, "X": 0.5}
    with pytest.raises(ParameterError, match="NAME=VALUE"):
        config.parse_overrides(["EPOCHS"])
    with pytest.raises(ParameterError):
        config.parse_overrides(["1BAD=2"])


@pytest.mark.parametrize("value, annotation, expected", [
    (3, "int", 3),
    (3, "float", 3.0),
    (0.5, "float", 0.5),
    ("a", "str", "a"),
    (True, "bool", True),
    ([1, 2], "list[int]", [1, 2]),
    ([1, 2.5], "list[float]", [1.0, 2.5]),
    ([64, 64], "tuple[int, int]", [64, 64]),
    (None, "str | None", None),
    (None, "Optional[int]", None),
    (2, "int | None", 2),
    ({"a": 1}, "dict[str, int]", {"a": 1}),
])
def test_check_value_accepts(value, annotation, expected):
    out = config.check_value("P", value, annotation)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize("value, annotation", [
    ("3", "int"), (True, "int"), (1.5, "int"), (True, "float"), (1, "bool"), (None, "str"),
    ([1, "a"], "list[int]"), ([1], "tuple[int, int]"), ({"a": "x"}, "dict[str, int]"), ("x", "list"),
])
def test_check_value_rejects(value, annotation):
    with pytest.raises(ParameterError, match=r"parameter P expects"):
        config.check_value("P", value, annotation, "-p P=...")


def test_unsupported_annotation_is_reported():
    with pytest.raises(ParameterError, match="not supported"):
        config.parse_annotation("np.ndarray")


def test_coerce_text_uses_raw_text_for_strings():
    assert config.coerce_text("TAG", "001", "str") == "001"
    assert config.coerce_text("TAG", "true", "str") == "true"
    assert config.coerce_text("N", "7", "int") == 7
    assert config.coerce_text("LR", "2", "float") == 2.0
    assert config.coerce_text("DIR", "null", "str | None") is None
    with pytest.raises(ParameterError, match="N expects int, got 'abc'"):
        config.coerce_text("N", "abc", "int")
