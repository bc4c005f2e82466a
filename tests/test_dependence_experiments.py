"""The ``bullseye`` and ``codec-speed`` experiment kinds and their artifacts, end to end at toy size."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from unlearnbench.artifacts.lc_fig3_codec_speed import ARTIFACT as FIG3
from unlearnbench.artifacts.lc_table1_bullseye import ARTIFACT as TABLE1
from unlearnbench.data.download import ChecksumMismatchError, DatasetUnavailableError
from unlearnbench.experiments import bullseye, codec_speed
from unlearnbench.experiments.base import RunContext
from unlearnbench.storage import read_json

BULLSEYE = {"kind": "bullseye", "n_samples": 120, "n_trials": 5, "inputs": ["raw", "feature-maps"],
            "max_conditioning": 1, "feature_map": {"epochs": 1, "batch_size": 60, "decoder_hidden": 16}}  # fmt: skip
SPEED = {"kind": "codec-speed", "source": "synthetic", "synthetic": {"n_rows": 400, "seed": 0}, "n_rows": 150,
         "attributes": ["Male", "No_Beard", "Goatee", "Smiling", "Wearing_Lipstick"]}  # fmt: skip
CONFIG = {"profile": "test", "seeds": [0, 1], "experiments": {"bulls": BULLSEYE, "speed": SPEED}}

# The head of the real list_attr_celeba.txt layout: a count, 40 names (trailing space), then
# "file" and 40 values right-aligned in width 2, written out by hand (not by the module's writer).
NAMES = codec_speed.attribute_names()
REAL_FORMAT = (
    "3\n"
    + " ".join(NAMES)
    + " \n"
    + "000001.jpg "
    + " ".join(f"{v:2d}" for v in [-1, 1, 1] + [-1] * 37)
    + "\n"
    + "000002.jpg "
    + " ".join(f"{v:2d}" for v in [1] * 40)
    + "\n"
    + "000003.jpg "
    + " ".join(f"{v:2d}" for v in [-1] * 39 + [1])
    + "\n"
)


def _ctx(tmp_path: Path, name: str) -> RunContext:
    return RunContext(
        name, CONFIG["experiments"][name], CONFIG, tmp_path / "results", tmp_path / "data", "cpu"
    )


def test_bullseye_runs_write_the_documented_json(tmp_path: Path) -> None:
    files = []
    for method in bullseye.METHODS:
        out = tmp_path / f"{method}.json"
        payload = bullseye.run(_ctx(tmp_path, "bulls"), method, 0, out)
        assert read_json(out) == payload | {"provenance": read_json(out)["provenance"]}
        assert {"experiment", "method", "seed", "metrics", "stand_in", "settings", "provenance"} <= set(
            payload
        )
        assert payload["stand_in"] is False and set(payload["metrics"]) == {"raw", "feature-maps"}
        for cell in payload["metrics"].values():
            if cell["applicable"]:
                assert 0 <= cell["tpr"] <= 1 and 0 <= cell["fpr"] <= 1 and cell["seconds"] > 0
        files.append(out)
    assert payload["metrics"]["raw"]["applicable"] is False  # L-FOCI on 3-D blocks: the paper's N/A
    assert bullseye.datasets(BULLSEYE) == [] and bullseye.pretrained(BULLSEYE, "lcodec-cit", 0) == []
    with pytest.raises(ValueError, match="unknown bullseye method"):
        bullseye.run(_ctx(tmp_path, "bulls"), "lasso", 0, tmp_path / "x.json")

    assert len(TABLE1.runs(CONFIG)) == 3 * 2
    table = TABLE1.aggregate(files, CONFIG)
    row = table[(table["column"] == "feature-maps") & (table["row"] == "L-CODEC + L-FOCI")]
    assert len(row) == 1 and {"tpr_mean", "fpr_mean", "seconds_mean", "n_seeds"} <= set(table.columns)
    assert np.isnan(
        table[(table["column"] == "raw") & (table["row"] == "L-CODEC + L-FOCI")]["tpr_mean"]
    ).all()
    assert "N/A" in TABLE1.markdown(table)
    TABLE1.draw(table, [tmp_path / "t1.png", tmp_path / "t1.pdf"], CONFIG)
    assert (tmp_path / "t1.png").stat().st_size > 0 and (tmp_path / "t1.pdf").stat().st_size > 0
    assert TABLE1.status(CONFIG).startswith("configured")
    assert TABLE1.status({"seeds": [0], "experiments": {}}) == "not configured in this profile"


def test_attribute_parser_reads_the_real_layout(tmp_path: Path) -> None:
    path = tmp_path / codec_speed.CELEBA_FILE
    path.write_text(REAL_FORMAT)
    table = codec_speed.read_attribute_table(path)
    assert table.names == NAMES and table.files == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert table.values.shape == (3, 40) and table.values[0, :3].tolist() == [-1, 1, 1]
    assert table.values[2, -1] == 1 and set(np.unique(table.values)) == {-1, 1}
    path.write_text(REAL_FORMAT.replace("3\n", "4\n", 1))
    with pytest.raises(ValueError, match="header says 4 rows"):
        codec_speed.read_attribute_table(path)
    path.write_text(REAL_FORMAT.replace("000002.jpg  1", "000002.jpg  0", 1))
    with pytest.raises(ValueError, match="outside"):
        codec_speed.read_attribute_table(path)
    path.write_text(REAL_FORMAT.replace("000003.jpg -1", "000003.jpg", 1))
    with pytest.raises(ValueError, match="row 5 has 39 values"):
        codec_speed.read_attribute_table(path)


def test_stand_in_table_has_the_shape_statistics(tmp_path: Path) -> None:
    table = codec_speed.synthetic_attribute_table(4000, seed=0)
    freq = (table.values > 0).mean(axis=0)
    expected = np.array([f for _, f in codec_speed.CELEBA_ATTRIBUTES])
    assert table.values.shape == (4000, 40) and np.allclose(freq, expected, atol=0.01)
    male, beard = table.names.index("Male"), table.names.index("No_Beard")
    assert np.corrcoef(table.values[:, male], table.values[:, beard])[0, 1] < -0.2  # correlated like CelebA
    written = codec_speed.write_attribute_table(tmp_path / "a.txt", table)
    assert np.array_equal(codec_speed.read_attribute_table(written).values, table.values)


def test_codec_speed_runs_and_figure(tmp_path: Path) -> None:
    files = []
    for method in codec_speed.METHODS:
        for seed in (0, 1):
            out = tmp_path / f"{method}-{seed}.json"
            payload = codec_speed.run(_ctx(tmp_path, "speed"), method, seed, out)
            assert payload["stand_in"] is True and payload["metrics"]["n_rows"] == 150
            assert set(payload["metrics"]["per_attribute"]) == set(SPEED["attributes"])
            files.append(out)
    table = FIG3.aggregate(files, CONFIG)
    assert set(table["method"]) == {"foci", "lfoci"} and (table["n_seeds"] == 2).all()
    assert "FOCI / L-FOCI" in FIG3.markdown(table)
    FIG3.draw(table, [tmp_path / "f3.png"], CONFIG)
    assert (tmp_path / "f3.png").stat().st_size > 0
    assert "STAND-IN" in FIG3.status(CONFIG) and len(FIG3.runs(CONFIG)) == 4


def test_celeba_source_needs_the_checksummed_file(tmp_path: Path) -> None:
    settings = {"kind": "codec-speed", "source": "celeba", "celeba": {"allow_download": False}}
    config = {"profile": "test", "seeds": [0], "experiments": {"speed": settings}}
    ctx = RunContext("speed", settings, config, tmp_path / "results", tmp_path / "data", "cpu")
    with pytest.raises(DatasetUnavailableError, match="list_attr_celeba.txt"):
        codec_speed.run(ctx, "foci", 0, tmp_path / "out.json")


def test_auto_source_uses_the_real_file_when_present_else_the_stand_in(tmp_path: Path) -> None:
    settings = {"kind": "codec-speed", "source": "auto", "synthetic": {"n_rows": 60, "seed": 0},
                "attributes": ["Male", "Smiling", "Young"], "targets": ["Male"]}  # fmt: skip
    config = {"profile": "test", "seeds": [0], "experiments": {"speed": settings}}
    ctx = RunContext("speed", settings, config, tmp_path / "results", tmp_path / "data", "cpu")
    payload = codec_speed.run(ctx, "foci", 0, tmp_path / "a.json")
    assert payload["stand_in"] is True and payload["metrics"]["n_rows"] == 60
    assert set(payload["metrics"]["per_attribute"]) == {"Male"}  # only the listed target is timed
    # with a file in <data_root>/celeba it is the real table (md5-checked, never downloaded)
    (tmp_path / "data" / "celeba").mkdir(parents=True)
    (tmp_path / "data" / "celeba" / codec_speed.CELEBA_FILE).write_text(REAL_FORMAT)
    with pytest.raises(ChecksumMismatchError, match="list_attr_celeba.txt"):
        codec_speed.run(ctx, "foci", 0, tmp_path / "b.json")  # not the pinned file: refused, not replaced
    real = {**settings, "celeba": {"md5": hashlib.md5(REAL_FORMAT.encode()).hexdigest()}}
    ctx = RunContext("speed", real, config, tmp_path / "results", tmp_path / "data", "cpu")
    payload = codec_speed.run(ctx, "foci", 0, tmp_path / "c.json")
    assert payload["stand_in"] is False and payload["metrics"]["n_rows"] == 3
    with pytest.raises(ValueError, match="unknown targets"):
        codec_speed.time_selection("foci", codec_speed.synthetic_attribute_table(20, 0), seed=0,
                                   device="cpu", targets=["Nope"])  # fmt: skip
