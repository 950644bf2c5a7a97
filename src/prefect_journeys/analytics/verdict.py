"""The plain-language verdict of an experiment (English and Chinese), which refuses to call a
winner on too little data and says why."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from prefect_journeys.analytics.proportions import sample_size_per_arm

Locale = Literal["en", "zh-CN"]


_MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "empty": "No enrollments have been split into variants yet.",
        "single": "Only one variant ({control}) has data: there is nothing to compare it with.",
        "winner": "{variant} wins: it converts at {rate} against {base} for {control}"
        " ({lift} points, 95% CI {low} to {high}; p {p}).",
        "loser": "{variant} does worse than {control}: {rate} against {base}"
        " ({lift} points, 95% CI {low} to {high}; p {p}).",
        "no_difference": "{variant} vs {control}: no significant difference yet"
        " ({rate} against {base}, p {p} ≥ {alpha}). Do not call a winner.",
        "insufficient": "{variant} vs {control}: too little data to call a winner — {why}.",
        "too_few_conversions": "{count} conversions in {who} (at least {minimum} needed per arm)",
        "below_sample_size": "{have} enrollments in the smaller arm, {need} needed per arm to"
        " detect a {mde} change from a {base} baseline",
        "no_baseline": "{control} has no conversions, so the needed sample size is unknown",
        "overall_winner": "Verdict: {variant} is the winner.",
        "overall_none": "Verdict: no winner yet.",
        "effect_rel": "{mde}% relative",
        "effect_abs": "{mde}-point",
    },
    "zh-CN": {
        "empty": "还没有客户被分配到任何变体。",
        "single": "只有一个变体（{control}）有数据，无法比较。",
        "winner": "{variant} 胜出：转化率 {rate}，{control} 为 {base}"
        "（差 {lift} 个百分点，95% 置信区间 {low} 至 {high}；p {p}）。",
        "loser": "{variant} 不如 {control}：转化率 {rate}，{control} 为 {base}"
        "（差 {lift} 个百分点，95% 置信区间 {low} 至 {high}；p {p}）。",
        "no_difference": "{variant} 对比 {control}：暂无显著差异"
        "（{rate} 对 {base}，p {p} ≥ {alpha}），不能判定胜者。",
        "insufficient": "{variant} 对比 {control}：数据太少，不能判定胜者——{why}。",
        "too_few_conversions": "{who} 只有 {count} 次转化（每组至少需要 {minimum} 次）",
        "below_sample_size": "较小的一组只有 {have} 个客户，要在 {base} 的基线上检测 {mde}"
        " 的变化，每组需要 {need} 个",
        "no_baseline": "{control} 没有任何转化，无法估算所需样本量",
        "overall_winner": "结论：{variant} 胜出。",
        "overall_none": "结论：暂无胜者。",
        "effect_rel": "相对 {mde}%",
        "effect_abs": "{mde} 个百分点",
    },
}


@dataclass(frozen=True)
class Comparison:
    """One variant against the control, and what may be concluded from it."""

    variant: str
    control: str
    status: Literal["winner", "loser", "no_difference", "insufficient"]
    reasons: tuple[str, ...]  # why data is insufficient: too_few_conversions, below_sample_size,
    # no_baseline
    rate: float
    base: float
    lift_abs: float
    lift_abs_low: float
    lift_abs_high: float
    p_value: float
    p_adjusted: float
    required_per_arm: int | None
    messages: dict[str, str] = field(default_factory=dict)  # locale → sentence


@dataclass(frozen=True)
class Verdict:
    """The experiment's conclusion: a winner only when a comparison is significant (after the
    multiple-comparison correction) *and* both arms reached the needed sample size and the
    minimum number of conversions."""

    status: Literal["winner", "no_winner", "empty"]
    winner: str | None
    control: str | None
    comparisons: tuple[Comparison, ...]
    headline: dict[str, str]

    def text(self, locale: Locale = "en") -> str:
        """The verdict as sentences: headline first, then one line per comparison."""
        if locale not in _MESSAGES:
            raise ValueError(f"unknown locale {locale!r}: use en or zh-CN")
        lines = [self.headline[locale]]
        lines += [c.messages[locale] for c in self.comparisons]
        return "\n".join(lines)


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 100:.2f}%"


def _pts(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 100:+.2f}"


def _p(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"


def experiment_verdict(
    table: pd.DataFrame,
    *,
    mde: float = 0.2,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    min_conversions: int = 20,
) -> Verdict:
    """Judge an :func:`experiment_table` (each variant against its control row).

    A variant is a winner (or loser) only when all hold: both arms have at least
    ``min_conversions`` conversions; the smaller arm has at least the enrollments
    :func:`sample_size_per_arm` requires for the control's observed rate and the default
    minimum detectable effect ``mde`` (relative 20% unless told); and the corrected p-value is
    below ``alpha``. Otherwise it says which condition failed. The overall winner is the
    winning variant with the highest rate.
    """
    if min_conversions < 0:
        raise ValueError("min_conversions cannot be negative")
    kind_key = "effect_rel" if relative else "effect_abs"
    if table.empty:
        headline = {loc: m["empty"] for loc, m in _MESSAGES.items()}
        return Verdict("empty", None, None, (), headline)
    ctrl_rows = table[table["control"]]
    ctrl_row = ctrl_rows.iloc[0]
    control = str(ctrl_row["variant"])
    others = table[~table["control"] & (table["enrollments"] > 0)]
    if others.empty or int(ctrl_row["enrollments"]) == 0:
        headline = {loc: m["single"].format(control=control) for loc, m in _MESSAGES.items()}
        return Verdict("no_winner", None, control, (), headline)
    n0, x0 = int(ctrl_row["enrollments"]), int(ctrl_row["conversions"])
    base = x0 / n0
    required: int | None = None
    if 0 < base < 1:
        try:
            required = sample_size_per_arm(base, mde, relative=relative, alpha=alpha, power=power)
        except ValueError:
            required = None
    comparisons: list[Comparison] = []
    for row in others.to_dict("records"):
        n1, x1 = int(row["enrollments"]), int(row["conversions"])
        reasons: list[str] = []
        why: dict[str, list[str]] = {loc: [] for loc in _MESSAGES}
        for who, count in ((str(row["variant"]), x1), (control, x0)):
            if count < min_conversions:
                reasons.append("too_few_conversions")
                for loc, msgs in _MESSAGES.items():
                    why[loc].append(
                        msgs["too_few_conversions"].format(
                            count=count, who=who, minimum=min_conversions
                        )
                    )
        if required is None:
            reasons.append("no_baseline")
            for loc, msgs in _MESSAGES.items():
                why[loc].append(msgs["no_baseline"].format(control=control))
        elif min(n0, n1) < required:
            reasons.append("below_sample_size")
            for loc, msgs in _MESSAGES.items():
                effect = msgs[kind_key].format(mde=f"{mde * 100:g}")
                why[loc].append(
                    msgs["below_sample_size"].format(
                        have=min(n0, n1), need=required, mde=effect, base=_pct(base)
                    )
                )
        p_adj = float(row["p_adjusted"])
        status: Literal["winner", "loser", "no_difference", "insufficient"]
        if reasons:
            status = "insufficient"
        elif math.isnan(p_adj) or p_adj >= alpha:
            status = "no_difference"
        else:
            status = "winner" if float(row["lift_abs"]) > 0 else "loser"
        values = {
            "variant": row["variant"],
            "control": control,
            "rate": _pct(float(row["rate"])),
            "base": _pct(base),
            "lift": _pts(float(row["lift_abs"])),
            "low": _pts(float(row["lift_abs_low"])),
            "high": _pts(float(row["lift_abs_high"])),
            "p": _p(p_adj),
            "alpha": alpha,
        }
        messages = {}
        for loc, msgs in _MESSAGES.items():
            sep = "；" if loc == "zh-CN" else "; "
            messages[loc] = msgs[status].format(**values, why=sep.join(dict.fromkeys(why[loc])))
        comparisons.append(
            Comparison(
                variant=str(row["variant"]),
                control=control,
                status=status,
                reasons=tuple(dict.fromkeys(reasons)),
                rate=float(row["rate"]),
                base=base,
                lift_abs=float(row["lift_abs"]),
                lift_abs_low=float(row["lift_abs_low"]),
                lift_abs_high=float(row["lift_abs_high"]),
                p_value=float(row["p_value"]),
                p_adjusted=p_adj,
                required_per_arm=required,
                messages=messages,
            )
        )
    winners = [c for c in comparisons if c.status == "winner"]
    if winners:
        best = max(winners, key=lambda c: c.rate)
        headline = {
            loc: m["overall_winner"].format(variant=best.variant) for loc, m in _MESSAGES.items()
        }
        return Verdict("winner", best.variant, control, tuple(comparisons), headline)
    headline = {loc: m["overall_none"] for loc, m in _MESSAGES.items()}
    return Verdict("no_winner", None, control, tuple(comparisons), headline)


__all__ = ["Comparison", "Locale", "Verdict", "experiment_verdict"]
