"""Published numbers, verdicts, and the comparison report."""

from __future__ import annotations

import pandas as pd

from unlearnbench.comparison import STAND_IN_VERDICT, compare, load_published, to_markdown


def test_published_table1_is_complete(repo_root):
    values = [v for v in load_published(repo_root / "config" / "published.yaml") if v["artifact"] == "gs-table1"]
    keys = {(v["column"], v["row"], v["metric"]) for v in values}
    rows = ["BEFORE", "GRAD.ASCNT.", "MOON ET AL. (2023)", "OURS"]
    assert keys == {(c, r, m) for c in ("MNIST138", "CelebA") for r in rows for m in ("fratio", "IS", "FID", "time")}
    lookup = {(v["column"], v["row"], v["metric"]): v for v in values}
    assert lookup[("MNIST138", "OURS", "fratio")]["value"] == 0.153
    assert lookup[("MNIST138", "OURS", "fratio")]["std"] == 0.057
    assert lookup[("CelebA", "BEFORE", "FID")]["value"] == 29.81
    assert lookup[("CelebA", "GRAD.ASCNT.", "fratio")]["value"] is None  # omitted in the paper
    assert all(v["source"].startswith("gradient-surgery Table 1") for v in values)


def _table(stand_in: bool) -> pd.DataFrame:
    return pd.DataFrame({"column": ["MNIST138"], "row": ["OURS"], "fratio_mean": [0.16], "fratio_std": [0.02],
                         "time_mean": [3.0], "time_std": [0.1], "stand_in": [stand_in]})


PUBLISHED = [
    {"artifact": "gs-table1", "column": "MNIST138", "row": "OURS", "metric": "fratio", "value": 0.153, "std": 0.057, "tolerance": 0.114, "source": "s"},
    {"artifact": "gs-table1", "column": "MNIST138", "row": "OURS", "metric": "time", "value": 13.12, "std": None, "tolerance": None, "source": "s"},
    {"artifact": "gs-table1", "column": "CelebA", "row": "OURS", "metric": "fratio", "value": 0.15, "std": 0.098, "tolerance": 0.196, "source": "s"},
]


def test_verdicts_on_real_data():
    frame = compare(PUBLISHED, {"gs-table1": _table(False)})
    assert list(frame["verdict"]) == ["within tolerance", "no tolerance (hardware-dependent), not judged", "not reproduced in this profile"]
    assert frame.loc[0, "difference"] == 0.16 - 0.153


def test_outside_tolerance():
    table = _table(False).assign(fratio_mean=[0.5])
    assert compare(PUBLISHED[:1], {"gs-table1": table}).loc[0, "verdict"] == "outside tolerance"


def test_stand_in_data_is_never_judged():
    frame = compare(PUBLISHED, {"gs-table1": _table(True)})
    assert list(frame["verdict"][:2]) == [STAND_IN_VERDICT, STAND_IN_VERDICT]
    assert "stand-in" in to_markdown(frame, "quick")
