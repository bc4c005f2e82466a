"""Agreement with the R package FOCI 0.1.3 (values made by tests/fixtures/foci_reference/make_reference.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from unlearnbench.dependence import codec, foci, foci_reference

FIXTURES = Path(__file__).parent / "fixtures" / "foci_reference"
REFERENCE = json.loads((FIXTURES / "reference.json").read_text())


def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(FIXTURES / f"{name}.csv", delimiter=",", skiprows=1)
    return table[:, 0], table[:, 1:]


def _columns(spec: object) -> list[int]:
    return [int(i) for i in np.atleast_1d(spec)]  # jsonlite writes one-element vectors as scalars


CODEC_CASES = [(name, case) for name, d in REFERENCE["datasets"].items() for case in d["codec"]]
FOCI_CASES = [(name, case) for name, d in REFERENCE["datasets"].items() for case in d["foci"]]


def test_fixtures_come_from_foci_0_1_3() -> None:
    assert REFERENCE["meta"]["foci_version"] == "0.1.3"
    assert len(CODEC_CASES) >= 10 and len(FOCI_CASES) >= 4


@pytest.mark.parametrize(("name", "case"), CODEC_CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_codec_agrees_with_r(name: str, case: dict) -> None:
    y, X = _data(name)
    x = None if case["x"] is None else X[:, _columns(case["x"])]
    assert codec(y, X[:, _columns(case["z"])], x, seed=0) == pytest.approx(case["value"], abs=1e-9)


@pytest.mark.parametrize(("name", "case"), FOCI_CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_foci_selects_what_r_selects(name: str, case: dict) -> None:
    y, X = _data(name)
    expected = _columns(case["selected"]) if case["selected"] != [] else []
    for method in (foci, foci_reference):
        result = method(y, X, max_features=case["max_features"], seed=0)
        assert result.selected == expected
        assert np.allclose(result.statistics, np.atleast_1d(case["statistics"]), atol=1e-9, rtol=0)
