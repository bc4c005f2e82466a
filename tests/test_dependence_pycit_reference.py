"""Agreement of the kNN (C)MI estimators with pycit 0.0.7 (values made by tests/fixtures/pycit_reference/make_reference.py).

pycit is not needed to run this test: its values are stored in the fixture.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from unlearnbench.dependence.cit import ksg_cmi, ksg_mi

REFERENCE = json.loads(
    (Path(__file__).parent / "fixtures" / "pycit_reference" / "reference.json").read_text()
)
CASES = REFERENCE["cases"]


def _data(case: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = CASES[case]
    return np.asarray(c["x"]), np.asarray(c["y"]), np.asarray(c["z"])


def test_fixture_has_discrete_and_mixed_cases() -> None:
    assert REFERENCE["meta"]["package"] == "pycit"
    assert {"discrete", "mixed", "continuous"} <= set(CASES)
    x, y, z = _data("discrete")
    assert len(np.unique(np.hstack([x, z, y[:, None]]), axis=0)) < len(y) // 2  # many repeated points


@pytest.mark.parametrize("case", sorted(CASES))
def test_ksg_cmi_matches_pycit_mixed_cmi(case: str) -> None:
    x, y, z = _data(case)
    assert ksg_cmi(x, y, z, k=REFERENCE["meta"]["k"]) == pytest.approx(
        CASES[case]["cmi"], rel=1e-12, abs=1e-12
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_ksg_mi_matches_pycit_mixed_mi(case: str) -> None:
    x, y, _ = _data(case)
    assert ksg_mi(x, y, k=REFERENCE["meta"]["k"]) == pytest.approx(CASES[case]["mi"], rel=1e-12, abs=1e-12)
