"""Predicates of the L-CODEC paper's claims about selection: Fig. 3 (speed), Table 1 (3D-Bullseye), Fig. 4.

Bullseye rows are addressed by method name (``lcodec-cit``, ...); the published numbers are
put into the same shape (see :mod:`unlearnbench.claims.evaluate`), so the Table 1
predicates also run on the paper's own numbers.
"""

from __future__ import annotations

import pandas as pd

from unlearnbench.claims.base import NotMeasured, Tables, Thresholds, Verdict, register, threshold
from unlearnbench.claims.quantities import fmt, grouped, judge_each, rows_of, value_at

SPEED = "lc-fig3-codec-speed"
BULLSEYE = "lc-table1-bullseye"
SPURIOUS = "lc-fig4-spurious"


@register("lc-fig3-lcodec-faster", reads={SPEED: ["experiment", "row", "method", "seconds_mean"]})
def lcodec_faster(tables: Tables, thresholds: Thresholds) -> Verdict:
    def judge(part: pd.DataFrame) -> tuple[bool, str]:
        wide = part.pivot_table(index="row", columns="method", values="seconds_mean", sort=False)
        if not {"foci", "lfoci"} <= set(wide.columns):
            raise NotMeasured("needs both foci and lfoci rows")
        wide = wide[["foci", "lfoci"]].dropna()
        if wide.empty:
            raise NotMeasured("no attribute timed with both methods")
        ratio = wide["foci"] / wide["lfoci"]
        faster = wide["lfoci"] < wide["foci"]
        slowest = ratio.idxmin()
        text = (
            f"L-FOCI faster on {int(faster.sum())}/{len(wide)} attributes; FOCI/L-FOCI time ratio "
            f"median {fmt(ratio.median())}, lowest {fmt(ratio.min())} ({slowest})"
        )
        return bool(faster.all()), text

    return judge_each(grouped(tables[SPEED], ["experiment"]), judge)


@register("lc-table1-cit-raw-tpr", reads={BULLSEYE: ["experiment", "column", "method", "tpr_mean"]})
def cit_raw_tpr(tables: Tables, thresholds: Thresholds) -> Verdict:
    least = threshold(thresholds, "min_tpr")

    def judge(part: pd.DataFrame) -> tuple[bool, str]:
        cell = rows_of(rows_of(part, "method", "lcodec-cit", "L-CODEC + CIT"), "column", "raw", "raw-data")
        tpr = value_at(cell, "tpr_mean", "TPR of L-CODEC + CIT on raw data")
        return tpr >= least, f"TPR {fmt(tpr)} vs min {least:g}"

    return judge_each(grouped(tables[BULLSEYE], ["experiment"]), judge)


@register(
    "lc-table1-lfoci-fastest", reads={BULLSEYE: ["experiment", "column", "row", "method", "seconds_mean"]}
)
def lfoci_fastest(tables: Tables, thresholds: Thresholds) -> Verdict:
    def judge(part: pd.DataFrame) -> tuple[bool, str]:
        part = part.assign(value=pd.to_numeric(part["seconds_mean"], errors="coerce"))
        target = (part["method"] == "lcodec-lfoci") & (part["column"] == "feature-maps")
        ours = value_at(part[target], "value", "time of L-CODEC + L-FOCI on feature maps")
        others = part[~target].dropna(subset=["value"])
        if others.empty:
            raise NotMeasured("no other timed cell")
        best = others.loc[others["value"].idxmin()]
        text = f"L-FOCI on feature maps {fmt(ours)} s vs fastest other {fmt(best['value'])} s ({best['row']}, {best['column']})"
        return ours < best["value"], text

    return judge_each(grouped(tables[BULLSEYE], ["experiment"]), judge)


#: Fig. 4 compares three regularisation schemes (all attributes, a random subset, FOCI's
#: blanket); ``none`` (the unregularised model some profiles add) is not a scheme.
NOT_A_SCHEME = {"none"}


@register(
    "lc-fig4-foci-best",
    reads={SPURIOUS: ["experiment", "regularisation", "attribute", "subset", "accuracy_mean"]},
)
def foci_best(tables: Tables, thresholds: Thresholds) -> Verdict:
    slack = threshold(thresholds, "slack")

    def judge(part: pd.DataFrame) -> tuple[bool, str]:
        part = part[~part["regularisation"].astype(str).isin(NOT_A_SCHEME)]
        wide = part.pivot_table(
            index=["attribute", "subset"], columns="regularisation", values="accuracy_mean", sort=False
        )
        if "foci" not in wide.columns:
            raise NotMeasured("no foci regularisation")
        others = [c for c in wide.columns if c != "foci"]
        if not others:
            raise NotMeasured("no other regularisation scheme")
        if not (wide.index.get_level_values("attribute") == "overall").any():
            raise NotMeasured("no overall accuracy")
        best_other = wide[others].max(axis=1)
        shortfall = (best_other - wide["foci"]).dropna()
        if shortfall.empty:
            raise NotMeasured("no group with FOCI and another scheme")
        attribute, subset = shortfall.idxmax()
        group = "overall" if attribute == "overall" else f"{subset} {attribute}"
        ok = bool((shortfall <= slack).all())
        text = (
            f"FOCI within {slack:g} of the best other scheme ({', '.join(others)}) in "
            f"{int((shortfall <= slack).sum())}/{len(shortfall)} groups; largest shortfall "
            f"{fmt(shortfall.max())} ({group}: FOCI {fmt(wide.loc[(attribute, subset), 'foci'])} "
            f"vs {fmt(best_other.loc[(attribute, subset)])})"
        )
        return ok, text

    return judge_each(grouped(tables[SPURIOUS], ["experiment"]), judge)
