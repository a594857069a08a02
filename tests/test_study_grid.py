"""Study grids: the presets reproduce the papers' grids, custom grids from files and the command line."""

from __future__ import annotations

import json

import pytest

from codeclens.study.grid import (
    ORIGINAL,
    Grid,
    expand_block,
    grid_from_dict,
    load_grid_file,
    make_setting,
    parse_block,
    preset,
    preset_names,
)


def test_presets_exist():
    assert preset_names() == ["qf-ladder", "seed2017", "codecs-vs-rate", "quick"]


def test_qf_ladder_is_the_2021_paper():
    g = preset("qf-ladder")
    assert [s.key for s in g.settings] == [ORIGINAL] + [f"jpeg:q={q},scale=1,color=rgb" for q in range(100, 0, -10)]


def test_seed2017_has_432_versions_per_photo():
    g = preset("seed2017")
    versions = g.settings[1:]
    assert len(versions) == 432 and len({s.key for s in versions}) == 432
    by_codec = {c: [s for s in versions if s.codec == c] for c in ("jpeg", "jpeg2000", "hevc")}
    assert {c: len(v) for c, v in by_codec.items()} == {"jpeg": 144, "jpeg2000": 144, "hevc": 144}
    assert sorted({s.scale for s in versions}) == [0.125, 0.25, 0.5, 1.0]
    assert {s.color for s in versions} == {"rgb", "gray"}
    assert sorted({s.param_dict["quality"] for s in by_codec["jpeg"]}) == [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16,
                                                                           18, 20, 25, 30, 40, 50]
    assert sorted({s.param_dict["qp"] for s in by_codec["hevc"]}) == [30, *range(35, 52)]
    assert (200.0, 40.0, 20.0) in {s.param_dict["layers"] for s in by_codec["jpeg2000"]}
    key = make_setting("jpeg2000", {"layers": [200, 40, 20]}, "1/4", "gray").key
    assert key == "jpeg2000:layers=200/40/20,scale=1/4,color=gray" and key in {s.key for s in versions}


def test_rate_presets_search_per_photo():
    g = preset("codecs-vs-rate")
    assert {s.codec for s in g.settings[1:]} == {"jpeg", "jpeg2000", "hevc", "avif", "webp"}
    assert all(s.target_bpp is not None and s.nominal_quality() != s.nominal_quality() for s in g.settings[1:])
    quick = preset("quick")
    assert "hevc:bpp=0.4,scale=1,color=rgb" in {s.key for s in quick.settings}
    assert len(quick) == 1 + 10 + 4 + 4


def test_keys_leave_out_defaults_but_keep_the_quality():
    assert make_setting("jpeg", {"quality": 75}).key == "jpeg:q=75,scale=1,color=rgb"
    assert make_setting("jpeg", {"quality": 75, "subsampling": "444"}, 0.5).key == "jpeg:q=75,ss=444,scale=1/2,color=rgb"
    assert make_setting("hevc", {"qp": 32, "chroma": "420"}).key == "hevc:qp=32,scale=1,color=rgb"
    assert make_setting("hevc", {}, target_bpp=0.25).key == "hevc:bpp=0.25,scale=1,color=rgb"
    assert make_setting("jpeg", {"quality": 10}).nominal_quality() == 10.0
    assert make_setting("jpeg2000", {"layers": [100, 20]}).nominal_quality() == 20.0


def test_grid_deduplicates_and_keeps_the_original_first():
    s = make_setting("jpeg", {"quality": 50})
    g = Grid("x", [s, s, make_setting(ORIGINAL)])
    assert [t.key for t in g.settings] == [ORIGINAL, s.key]
    assert [t.codec for t in g.restrict(["hevc"]).settings] == [ORIGINAL]


def test_toml_and_json_grid_files(tmp_path):
    toml = tmp_path / "g.toml"
    toml.write_text('name = "mine"\n[[block]]\ncodec = "jpeg"\nscale = [1, "1/2"]\ncolor = ["rgb", "gray"]\n'
                    'params = { quality = [90, 10] }\n[[block]]\ncodec = "jpeg2000"\n'
                    'params = { layers = [[200, 40, 20], [50]] }\n[[block]]\ncodec = "webp"\ntarget_bpp = [0.5]\n')
    g = load_grid_file(toml)
    assert g.name == "mine" and len(g) == 1 + 8 + 2 + 1
    assert "jpeg:q=10,scale=1/2,color=gray" in {s.key for s in g.settings}
    assert "jpeg2000:layers=50,scale=1,color=rgb" in {s.key for s in g.settings}
    js = tmp_path / "g.json"
    js.write_text(json.dumps({"blocks": [{"codec": "hevc", "params": {"qp": [30, 40]}, "color": "gray"}]}))
    assert [s.key for s in load_grid_file(js).settings[1:]] == ["hevc:qp=30,scale=1,color=gray",
                                                              "hevc:qp=40,scale=1,color=gray"]


def test_command_line_blocks():
    keys = [s.key for s in expand_block(parse_block("codec=jpeg quality=90,50 scale=1,1/8 color=gray"))]
    assert keys == ["jpeg:q=90,scale=1,color=gray", "jpeg:q=90,scale=1/8,color=gray",
                    "jpeg:q=50,scale=1,color=gray", "jpeg:q=50,scale=1/8,color=gray"]
    keys = [s.key for s in expand_block(parse_block("codec=jpeg2000 layers=200/40/20;25"))]
    assert keys == ["jpeg2000:layers=200/40/20,scale=1,color=rgb", "jpeg2000:layers=25,scale=1,color=rgb"]
    assert [s.target_bpp for s in expand_block(parse_block("codec=avif bpp=0.1,0.2"))] == [0.1, 0.2]


def test_grid_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match=r"scale must be one of 1, 1/2, 1/4, 1/8, got '1/3'"):
        make_setting("jpeg", {"quality": 50}, "1/3")
    with pytest.raises(ValueError, match=r"color must be one of \['rgb', 'gray'\], got 'cmyk'"):
        make_setting("jpeg", {"quality": 50}, 1, "cmyk")
    with pytest.raises(ValueError, match=r"hevc: give either qp or target_bpp, not both"):
        make_setting("hevc", {"qp": 30}, target_bpp=0.5)
    with pytest.raises(ValueError, match=r"codec 'png' has no rate control"):
        make_setting("png", {}, target_bpp=0.5)
    with pytest.raises(ValueError, match=r"unknown keys \['qualities'\]"):
        expand_block({"codec": "jpeg", "qualities": [1]})
    with pytest.raises(ValueError, match=r"non-empty list of blocks"):
        grid_from_dict({"name": "empty"})
    with pytest.raises(ValueError, match=r"names no codec"):
        parse_block("quality=50")
    with pytest.raises(ValueError, match=r"unknown preset 'qf'; expected one of"):
        preset("qf")
    bad = tmp_path / "g.yaml"
    bad.write_text("x")
    with pytest.raises(ValueError, match=r"grid file must end in .toml or .json, got g.yaml"):
        load_grid_file(bad)
