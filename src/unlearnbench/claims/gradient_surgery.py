"""Predicates of the gradient-surgery paper's claims, over its Table 1 (``gs-table1``).

Every claim is judged per table column (MNIST138, CelebA): it holds when it holds in every
column measured. Rows are addressed by the paper's labels (BEFORE, OURS, RETRAIN, ...), the
same labels ``config/published.yaml`` uses, so each predicate runs unchanged on the
paper's own numbers.
"""

from __future__ import annotations

import pandas as pd

from unlearnbench.claims.base import NotMeasured, Tables, Thresholds, Verdict, register, threshold
from unlearnbench.claims.quantities import fmt, grouped, judge_each, rows_of, value_at

TABLE = "gs-table1"
BEFORE, OURS, RETRAIN = "BEFORE", "OURS", "RETRAIN"


def mean(part: pd.DataFrame, row: str, metric: str) -> float:
    return value_at(rows_of(part, "row", row, row), f"{metric}_mean", f"{metric} of {row}")


def per_column(tables: Tables, judge) -> Verdict:
    """Judge each column; each experiment apart when several experiments fill one column (readings)."""
    table = tables[TABLE]
    keys = ["column"]
    if "experiment" in table and table.groupby("column")["experiment"].nunique().max() > 1:
        keys.append("experiment")
    return judge_each(grouped(table, keys), judge)


@register("gs-fratio-drop", reads={TABLE: ["column", "row", "fratio_mean"]})
def fratio_drop(tables: Tables, thresholds: Thresholds) -> Verdict:
    least = threshold(thresholds, "min_relative_drop")

    def judge(part: pd.DataFrame) -> tuple[bool, str]:
        before, ours = mean(part, BEFORE, "fratio"), mean(part, OURS, "fratio")
        if before <= 0:
            raise NotMeasured("BEFORE fratio is 0: no relative drop")
        drop = 1 - ours / before
        return drop >= least, f"drop 1 - {fmt(ours)}/{fmt(before)} = {fmt(drop)} vs min {least:.2f}"

    return per_column(tables, judge)


@register("gs-lowest-fratio", reads={TABLE: ["column", "row", "fratio_mean"]})
def lowest_fratio(tables: Tables, thresholds: Thresholds) -> Verdict:
    margin = threshold(thresholds, "margin")

    def judge(part: pd.DataFrame) -> tuple[bool, str]:
        ours = mean(part, OURS, "fratio")
        others = part[~part["row"].astype(str).isin([OURS, BEFORE, RETRAIN])]
        others = others.assign(value=pd.to_numeric(others["fratio_mean"], errors="coerce")).dropna(
            subset=["value"]
        )
        if others.empty:
            raise NotMeasured("no other unlearning row with a fratio")
        best = others.loc[others["value"].idxmin()]
        lowest = float(best["value"])
        return ours <= lowest - margin, f"OURS {fmt(ours)} vs lowest other {fmt(lowest)} ({best['row']})"

    return per_column(tables, judge)


@register("gs-time-share", reads={TABLE: ["column", "row", "time_mean"]})
def time_share(tables: Tables, thresholds: Thresholds) -> Verdict:
    most = threshold(thresholds, "max_share")

    def judge(part: pd.DataFrame) -> tuple[bool, str]:
        ours, retrain = mean(part, OURS, "time"), mean(part, RETRAIN, "time")
        if retrain <= 0:
            raise NotMeasured("RETRAIN time is 0")
        share = ours / retrain
        return share <= most, (
            f"OURS {fmt(ours)} s / RETRAIN {fmt(retrain)} s = {fmt(100 * share)} % vs max {fmt(100 * most)} %"
        )

    return per_column(tables, judge)


@register("gs-utility-kept", reads={TABLE: ["column", "row", "IS_mean", "FID_mean"]})
def utility_kept(tables: Tables, thresholds: Thresholds) -> Verdict:
    min_is, max_fid = threshold(thresholds, "min_is_ratio"), threshold(thresholds, "max_fid_ratio")

    def judge(part: pd.DataFrame) -> tuple[bool, str]:
        is_before, is_ours = mean(part, BEFORE, "IS"), mean(part, OURS, "IS")
        fid_before, fid_ours = mean(part, BEFORE, "FID"), mean(part, OURS, "FID")
        if is_before <= 0 or fid_before <= 0:
            raise NotMeasured("BEFORE IS or FID is 0: no ratio")
        is_ratio, fid_ratio = is_ours / is_before, fid_ours / fid_before
        text = (
            f"IS {fmt(is_ours)}/{fmt(is_before)} = {fmt(is_ratio)} (min {min_is:.2f}), "
            f"FID {fmt(fid_ours)}/{fmt(fid_before)} = {fmt(fid_ratio)} (max {max_fid:g})"
        )
        return is_ratio >= min_is and fid_ratio <= max_fid, text

    return per_column(tables, judge)
