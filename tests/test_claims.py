"""The claims as a whole: registry, the paper's own numbers, the report's claims section and counts."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from unlearnbench.artifacts import artifact_names
from unlearnbench.claims import HOLDS, NOT_MEASURED, Verdict, available_claims, get_predicate, register
from unlearnbench.claims.evaluate import evaluate_claims, load_claims, published_tables
from unlearnbench.cli import main
from unlearnbench.comparison import compare, counts_from_files, counts_line, load_published, to_markdown


@pytest.fixture
def claims(repo_root):
    return load_claims(repo_root / "config" / "claims.yaml")


@pytest.fixture
def published(repo_root):
    return load_published(repo_root / "config" / "published.yaml")


def test_every_claim_has_a_predicate_and_every_predicate_a_claim(claims):
    assert sorted(c["id"] for c in claims) == available_claims()


def test_predicates_read_existing_artifacts(claims):
    for claim in claims:
        for table in get_predicate(claim["id"]).reads:
            assert table in artifact_names(), (claim["id"], table)


def test_a_claim_id_registers_once():
    with pytest.raises(ValueError, match="registered twice"):
        register("gs-fratio-drop", reads={})(lambda tables, thresholds: Verdict(HOLDS))


def test_bad_claims_file_names_the_claim(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text(
        "claims:\n  - {id: x, paper: p, source: s, artifact: a, data: sometimes, predicate: q, threshold: {}}\n"
    )
    with pytest.raises(ValueError, match="claim x: data must be one of"):
        load_claims(path)
    path.write_text("claims:\n  - {id: x, paper: p}\n")
    with pytest.raises(ValueError, match="claim x lacks source"):
        load_claims(path)


def _parts(text: str) -> dict[str, str]:
    """``column: ...`` segments of a measured-quantities text."""
    return {seg.split(":")[0].strip(): seg for seg in text.split("; ")}


def test_paper_own_numbers_agree_with_the_preregistered_published_checks(claims, published):
    """claims.yaml's published_check notes were written by hand; the predicates must reach the same verdicts and numbers."""
    frame = evaluate_claims(claims, {}, published_tables(published)).set_index("id")
    checked = [c for c in claims if c.get("published_check")]
    assert {c["id"] for c in checked} == {"gs-fratio-drop", "gs-utility-kept"}
    for claim in checked:
        ours = _parts(frame.loc[claim["id"], "paper_measured"])
        for segment in claim["published_check"].split(";"):
            column = segment.split()[0]
            expected = "holds" if "(holds" in segment else "fails"
            assert f"({expected})" in ours[column], (claim["id"], column, ours)
            numbers = [float(x) for x in re.findall(r"-?\d+\.\d+|\d+", ours[column])]
            for value in re.findall(r"= ([0-9.]+)", segment):
                assert any(abs(float(value) - n) <= 0.005 for n in numbers), (
                    claim["id"],
                    column,
                    value,
                    numbers,
                )
        # Overall: the claim holds on the paper's numbers only when every column does.
        expected_overall = "fails" if "(fails" in claim["published_check"] else "holds"
        assert frame.loc[claim["id"], "paper_status"] == expected_overall


def test_paper_own_numbers_on_table1_of_each_paper(claims, published):
    frame = evaluate_claims(claims, {}, published_tables(published)).set_index("id")
    assert frame.loc["gs-lowest-fratio", "paper_status"] == HOLDS
    assert frame.loc["gs-time-share", "paper_verdict"].startswith(
        "not measurable: "
    )  # no RETRAIN time printed
    assert frame.loc["lc-table1-cit-raw-tpr", "paper_status"] == HOLDS
    assert frame.loc["lc-table1-lfoci-fastest", "paper_status"] == HOLDS
    assert frame.loc["lc-fig6-supported-share", "paper_verdict"] == "the paper prints no numbers for it"


def _gs_table(stand_in: bool) -> pd.DataFrame:
    rows = {
        "BEFORE": (0.34, 2.05, 0.03, 200.0),
        "OURS": (0.10, 2.1, 0.05, 5.0),
        "RETRAIN": (0.0, 2.0, 0.03, 210.0),
    }
    return pd.DataFrame(
        [
            {
                "column": "MNIST138",
                "row": r,
                "fratio_mean": f,
                "IS_mean": i,
                "FID_mean": d,
                "time_mean": s,
                "stand_in": stand_in,
            }
            for r, (f, i, d, s) in rows.items()
        ]
    )


def test_markdown_shows_counts_and_the_claims_section(claims, published):
    tables = {"gs-table1": _gs_table(stand_in=True)}
    frame = compare(published, tables)
    verdicts = evaluate_claims(claims, tables, published_tables(published))
    text = to_markdown(frame, "quick", verdicts)
    assert text.index("## Verdicts at a glance") < text.index("## Published values") < text.index("## Claims")
    line = counts_line(frame, verdicts)
    assert f"`{line}`" in text
    # time-share is a data: any claim (judged on stand-in data); every other claim is not measured here
    assert "claims: 1 holding (1 on stand-in data), 0 failing, 18 not measured here" in line
    assert "published values: 0 within tolerance, 0 outside tolerance" in line
    for claim in claims:
        assert f"| {claim['id']} " in text
    assert "holds (on stand-in data)" in text and "not measured here: stand-in data" in text
    assert "\\|test accuracy change\\|" in text  # a | inside a cell does not break the table


def test_counts_are_read_back_from_the_files(tmp_path, claims, published):
    tables = {"gs-table1": _gs_table(stand_in=False)}
    frame = compare(published, tables)
    verdicts = evaluate_claims(claims, tables, published_tables(published))
    frame.to_csv(tmp_path / "comparison.csv", index=False)
    verdicts.to_csv(tmp_path / "claims.csv", index=False)
    line = counts_from_files(tmp_path / "comparison.csv", tmp_path / "claims.csv")
    assert line == counts_line(frame, verdicts)
    assert "claims: not evaluated" in counts_from_files(tmp_path / "comparison.csv", tmp_path / "absent.csv")


def test_compare_verb_writes_claims_and_prints_counts(tmp_path, repo_root, capsys):
    table = tmp_path / "gs-table1.csv"
    _gs_table(stand_in=False).to_csv(table, index=False)
    out = {k: tmp_path / f"{k}" for k in ("comparison.csv", "comparison.md", "claims.csv")}
    argv = ["--config", str(repo_root / "config" / "config.yaml"), "compare"]
    argv += [
        "--published",
        str(repo_root / "config" / "published.yaml"),
        "--claims",
        str(repo_root / "config" / "claims.yaml"),
    ]
    argv += [
        "--csv",
        str(out["comparison.csv"]),
        "--md",
        str(out["comparison.md"]),
        "--claims-csv",
        str(out["claims.csv"]),
        str(table),
    ]
    assert main(argv) == 0
    written = pd.read_csv(out["claims.csv"]).set_index("id")
    assert written.loc["gs-fratio-drop", "status"] == HOLDS  # 1 - 0.10/0.34 = 0.71 >= 0.60
    assert written.loc["gs-time-share", "status"] == HOLDS  # 5 s / 210 s = 2.4 %
    assert written.loc["lc-fig3-lcodec-faster", "status"] == NOT_MEASURED
    assert "## Claims" in out["comparison.md"].read_text()
    printed = capsys.readouterr().out
    assert (
        main(
            [
                "--config",
                str(repo_root / "config" / "config.yaml"),
                "verdicts",
                "--comparison",
                str(out["comparison.csv"]),
                "--claims",
                str(out["claims.csv"]),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == printed.strip().splitlines()[-1]
