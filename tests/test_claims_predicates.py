"""Every claim predicate on synthetic tables that make it hold, fail, and be not measured.

Each case puts its numbers just on either side of the threshold read from
``config/claims.yaml``, so a predicate that ignored the threshold (or used another) fails
here; ``test_thresholds_are_the_preregistered_ones`` pins the thresholds themselves, so
changing one in claims.yaml breaks a test visibly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unlearnbench.claims import FAILS, HOLDS, NOT_MEASURED, get_predicate
from unlearnbench.claims.evaluate import evaluate_claim, load_claims

REPO_ROOT = Path(__file__).resolve().parents[1]

CLAIMS = {c["id"]: c for c in load_claims(REPO_ROOT / "config" / "claims.yaml")}

#: The thresholds as pre-registered on 2026-12-03 (config/claims.yaml, commit b485bd9).
PREREGISTERED = {
    "gs-fratio-drop": {"min_relative_drop": 0.60},
    "gs-lowest-fratio": {"margin": 0.0},
    "gs-time-share": {"max_share": 0.05},
    "gs-utility-kept": {"min_is_ratio": 0.90, "max_fid_ratio": 3.5},
    "lc-fig3-lcodec-faster": {},
    "lc-table1-cit-raw-tpr": {"min_tpr": 0.99},
    "lc-table1-lfoci-fastest": {},
    "lc-fig4-foci-best": {"slack": 0.01},
    "lc-fig5-close-to-full": {"max_gap": 0.02},
    "lc-fig5-gradnorm-vs-random": {},
    "lc-fig5-zoo-accuracy-order": {"max_drop": 0.03, "min_spearman": 0.5},
    "lc-fig6-supported-share": {"max_drop": 0.03, "min_share": 0.5},
    "lc-fig7-vggface-class-falls-faster": {"min_margin": 0.05},
    "lc-table7b-ledgar-class-falls-faster": {"min_margin": 0.05},
    "lc-fig8-reid-person-falls-faster": {"min_margin": 0.05},
    "lc-reid-epsilon-supported": {"max_drop": 0.02, "max_supported_small_eps": 9},
    "lc-fig10-weight-decay": {"max_drop": 0.03},
    "lc-fig11-batch-of-one-dips": {"min_dip": 0.05},
    "lc-d4-kfac-no-update": {"max_change": 0.005},
}


def t(claim_id: str, key: str) -> float:
    return float(CLAIMS[claim_id]["threshold"][key])


def frame(records: list[dict], stand_in: bool = False) -> pd.DataFrame:
    return pd.DataFrame.from_records(records).assign(stand_in=stand_in)


def curve_rows(base: dict, removals: list[int], **metrics: list[float]) -> list[dict]:
    return [
        {**base, "removals": r, **{f"{m}_mean": v[i] for m, v in metrics.items()}}
        for i, r in enumerate(removals)
    ]


def falling(start: float, removals: list[int], fall_at: int | None, drop: float) -> list[float]:
    """A score at ``start`` that falls by ``drop`` from checkpoint ``fall_at`` on (never when None)."""
    return [start - (drop if fall_at is not None and r >= fall_at else 0.0) for r in removals]


# ---------------------------------------------------------------------------- gradient surgery


def gs(cells: dict[tuple[str, str], dict[str, float]]) -> dict[str, pd.DataFrame]:
    records = [
        {"column": c, "row": r, **{f"{m}_mean": v for m, v in ms.items()}} for (c, r), ms in cells.items()
    ]
    return {"gs-table1": frame(records)}


def fratio_drop(case: str):
    least = t("gs-fratio-drop", "min_relative_drop")
    ours = {"holds": 0.4 * (1 - least) - 0.01, "fails": 0.4 * (1 - least) + 0.01}.get(case)
    cells = {("MNIST138", "BEFORE"): {"fratio": 0.4}}
    if ours is not None:
        cells[("MNIST138", "OURS")] = {"fratio": ours}
    return gs(cells)


def lowest_fratio(case: str):
    margin = t("gs-lowest-fratio", "margin")
    cells = {
        ("MNIST138", "BEFORE"): {"fratio": 0.01},  # BEFORE and RETRAIN never count as rivals
        ("MNIST138", "RETRAIN"): {"fratio": 0.0},
        ("MNIST138", "GRAD.ASCNT."): {"fratio": 0.3},
        ("MNIST138", "MOON ET AL. (2023)"): {"fratio": np.nan},  # a row without a value is skipped
    }
    if case != "not measured":
        cells[("MNIST138", "OURS")] = {"fratio": 0.3 - margin + (-0.01 if case == "holds" else 0.01)}
    else:
        cells[("MNIST138", "OURS")] = {"fratio": 0.1}
        del cells[("MNIST138", "GRAD.ASCNT.")]
    return gs(cells)


def time_share(case: str):
    most = t("gs-time-share", "max_share")
    cells = {("MNIST138", "OURS"): {"time": 100 * most + (-0.1 if case == "holds" else 0.1)}}
    if case != "not measured":
        cells[("MNIST138", "RETRAIN")] = {"time": 100.0}
    return gs(cells)


def utility_kept(case: str):
    min_is, max_fid = t("gs-utility-kept", "min_is_ratio"), t("gs-utility-kept", "max_fid_ratio")
    cells = {
        ("MNIST138", "BEFORE"): {"IS": 2.0, "FID": 1.0},
        ("MNIST138", "OURS"): {"IS": 2.0 * min_is + 0.01, "FID": max_fid - 0.01},
        ("CelebA", "BEFORE"): {"IS": 2.0, "FID": 1.0},
        ("CelebA", "OURS"): {"IS": 2.0, "FID": 1.0},
    }
    if case == "fails":  # IS fine, FID just above the limit in one column: the claim fails
        cells[("CelebA", "OURS")] = {"IS": 2.0, "FID": max_fid + 0.01}
    if case == "not measured":
        cells = {k: v for k, v in cells.items() if k[1] != "BEFORE"}
    return gs(cells)


# ---------------------------------------------------------------------------- L-CODEC selection


def codec_speed(case: str):
    records = []
    for attribute, (foci, lfoci) in {
        "Smiling": (2.0, 1.0),
        "Male": (3.0, 1.0 if case != "fails" else 3.5),
    }.items():
        records.append({"experiment": "e", "row": attribute, "method": "foci", "seconds_mean": foci})
        if case != "not measured":
            records.append({"experiment": "e", "row": attribute, "method": "lfoci", "seconds_mean": lfoci})
    return {"lc-fig3-codec-speed": frame(records)}


def bullseye(case: str, tpr: float = 1.0, lfoci_seconds: float = 0.5):
    records = [
        {"experiment": "e", "column": c, "row": label, "method": m, "tpr_mean": tpr, "seconds_mean": s}
        for c, label, m, s in [
            ("raw", "[44]", "cit-baseline", 50.0),
            ("feature-maps", "[44]", "cit-baseline", 5.0),
            ("raw", "L-CODEC + CIT", "lcodec-cit", 4.0),
            ("feature-maps", "L-CODEC + CIT", "lcodec-cit", 1.0),
            ("raw", "L-CODEC + L-FOCI", "lcodec-lfoci", np.nan),
            ("feature-maps", "L-CODEC + L-FOCI", "lcodec-lfoci", lfoci_seconds),
        ]
    ]
    return {"lc-table1-bullseye": frame(records)}


def cit_raw_tpr(case: str):
    least = t("lc-table1-cit-raw-tpr", "min_tpr")
    tables = bullseye(case, tpr=least if case == "holds" else least - 0.01)
    if case == "not measured":
        table = tables["lc-table1-bullseye"]
        tables["lc-table1-bullseye"] = table[table["method"] != "lcodec-cit"]
    return tables


def lfoci_fastest(case: str):
    tables = bullseye(case, lfoci_seconds={"holds": 0.99, "fails": 1.0}.get(case, np.nan))
    return tables


def spurious(case: str):
    slack = t("lc-fig4-foci-best", "slack")
    foci = {"holds": 0.8 - slack / 2, "fails": 0.8 - 2 * slack}.get(case)
    accuracy = {"all": 0.7, "random": 0.8, "none": 0.95, "foci": foci}  # none is not a scheme
    records = []
    for scheme, acc in accuracy.items():
        if acc is None:
            continue
        for attribute, subset in (("overall", "all"), ("Mustache", "with"), ("Mustache", "without")):
            records.append(
                {
                    "experiment": "e",
                    "regularisation": scheme,
                    "attribute": attribute,
                    "subset": subset,
                    "accuracy_mean": acc,
                }
            )
    return {"lc-fig4-spurious": frame(records)}


# ---------------------------------------------------------------------------- L-CODEC removals

R = [0, 10, 20, 30]


def mnist(case: str, claim: str):
    most = t("lc-fig5-close-to-full", "max_gap")
    gap = most * 2 if (case == "fails" and claim == "close") else most / 2
    norms = {"lcodec": [np.nan, 2.0, 2.0, 2.0], "newton-random": [np.nan, 1.0, 1.0, 3.5]}
    if case == "fails" and claim == "norm":
        norms["newton-random"] = [np.nan, 2.0, 2.0, 2.1]
    acc = {"lcodec": 0.9, "newton-full": 0.9 + gap, "newton-random": 0.85}
    records = []
    for method in ("lcodec", "newton-full", "newton-random"):
        if case == "not measured" and method == ("newton-full" if claim == "close" else "newton-random"):
            continue
        records += curve_rows(
            {"experiment": "e", "method": method},
            R,
            residual_accuracy=[acc[method]] * 4,
            test_accuracy=[0.9, 0.9, 0.9, acc[method]],
            sample_gradient_norm_after=norms.get(method, [np.nan, 1.5, 1.5, 1.5]),
        )
    return {"lc-fig5-mnist-logreg": frame(records)}


def zoo(case: str):
    drop = t("lc-fig5-zoo-accuracy-order", "max_drop") + 0.01
    # (base accuracy, first checkpoint at which it falls): better models fall later
    models = {"m1": (0.6, 10), "m2": (0.7, 20), "m3": (0.8, 30), "m4": (0.9, None)}
    if case == "fails":
        models = {"m1": (0.6, None), "m2": (0.7, 30), "m3": (0.8, 20), "m4": (0.9, 10)}
    if case == "not measured":
        models = {k: (b, None) for k, (b, _) in models.items()}
    records = []
    for name, (base, fall) in models.items():
        records += curve_rows(
            {"experiment": name, "column": name.upper(), "method": "lcodec"},
            R,
            test_accuracy=falling(base, R, fall, drop),
        )
    return {"lc-fig5-cifar-zoo": frame(records)}


def supported_share(case: str):
    drop = t("lc-fig6-supported-share", "max_drop") + 0.01
    share = t("lc-fig6-supported-share", "min_share")
    removals = list(range(0, 101, 10))
    fall = {"holds": int(share * 100) + 10, "fails": int(share * 100)}.get(case, 10)
    records = curve_rows(
        {"experiment": "e", "method": "lcodec"}, removals, test_accuracy=falling(0.9, removals, fall, drop)
    )
    records += curve_rows(
        {"experiment": "e", "method": "retrain"}, removals, test_accuracy=[0.5] * len(removals)
    )
    table = frame(records)
    if case == "not measured":
        table = table[table["removals"] > 0]
    return {"lc-fig6-retrain": table}


def weight_decay(case: str):
    drop = t("lc-fig10-weight-decay", "max_drop") + 0.01
    falls = {
        "holds": {0.01: 20, 0.1: None},
        "fails": {0.01: None, 0.1: 20},
        "not measured": {0.01: None, 0.1: None},
    }
    records = []
    for wd, fall in falls[case].items():
        records += curve_rows(
            {"experiment": f"wd{wd}", "weight_decay": wd, "method": "lcodec"},
            R,
            test_accuracy=falling(0.9, R, fall, drop),
        )
    return {"lc-fig10-weight-decay": frame(records)}


def batch_dips(case: str):
    dip = t("lc-fig11-batch-of-one-dips", "min_dip")
    removals = [0, 1, 2, 3, 4, 5]
    one = [r == 2 for r in removals] if case != "not measured" else [False] * 6
    at = 2 if case != "fails" else 3
    acc = [0.8 - (dip + 0.01 if r == at else 0.0) for r in removals]
    records = [
        {
            "experiment": "e",
            "method": "retrain",
            "removals": r,
            "test_accuracy_mean": a,
            "final_batch_of_one": o,
        }
        for r, a, o in zip(removals, acc, one, strict=True)
    ]
    records += [
        {
            "experiment": "e",
            "method": "lcodec",
            "removals": r,
            "test_accuracy_mean": 0.8,
            "final_batch_of_one": False,
        }
        for r in removals
    ]
    return {"lc-fig11-cifar-retrain": frame(records)}


def falls_faster_rows(case: str, claim_id: str, scrubbed: str, residual: str, base: dict) -> list[dict]:
    margin = t(claim_id, "min_margin")
    gap = margin + 0.01 if case == "holds" else margin - 0.01
    removals = R if case != "not measured" else [0]
    return curve_rows(
        {**base, "method": "lcodec"},
        removals,
        **{
            scrubbed: [0.9 - (0.02 + gap) * (r > 0) for r in removals],
            residual: [0.8 - 0.02 * (r > 0) for r in removals],
        },
    )


def vggface(case: str):
    rows = falls_faster_rows(
        case,
        "lc-fig7-vggface-class-falls-faster",
        "identity_accuracy",
        "residual_accuracy",
        {"experiment": "e"},
    )
    return {"lc-fig7-vggface": frame(rows)}


def ledgar(case: str):
    rows = []
    for label in ("Governing Laws", "Terminations"):
        rows += falls_faster_rows(
            case if label == "Terminations" else "holds",
            "lc-table7b-ledgar-class-falls-faster",
            "class_f1",
            "micro_f1",
            {"experiment": "e", "removed_label": label, "epsilon": 0.1},
        )
    table = frame(rows)
    if case == "not measured":
        table = table[table["removed_label"] == "Terminations"]
    return {"lc-table7b-ledgar": table}


def reid_person(case: str):
    rows = falls_faster_rows(
        case, "lc-fig8-reid-person-falls-faster", "identity_mAP", "mAP", {"experiment": "e", "epsilon": 0.1}
    )
    return {"lc-sec7-4-reid-map": frame(rows)}


def reid_epsilon(case: str):
    drop = t("lc-reid-epsilon-supported", "max_drop") + 0.01
    most = int(t("lc-reid-epsilon-supported", "max_supported_small_eps"))
    removals = [0, 5, 10, 15, 20]
    small_fall = 10 if case != "fails" else 15  # supports 5 (<= 9) or 10 (> 9)
    assert small_fall - 5 <= most if case != "fails" else small_fall - 5 > most
    rows = curve_rows(
        {"experiment": "e", "epsilon": 5e-4, "method": "lcodec"},
        removals,
        mAP=falling(0.5, removals, small_fall, drop),
    )
    if case != "not measured":
        rows += curve_rows({"experiment": "e", "epsilon": 0.1, "method": "lcodec"}, removals, mAP=[0.5] * 5)
    return {"lc-sec7-4-reid-map": frame(rows)}


def kfac(case: str):
    most = t("lc-d4-kfac-no-update", "max_change")
    change = most - 0.001 if case != "fails" else most + 0.001
    rows = curve_rows(
        {"experiment": "e", "method": "newton-kfac"},
        R,
        test_accuracy=[0.9, 0.9, 0.9 - change, 0.9],
        sample_loss_before=[np.nan, 1.0, 1.0, 1.0],
        sample_loss_after=[np.nan, 1.01, 1.01, 1.01],
    )
    if case != "not measured":
        rows += curve_rows(
            {"experiment": "e", "method": "lcodec"},
            R,
            test_accuracy=[0.9, 0.88, 0.87, 0.86],
            sample_loss_before=[np.nan, 1.0, 1.0, 1.0],
            sample_loss_after=[np.nan, 2.0, 2.0, 2.0],
        )
    return {"lc-d4-kfac": frame(rows)}


CASES: dict[str, tuple[Callable[[str], dict[str, pd.DataFrame]], str]] = {
    "gs-fratio-drop": (fratio_drop, "no OURS rows"),
    "gs-lowest-fratio": (lowest_fratio, "no other unlearning row"),
    "gs-time-share": (time_share, "no RETRAIN rows"),
    "gs-utility-kept": (utility_kept, "no BEFORE rows"),
    "lc-fig3-lcodec-faster": (codec_speed, "needs both foci and lfoci"),
    "lc-table1-cit-raw-tpr": (cit_raw_tpr, "no L-CODEC + CIT rows"),
    "lc-table1-lfoci-fastest": (lfoci_fastest, "no time of L-CODEC + L-FOCI on feature maps"),
    "lc-fig4-foci-best": (spurious, "no foci regularisation"),
    "lc-fig5-close-to-full": (lambda case: mnist(case, "close"), "no newton-full rows"),
    "lc-fig5-gradnorm-vs-random": (lambda case: mnist(case, "norm"), "no newton-random rows"),
    "lc-fig5-zoo-accuracy-order": (zoo, "no model's test accuracy fell"),
    "lc-fig6-supported-share": (supported_share, "no checkpoint at removal 0"),
    "lc-fig7-vggface-class-falls-faster": (vggface, "no checkpoint after removal 0"),
    "lc-table7b-ledgar-class-falls-faster": (ledgar, "no checkpoint after removal 0"),
    "lc-fig8-reid-person-falls-faster": (reid_person, "no checkpoint after removal 0"),
    "lc-reid-epsilon-supported": (reid_epsilon, "no run at epsilon 0.1"),
    "lc-fig10-weight-decay": (weight_decay, "every weight decay supports all removals"),
    "lc-fig11-batch-of-one-dips": (batch_dips, "no checkpoint with a final batch of one"),
    "lc-d4-kfac-no-update": (kfac, "no lcodec rows"),
}


def judge(claim_id: str, tables: dict[str, pd.DataFrame]):
    return evaluate_claim(CLAIMS[claim_id], tables)


def test_every_claim_has_a_case_here():
    assert set(CASES) == set(CLAIMS)


def test_thresholds_are_the_preregistered_ones():
    """Thresholds are fixed before any result: a change must be a visible, reviewed revision (revised_from)."""
    assert {i: c["threshold"] for i, c in CLAIMS.items()} == PREREGISTERED


@pytest.mark.parametrize("claim_id", sorted(CASES))
def test_predicate_holds(claim_id):
    verdict = judge(claim_id, CASES[claim_id][0]("holds"))
    assert verdict.status == HOLDS, verdict
    assert verdict.measured


@pytest.mark.parametrize("claim_id", sorted(CASES))
def test_predicate_fails(claim_id):
    verdict = judge(claim_id, CASES[claim_id][0]("fails"))
    assert verdict.status == FAILS, verdict
    assert verdict.measured


@pytest.mark.parametrize("claim_id", sorted(CASES))
def test_predicate_not_measured(claim_id):
    builder, reason = CASES[claim_id]
    verdict = judge(claim_id, builder("not measured"))
    assert verdict.status == NOT_MEASURED, verdict
    assert reason in verdict.reason
    assert verdict.label.startswith("not measured here: ")


@pytest.mark.parametrize("claim_id", sorted(CASES))
def test_a_missing_quantity_is_not_measured_never_a_crash(claim_id):
    tables = CASES[claim_id][0]("holds")
    for name, columns in get_predicate(claim_id).reads.items():
        for column in columns:
            lacking = {**tables, name: tables[name].drop(columns=[column])}
            verdict = judge(claim_id, lacking)
            assert verdict.status == NOT_MEASURED and f"{name} lacks {column}" in verdict.reason, (
                column,
                verdict,
            )


@pytest.mark.parametrize("claim_id", sorted(CASES))
def test_a_missing_table_is_not_built_in_this_profile(claim_id):
    verdict = judge(claim_id, {})
    assert verdict.label.startswith("not measured here: artifact not built in this profile")


@pytest.mark.parametrize("claim_id", sorted(CASES))
def test_stand_in_data(claim_id):
    tables = {name: table.assign(stand_in=True) for name, table in CASES[claim_id][0]("holds").items()}
    verdict = judge(claim_id, tables)
    if CLAIMS[claim_id]["data"] == "real":
        assert verdict.label == "not measured here: stand-in data"
    else:
        assert verdict.label == "holds (on stand-in data)"


def test_real_claim_leaves_out_stand_in_rows_and_says_so():
    real = fratio_drop("holds")["gs-table1"]
    stand_in = fratio_drop("fails")["gs-table1"].assign(column="CelebA", stand_in=True)
    verdict = judge("gs-fratio-drop", {"gs-table1": pd.concat([real, stand_in])})
    assert verdict.status == HOLDS and "CelebA" not in verdict.parts
    assert "stand-in rows of gs-table1 left out" in verdict.measured


def test_per_column_claim_fails_when_one_column_fails():
    verdict = judge("gs-utility-kept", utility_kept("fails"))
    assert verdict.parts == {"MNIST138": HOLDS, "CelebA": FAILS}


def test_kfac_claim_is_not_measured_where_its_artifact_is_not_built():
    verdict = judge(
        "lc-d4-kfac-no-update", {"lc-fig5-mnist-logreg": mnist("holds", "close")["lc-fig5-mnist-logreg"]}
    )
    assert verdict.reason == "artifact not built in this profile (lc-d4-kfac)"


def test_fig4_does_not_count_the_unregularised_model_as_a_scheme():
    """'none' is far better than FOCI in the holding case: FOCI is still the best scheme."""
    verdict = judge("lc-fig4-foci-best", spurious("holds"))
    assert verdict.status == HOLDS and "none" not in verdict.measured.split("scheme (")[1].split(")")[0]


def test_two_experiments_in_one_column_are_judged_apart_never_mixed():
    holds = fratio_drop("holds")["gs-table1"].assign(experiment="gs-default")
    fails = fratio_drop("fails")["gs-table1"].assign(experiment="gs-reading")
    verdict = judge("gs-fratio-drop", {"gs-table1": pd.concat([holds, fails])})
    assert verdict.parts == {"MNIST138, gs-default": HOLDS, "MNIST138, gs-reading": FAILS}


def test_an_ambiguous_curve_is_not_measured_never_a_silent_pick():
    table = supported_share("holds")["lc-fig6-retrain"]
    verdict = judge("lc-fig6-supported-share", {"lc-fig6-retrain": pd.concat([table, table])})
    assert verdict.status == NOT_MEASURED and "several rows per checkpoint" in verdict.reason
