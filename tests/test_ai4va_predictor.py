"""Per-segment AI4VA predictor: features on a hand-made page, learned label direction, baselines."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from comicdepth_tf import ai4va_predictor as ap
from comicdepth_tf.data.formats.ai4va import load_ai4va
from comicdepth_tf.errors import ParameterError

W, H = 40, 20


def _write_page(tmp_path, name, boxes, inter, intra, image_id=1, first_ann=1):
    """One page with two panels (x < 20 and x ≥ 20) and rectangular segments; returns paths."""
    img_dir = tmp_path / "images"
    img_dir.mkdir(exist_ok=True)
    cv2.imwrite(str(img_dir / f"{name}.png"), np.full((H, W, 3), 200, np.uint8))
    anns = []
    for k, ((x, y, w, h), a, b) in enumerate(zip(boxes, inter, intra)):
        poly = [x, y, x + w, y, x + w, y + h, x, y + h]
        anns.append({"id": first_ann + k, "image_id": image_id, "category_id": 1 + k % 2, "bbox": [x, y, w, h],
                     "segmentation": [poly], "area": w * h, "iscrowd": 0,
                     "attributes": {"Interdepth": a, "Intradepth": b}})
    doc = {"images": [{"id": image_id, "file_name": f"{name}.png", "width": W, "height": H,
                       "panels": [[0, 0, 20, 20], [20, 0, 20, 20]]}],
           "annotations": anns, "categories": [{"id": 1, "name": "character"}, {"id": 2, "name": "object"}]}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    return path, img_dir


BOXES = [(2, 2, 4, 4), (10, 2, 4, 4), (2, 12, 4, 4), (22, 2, 4, 4), (30, 2, 4, 4)]


def _depth(values):
    d = np.full((H, W), 9.0, np.float32)
    for (x, y, w, h), v in zip(BOXES, values):
        d[y:y + h, x:x + w] = v
    return d


def test_features_by_hand(tmp_path):
    path, img_dir = _write_page(tmp_path, "p", BOXES, [0, 1, 2, 0, 1], [0, 0, 0, 0, 0])
    ds = load_ai4va(path, img_dir)
    segs, feats, names = ap.segment_features(ds, 1, _depth([1.0, 2.0, 5.0, 3.0, 4.0]), categories=[1, 2])
    f = {n: feats[:, i] for i, n in enumerate(names)}
    assert [s.annotation_id for s in segs] == [1, 2, 3, 4, 5]
    # Left panel: nearest first (metric depth: smaller = nearer); right panel ranks separately.
    np.testing.assert_array_equal(f["rank"], [0, 1, 2, 0, 1])
    np.testing.assert_array_equal(f["n_segments"], [3, 3, 3, 2, 2])
    # Panel 1 pixels: 16 at 1 m, 16 at 2 m, 16 at 5 m, 352 at 9 m -> medians normalised by 1..9 m.
    np.testing.assert_allclose(f["median"], [1.0, 0.875, 0.5, 1.0, 0.8333333])
    # Share of the left panel's 400 pixels nearer than segment 3 (5 m): 32 / 400.
    assert f["share_nearer"][2] == pytest.approx(32 / 400)
    assert f["cx"][0] == pytest.approx(4 / 20) and f["w"][3] == pytest.approx(4 / 20)
    np.testing.assert_array_equal(f["cat_1"], [1, 0, 1, 0, 1])
    # Inverse depth flips "nearer": the ranks reverse inside each panel.
    _, inv, _ = ap.segment_features(ds, 1, 1.0 / _depth([1.0, 2.0, 5.0, 3.0, 4.0]), [1, 2], larger_is_nearer=True)
    np.testing.assert_array_equal(inv[:, names.index("rank")], [0, 1, 2, 0, 1])
    with pytest.raises(ParameterError, match="shape"):
        ap.segment_features(ds, 1, np.zeros((5, 5)), [1, 2])


def test_touching_segments_of_one_category_form_one_pseudo_object(tmp_path):
    # Categories alternate 1, 2, 1: the first and third touch and share category 1.
    boxes = [(2, 2, 4, 4), (12, 12, 4, 4), (6, 2, 4, 4)]
    path, img_dir = _write_page(tmp_path, "q", boxes, [0, 1, 0], [0, 0, 1])
    ds = load_ai4va(path, img_dir)

    def features(third_depth):
        depth = np.full((H, W), 9.0, np.float32)
        depth[2:6, 2:6], depth[12:16, 12:16], depth[2:6, 6:10] = 2.0, 5.0, third_depth
        _, feats, names = ap.segment_features(ds, 1, depth, [1, 2], group_tolerance=0.05)
        return {n: feats[:, i] for i, n in enumerate(names)}

    f = features(2.1)  # 0.1 m apart in a 7 m range: one object of two parts
    np.testing.assert_array_equal(f["n_objects"], [2, 2, 2])
    np.testing.assert_array_equal(f["object_size"], [2, 1, 2])
    np.testing.assert_array_equal(f["part_rank"], [0, 0, 1])
    np.testing.assert_array_equal(f["object_rank"], [0, 1, 0])
    f = features(8.0)  # touching but far apart in depth: two objects
    np.testing.assert_array_equal(f["n_objects"], [3, 3, 3])
    np.testing.assert_array_equal(f["object_rank"], [0, 1, 2])


def _dataset_with_direction(tmp_path, name, near_is_zero, seed, image_id, first_ann):
    """A page whose Interdepth is the depth rank in either direction; depth drawn at random."""
    rng = np.random.default_rng(seed)
    values = rng.permutation([1.0, 2.0, 3.0, 4.0, 5.0])
    order = np.argsort(np.argsort(values[:3])).tolist() + np.argsort(np.argsort(values[3:])).tolist()
    inter = order if near_is_zero else [2 - o for o in order[:3]] + [1 - o for o in order[3:]]
    path, img_dir = _write_page(tmp_path, name, BOXES, inter, [0] * 5, image_id, first_ann)
    return load_ai4va(path, img_dir), _depth(values)


@pytest.mark.parametrize("near_is_zero", [True, False])
def test_regressor_learns_the_label_direction(tmp_path, near_is_zero):
    tables, sets = [], []
    for k in range(6):
        ds, depth = _dataset_with_direction(tmp_path, f"d{k}", near_is_zero, k, 1, 1)
        tables.append(ap.build_feature_table(ds, {1: depth}, categories=[1, 2]))
        sets.append(ds)
    train = ap.FeatureTable(
        *[
            np.concatenate([getattr(t, a) for t in tables[:5]])
            for a in ("annotation_ids", "image_ids", "category_ids", "features")
        ],
        tables[0].names,
        *[np.concatenate([getattr(t, a) for t in tables[:5]]) for a in ("interdepth", "intradepth")],
    )
    reg = ap.SegmentRegressor(alpha=0.01).fit(train)
    pred = reg.predict(tables[5])
    np.testing.assert_allclose(pred.interdepth, tables[5].interdepth, atol=0.25)
    sign = np.sign(reg.weights()["interdepth"]["rank"])
    assert sign == (1 if near_is_zero else -1)
    assert ap.segment_mse(pred, sets[5])["mse_interdepth"] < 0.05
    # Rounded, clipped predictions stay inside the training range.
    rounded = ap.SegmentRegressor(alpha=0.01, round_levels=True).fit(train).predict(tables[5])
    assert set(np.unique(rounded.interdepth)) <= {0.0, 1.0, 2.0}
    again = ap.SegmentRegressor.from_dict(json.loads(json.dumps(reg.to_dict()))).predict(tables[5])
    np.testing.assert_allclose(again.interdepth, pred.interdepth)


def test_constant_predictor_and_frame(tmp_path):
    path, img_dir = _write_page(tmp_path, "c", BOXES, [0, 1, 2, 0, 1], [0, 1, 0, 1, 3])
    ds = load_ai4va(path, img_dir)
    const = ap.ConstantPredictor().fit(ds)
    assert const.values == {"interdepth": pytest.approx(0.8), "intradepth": pytest.approx(1.0)}
    pred = const.predict(ds)
    # MSE of the mean = the variance of the labels.
    scores = ap.segment_mse(pred, ds)
    assert scores["mse_interdepth"] == pytest.approx(np.var([0, 1, 2, 0, 1]))
    assert scores["mse_intradepth"] == pytest.approx(np.var([0, 1, 0, 1, 3]))
    assert scores["mse_overall"] == pytest.approx((scores["mse_interdepth"] + scores["mse_intradepth"]) / 2)
    frame = ap.predictions_frame(pred)
    assert list(frame.columns) == list(ap.SUBMISSION_COLUMNS)
    assert frame["annotation_id"].tolist() == [1, 2, 3, 4, 5] and (frame["img_id"] == 1).all()


def test_seed_baseline_targets_and_model(tmp_path):
    path, img_dir = _write_page(tmp_path, "s", BOXES, [0, 1, 2, 0, 1], [0, 1, 0, 1, 3])
    ds = load_ai4va(path, img_dir)
    targets, weights = ap.page_targets(ds)
    assert targets["interdepth"][0] == pytest.approx(0.8) and weights[0] == 5
    import comicdepth_tf.models.segment_head  # noqa: F401  (registers the builder)
    from comicdepth_tf.models.registry import build_model

    model = build_model("segment_head", input_size=32)
    x = ap.page_arrays(ds, 32)
    assert x.shape == (1, 32, 32, 3) and 0.78 < x.max() <= 200 / 255 + 1e-6
    out = model(x)
    assert set(out) == {"interdepth", "intradepth"} and out["interdepth"].shape == (1, 1)
    pred = ap.seed_baseline_predictions(model, ds, 32)
    # One pair per page, copied to every segment.
    assert len(set(pred.interdepth.tolist())) == 1 and len(pred.interdepth) == 5


def test_the_seed_baseline_resumes_only_a_run_of_the_same_pages_and_settings(tmp_path, capsys):
    path, img_dir = _write_page(tmp_path, "s", BOXES, [0, 1, 2, 0, 1], [0, 1, 0, 1, 3])
    ds = load_ai4va(path, img_dir)
    run = tmp_path / "run"
    first = ap.train_seed_baseline(ds, ds, run, epochs=1, batch_size=1, input_size=32)
    assert first.initial_epoch == 0 and first.epochs_completed == 1
    again = ap.train_seed_baseline(ds, ds, run, epochs=1, batch_size=1, input_size=32)
    assert again.initial_epoch == 1  # finished: returned, not trained again
    assert "other inputs" not in capsys.readouterr().out
    # Other labels under the same run folder (another dataset, or a world changed): trained again.
    path, img_dir = _write_page(tmp_path, "t", BOXES, [2, 2, 2, 1, 1], [0, 1, 0, 1, 3])
    other = ap.train_seed_baseline(load_ai4va(path, img_dir), ds, run, epochs=1, batch_size=1, input_size=32)
    assert other.initial_epoch == 0 and "made from other inputs" in capsys.readouterr().out
    # Another seed: trained again too.
    assert ap.train_seed_baseline(ds, ds, run, epochs=1, batch_size=1, input_size=32, seed=1).initial_epoch == 0
