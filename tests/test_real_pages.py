"""The real-page depth-ordering check: loader, scorer, rules, shipped data and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from comicdepth_tf import real_pages
from comicdepth_tf.data.formats.ordering import OrderingPoints
from comicdepth_tf.errors import DataFormatError, ParameterError

PANELS = {  # id -> (box, lines of its ordering file)
    "p01": ([2, 3, 22, 19], ["1 1 3 10", "1 2 5 2", "2 1 10 12", "2 1 15 4", "3 1 1 1", "3 2 18 14"]),
    "p02": ([24, 1, 40, 17], ["1 1 2 2", "2 1 8 9", "2 2 12 3", "4 1 6 15"]),
}


def _write_check(root: Path, pages: list[dict] | None = None, real_dir: Path | None = None) -> Path:
    """A tiny check: one shipped 44x22 page with two panels, optional shared pages."""
    rng = np.random.default_rng(7)
    (root / "pages").mkdir(parents=True, exist_ok=True)
    (root / "depth").mkdir(exist_ok=True)
    cv2.imwrite(str(root / "pages" / "page.png"), rng.integers(0, 256, (22, 44, 3), dtype=np.uint8))
    for pid, (_, lines) in PANELS.items():
        (root / "depth" / f"tiny_{pid}.txt").write_text("\n".join(lines) + "\n")
    panels = [{"id": pid, "box": box, "kind": "interior", "shot": "medium"} for pid, (box, _) in PANELS.items()]
    data = {"pages": [{"id": "tiny", "file": "pages/page.png", "width": 44, "height": 22, "licence": "test",
                       "panels": panels}] + (pages or [])}
    (root / "pages.json").write_text(json.dumps(data))
    return root


def _gray(image: np.ndarray) -> np.ndarray:
    """A predictor whose map is a pixel function, so crop and page predictions agree."""
    return image.astype(np.float64) @ np.array([0.3, 0.5, 0.2]) + np.arange(image.shape[1]) * 0.01


def _brute(values, l1, l2, y):
    """Nested-loop counts: (right, pairs) for inter, intra and counter-y pairs."""
    out = {k: [0, 0] for k in ("inter", "intra", "counter_y")}
    n = len(values)
    for i in range(n):
        for j in range(n):
            if i >= j:
                continue
            if l1[i] != l1[j]:
                near, far = (i, j) if l1[i] < l1[j] else (j, i)
                out["inter"][1] += 1
                out["inter"][0] += values[near] > values[far]
                if y[near] < y[far]:
                    out["counter_y"][1] += 1
                    out["counter_y"][0] += values[near] > values[far]
            elif l2[i] != l2[j]:
                near, far = (i, j) if l2[i] < l2[j] else (j, i)
                out["intra"][1] += 1
                out["intra"][0] += values[near] > values[far]
    return out


def test_scorer_agrees_with_a_nested_loop_count(tmp_path):
    check = real_pages.load_check(_write_check(tmp_path / "check"), real_dir=tmp_path)
    rows = real_pages.score_predictor(check, _gray, "gray")
    page = cv2.cvtColor(cv2.imread(str(tmp_path / "check" / "pages" / "page.png")), cv2.COLOR_BGR2RGB)
    full = _gray(page)
    assert len(rows) == 2 * len(PANELS)
    for pid, (box, lines) in PANELS.items():
        table = np.array([[int(v) for v in line.split()] for line in lines])
        l1, l2, x, y = table.T
        crop_values = _gray(page[box[1]:box[3], box[0]:box[2]])[y, x]
        page_values = full[y + box[1], x + box[0]]
        for mode, values in (("panel", crop_values), ("page", page_values)):
            row = rows[(rows["panel"] == pid) & (rows["mode"] == mode)].iloc[0]
            for kind, (right, pairs) in _brute(values, l1, l2, y).items():
                assert (row[f"{kind}_right"], row[f"{kind}_pairs"]) == (right, pairs), (pid, mode, kind)
    # p01: 12 inter pairs (2·2 + 2·2 + 2·2), 2 intra pairs; p02: 5 inter, 1 intra (counted by hand).
    counts = real_pages.check_counts(check)
    assert counts == {"pages": 1, "panels": 2, "points": 10, "inter_pairs": 17, "intra_pairs": 3,
                      "counter_y_pairs": counts["counter_y_pairs"]}
    assert counts["counter_y_pairs"] == sum(_brute(np.zeros(len(v[1])), *np.array(
        [[int(t) for t in s.split()] for s in v[1]]).T[[0, 1, 3]])["counter_y"][1] for v in PANELS.values())


def test_rules_on_a_constructed_case():
    # Nearer points lower on the page in two pairs, higher in one (counter-y).
    points = OrderingPoints(np.array([1, 2, 1, 3]), np.array([1, 1, 1, 1]), np.array([0, 1, 2, 3]),
                            np.array([9, 2, 1, 5]))
    image = np.zeros((10, 4, 3), np.uint8)
    result = real_pages.score_points(real_pages.lower_is_nearer(image), points)
    # inter pairs (near, far): (0,1) y 9>2 right, (0,3) 9>5 right, (2,1) 1<2 wrong, (2,3) 1<5 wrong, (1,3) 2<5 wrong
    assert (result["inter_right"], result["inter_pairs"]) == (2, 5)
    assert (result["counter_y_right"], result["counter_y_pairs"]) == (0, 3)
    depth_conv = real_pages.score_points(-real_pages.lower_is_nearer(image), points, "depth")
    assert depth_conv["inter_right"] == 2
    first = real_pages.random_rule(3)(image)
    assert np.array_equal(first, real_pages.random_rule(3)(image)) and first.shape == (10, 4)
    # A map depends on the seed and the image, not on what the rule was called on before.
    rule, other = real_pages.random_rule(3), image + 1
    rule(other)
    assert np.array_equal(rule(image), first) and not np.array_equal(rule(other), first)
    assert not np.array_equal(real_pages.random_rule(4)(image), first)
    many = [real_pages.score_points(real_pages.random_rule(s)(np.zeros((50, 50, 3))), OrderingPoints(
        np.repeat([1, 2], 20), np.ones(40, int), np.arange(40), np.arange(40)))["inter"] for s in range(20)]
    assert abs(np.mean(many) - 0.5) < 0.05


def test_summary_pools_pairs_and_adds_the_expectation(tmp_path):
    check = real_pages.load_check(_write_check(tmp_path / "check"), real_dir=tmp_path)
    rows = real_pages.score_rules(check, seed=1)
    summary = real_pages.summary_table(rows)
    lower = summary[(summary["configuration"] == "rule: lower is nearer") & (summary["mode"] == "panel")].iloc[0]
    part = rows[(rows["configuration"] == "rule: lower is nearer") & (rows["mode"] == "panel")]
    assert lower["inter_pooled"] == part["inter_right"].sum() / part["inter_pairs"].sum()
    assert lower["counter_y"] == 0.0  # the rule gets every counter-y pair wrong by construction
    expected = summary[summary["configuration"] == "random (expectation)"]
    assert list(expected["inter_pooled"]) == [0.5, 0.5]
    assert set(real_pages.page_table(rows).columns) == {"tiny"}


def test_group_table_pools_each_kind_of_panel_apart():
    import pandas as pd

    def row(seed, panel, kind, inter, counter, mode="panel"):
        return {"configuration": "m", "seed": seed, "mode": mode, "page": "p", "panel": panel, "kind": kind,
                "inter_right": inter[0], "inter_pairs": inter[1], "counter_y_right": counter[0],
                "counter_y_pairs": counter[1]}

    rows = pd.DataFrame([row(0, "a", "interior", (3, 4), (0, 2)), row(0, "b", "exterior", (1, 6), (2, 2)),
                         row(1, "a", "interior", (1, 4), (1, 2)), row(1, "b", "exterior", (5, 6), (1, 2)),
                         row(0, "a", "interior", (4, 4), (2, 2), mode="page")])
    table = real_pages.group_table(rows, "kind").set_index("configuration")
    # interior: (3 + 1) / (4 + 4) inter and (0 + 1) / 4 counter-y over both seeds; page rows left out
    assert table.loc["m", "inter interior"] == 0.5 and table.loc["m", "counter_y interior"] == 0.25
    assert table.loc["m", "inter exterior"] == 0.5 and table.loc["m", "counter_y exterior"] == 0.75
    assert table.loc["m", "inter_pairs interior"] == 4 and table.loc["m", "counter_y_pairs exterior"] == 2


def test_shared_page_is_read_from_real_dir_or_skipped_with_a_notice(tmp_path, monkeypatch):
    shared = {"id": "shared", "file": "s.png", "location": "shared", "width": 44, "height": 22, "licence": "test",
              "panels": [{"id": "p01", "box": [0, 0, 20, 20], "kind": "exterior", "shot": "long"}]}
    root = _write_check(tmp_path / "check", [shared])
    (root / "depth" / "shared_p01.txt").write_text("1 1 1 1\n2 1 5 5\n")
    missing = real_pages.load_check(root, real_dir=tmp_path / "nowhere")
    assert [p.id for p in missing.pages] == ["tiny"]
    assert len(missing.notices) == 1 and "s.png" in missing.notices[0] and real_pages.ENV_VAR in missing.notices[0]
    real = tmp_path / "real"
    (real / "comics").mkdir(parents=True)
    cv2.imwrite(str(real / "comics" / "s.png"), np.zeros((22, 44, 3), np.uint8))
    monkeypatch.setenv(real_pages.ENV_VAR, str(real))
    found = real_pages.load_check(root)
    assert [p.id for p in found.pages] == ["tiny", "shared"] and found.notices == []


def test_shipped_check_loads_with_the_counts_the_issue_asks_for(capsys):
    check = real_pages.load_check()
    counts = real_pages.check_counts(check)
    shared_found = any(p.id == "006013" for p in check.pages)
    print(counts, check.notices)
    assert counts["inter_pairs"] >= 150
    assert counts["counter_y_pairs"] >= 40
    assert counts["panels"] >= 20
    assert counts["pages"] >= (6 if shared_found else 5)
    if not shared_found:
        assert check.notices and "006013.jpg" in check.notices[0]
    kinds = {p.kind for p in check.panels}
    shots = {p.shot for p in check.panels}
    assert kinds == {"interior", "exterior"} and {"medium", "long"} <= shots
    for page in check.pages:
        w, h = page.width, page.height
        assert max(w, h) <= 1000 or page.id == "006013"
    shipped = sum(f.stat().st_size for f in (real_pages.DATA_DIR / "pages").iterdir())
    assert shipped < 3_000_000


def test_a_batch_keeps_only_its_panels_and_the_first_batch_is_the_one_configurations_were_chosen_on(tmp_path):
    root = _write_check(tmp_path / "check")
    _mutate_json(root, lambda d: d["pages"][0]["panels"][1].__setitem__("batch", 2))
    first = real_pages.load_check(root, real_dir=tmp_path, batches=[1])
    second = real_pages.load_check(root, real_dir=tmp_path, batches=[2])
    both = real_pages.load_check(root, real_dir=tmp_path)
    assert [p.id for p in first.panels] == ["p01"] and [p.id for p in second.panels] == ["p02"]
    assert [p.batch for p in both.panels] == [1, 2]
    assert real_pages.check_counts(second)["inter_pairs"] == 5  # p02's, counted by hand above
    with pytest.raises(ParameterError, match="batch"):
        real_pages.load_check(root, real_dir=tmp_path, batches=[3])
    # The shipped batch 1 must never change: results chosen on it are compared across sessions.
    shipped = real_pages.check_counts(real_pages.load_check(batches=[1]))
    if any(p.id == "006013" for p in real_pages.load_check(batches=[1]).pages):
        assert shipped == {"pages": 6, "panels": 22, "points": 136, "inter_pairs": 249, "counter_y_pairs": 66,
                           "intra_pairs": 1}
        assert real_pages.check_counts(real_pages.load_check(batches=[2]))["inter_pairs"] == 161
    # Batch 3 (the Snookums page, annotated after the atmosphere ingredient was chosen) is shipped whole.
    third = real_pages.load_check(batches=[3])
    assert [p.id for p in third.pages] == ["snookums"] and real_pages.check_counts(third) == {
        "pages": 1, "panels": 11, "points": 58, "inter_pairs": 86, "counter_y_pairs": 21, "intra_pairs": 0}


def test_cli_scores_one_batch(tmp_path, capsys):
    from comicdepth_tf import cli

    root = _write_check(tmp_path / "check")
    _mutate_json(root, lambda d: d["pages"][0]["panels"][1].__setitem__("batch", 2))
    assert cli.main(["real-check", "--check-dir", str(root), "--real-dir", str(tmp_path), "--batch", "2"]) == 0
    assert "check: pages 1, panels 1, points 4, inter_pairs 5" in capsys.readouterr().out


def test_shipped_pages_are_package_data():
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"comicdepth_tf.data"' in text and "real_pages/pages/*.jpg" in text and "real_pages/depth/*.txt" in text


# --------------------------------------------------------------------------- bad input


def _mutate_json(root: Path, change) -> None:
    data = json.loads((root / "pages.json").read_text())
    change(data)
    (root / "pages.json").write_text(json.dumps(data))


JSON_MUTATIONS = {
    "box outside the page": (lambda d: d["pages"][0]["panels"][0].__setitem__("box", [0, 0, 45, 10]), "box"),
    "box not four ints": (lambda d: d["pages"][0]["panels"][0].__setitem__("box", [0, 0, 10]), "box"),
    "unknown kind": (lambda d: d["pages"][0]["panels"][0].__setitem__("kind", "indoors"), "kind"),
    "unknown shot": (lambda d: d["pages"][0]["panels"][1].__setitem__("shot", "wide"), "shot"),
    "wrong width": (lambda d: d["pages"][0].__setitem__("width", 40), "width"),
    "no licence": (lambda d: d["pages"][0].pop("licence"), "licence"),
    "missing image": (lambda d: d["pages"][0].__setitem__("file", "pages/none.png"), "file"),
    "duplicate panel": (lambda d: d["pages"][0]["panels"].append(d["pages"][0]["panels"][0]), "panels"),
    "no pages": (lambda d: d.__setitem__("pages", []), "pages"),
    "bad location": (lambda d: d["pages"][0].__setitem__("location", "web"), "location"),
    "batch zero": (lambda d: d["pages"][0]["panels"][0].__setitem__("batch", 0), "batch"),
    "batch not an integer": (lambda d: d["pages"][0]["panels"][1].__setitem__("batch", "2"), "batch"),
}


@pytest.mark.parametrize("name", sorted(JSON_MUTATIONS))
def test_mutated_pages_json_names_file_and_field(tmp_path, name):
    root = _write_check(tmp_path / "check")
    change, field = JSON_MUTATIONS[name]
    _mutate_json(root, change)
    with pytest.raises(DataFormatError) as err:
        real_pages.load_check(root, real_dir=tmp_path)
    assert err.value.path.endswith("pages.json") and field in err.value.field


ORDERING_MUTATIONS = {
    "outside the crop": ("1 1 3 10\n2 1 20 3\n", "field x"),
    "level zero": ("0 1 3 10\n2 1 4 3\n", "field l1"),
    "three fields": ("1 1 3\n2 1 4 3\n", "line 1"),
    "not an integer": ("1 1 3 ten\n2 1 4 3\n", "field y"),
    "one point": ("1 1 3 3\n", ""),
}


@pytest.mark.parametrize("name", sorted(ORDERING_MUTATIONS))
def test_mutated_ordering_file_names_the_file(tmp_path, name):
    root = _write_check(tmp_path / "check")
    text, field = ORDERING_MUTATIONS[name]
    (root / "depth" / "tiny_p01.txt").write_text(text)
    with pytest.raises(DataFormatError) as err:
        real_pages.load_check(root, real_dir=tmp_path)
    assert err.value.path.endswith("tiny_p01.txt") and field in err.value.field


def test_random_garbage_in_pages_json_is_a_data_format_error(tmp_path):
    root = _write_check(tmp_path / "check")
    rng = np.random.default_rng(0)
    original = (root / "pages.json").read_text()
    for _ in range(30):
        chars = list(original)
        for i in rng.integers(0, len(chars), 3):
            chars[i] = chr(int(rng.integers(32, 127)))
        (root / "pages.json").write_text("".join(chars))
        try:
            real_pages.load_check(root, real_dir=tmp_path)
        except DataFormatError as exc:
            assert "pages.json" in exc.path or exc.path.endswith(".txt") or exc.path.endswith(".png")


def test_cli_prints_counts_and_tables_for_the_rules(tmp_path, capsys):
    from comicdepth_tf import cli

    root = _write_check(tmp_path / "check")
    assert cli.main(["real-check", "--check-dir", str(root), "--real-dir", str(tmp_path), "--panels"]) == 0
    out = capsys.readouterr().out
    assert "check: pages 1, panels 2, points 10, inter_pairs 17" in out
    assert "rule: lower is nearer" in out and "random (expectation)" in out and "tiny" in out


def test_plot_pages_draws_every_configuration(tmp_path):
    check = real_pages.load_check(_write_check(tmp_path / "check"), real_dir=tmp_path)
    maps = {"rule": real_pages.predict_check(check, real_pages.lower_is_nearer)["page"],
            "gray": real_pages.predict_check(check, _gray)["page"]}
    fig = real_pages.plot_pages(check, maps, {"rule": "inverse", "gray": "depth"})
    assert len(fig.axes) == 3 and "wrong pairs" in fig.axes[1].get_title()


def test_a_real_data_variable_that_names_no_folder_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    from comicdepth_tf import paths

    monkeypatch.setenv("COMICDEPTH_REAL_DATA", str(tmp_path / "typo"))
    with pytest.raises(ParameterError, match=r"COMICDEPTH_REAL_DATA=.*typo: expected a folder.*found nothing"):
        paths.real_data_dir()
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("COMICDEPTH_REAL_DATA", str(tmp_path / "file"))
    with pytest.raises(ParameterError, match="found a file"):
        real_pages.load_check()
    from comicdepth_tf.chain import runner

    with pytest.raises(ParameterError, match="COMICDEPTH_REAL_DATA"):  # before any report file is written
        runner.run(profile="smoke", reports_dir=tmp_path / "reports")
    assert not (tmp_path / "reports").exists()
    monkeypatch.setenv("COMICDEPTH_REAL_DATA", str(tmp_path))
    assert paths.real_data_dir() == tmp_path.resolve()
    assert any("006013" in n for n in real_pages.load_check().notices)  # the shared page is looked up there only


def test_brightness_nearness_on_hand_made_maps(tmp_path):
    # Brighter rightwards.
    ramp = np.repeat(np.arange(12, dtype=np.uint8)[None, :, None] * 20, 5, axis=0).repeat(3, axis=2)
    columns = np.tile(np.arange(12.0), (5, 1))
    assert real_pages.brightness_nearness(ramp, columns, "inverse") == pytest.approx(1.0)  # bright is near
    assert real_pages.brightness_nearness(ramp, columns, "depth") == pytest.approx(-1.0)  # bright is far
    assert np.isnan(real_pages.brightness_nearness(ramp, np.zeros((5, 12)), "inverse"))
    root = _write_check(tmp_path / "check")
    rows = real_pages.score_predictor(real_pages.load_check(root, real_dir=tmp_path), _gray, "gray")
    # _gray is the page's brightness plus a small column ramp: close to 1 on every crop, in both modes.
    assert len(rows) == 4 and (rows["brightness_nearness"] > 0.9).all()
    table = real_pages.summary_table(rows)
    assert table.loc[table["configuration"] == "gray", "brightness_nearness"].gt(0.9).all()


def test_darker_is_nearer_reads_a_regions_tone_not_a_thin_ink_line(tmp_path):
    image = np.full((40, 40, 3), 230, np.uint8)
    image[5:35, 20:38] = 40  # a dark figure on the right
    image[:, 10] = 0  # a 1-px ink line on the pale left, where the farther point lies
    points = OrderingPoints(np.array([1, 2]), np.array([1, 1]), np.array([28, 10]), np.array([20, 20]))
    assert real_pages.score_points(real_pages.darker_is_nearer(image), points)["inter"] == 1.0
    # Without the blur the line itself would decide, and the pale background would come out nearer.
    assert real_pages.score_points(real_pages.darker_is_nearer(image, sigma=0.3), points)["inter"] == 0.0
    rules = real_pages.score_rules(real_pages.load_check(_write_check(tmp_path / "check"), real_dir=tmp_path))
    assert real_pages.RULE_DARKER in set(rules["configuration"])
