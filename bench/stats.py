"""Medians with 95 % bootstrap intervals, ratios of medians with theirs, and verdicts.

The interval of a median is the 2.5th-97.5th percentile of the medians of B resamples (with
replacement) of the runs; the interval of a ratio resamples both sides independently. A seeded
generator keeps a report reproducible from its raw runs. With 5 runs the interval is wide on
purpose: a verdict is given only when it clears the target.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence

B = 4000
SEED = 20261201


def _medians(xs: Sequence[float], rng: random.Random) -> list[float]:
    n = len(xs)
    return [statistics.median(rng.choices(xs, k=n)) for _ in range(B)]


def _interval(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return s[int(0.025 * (len(s) - 1))], s[int(0.975 * (len(s) - 1))]


def median_ci(xs: Sequence[float]) -> tuple[float, float, float]:
    """(median, low, high) of the runs."""
    if not xs:
        raise ValueError("no runs")
    med = statistics.median(xs)
    if len(xs) == 1:
        return med, med, med
    lo, hi = _interval(_medians(xs, random.Random(SEED)))
    return med, lo, hi


def ratio_ci(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float] | None:
    """(median(xs)/median(ys), low, high), or None when a median of ys is 0."""
    if not xs or not ys:
        return None
    base = statistics.median(ys)
    if base == 0:
        return None
    rng = random.Random(SEED)
    mx, my = _medians(xs, rng), _medians(ys, rng)
    ratios = [a / b for a, b in zip(mx, my, strict=True) if b]
    lo, hi = _interval(ratios)
    return statistics.median(xs) / base, lo, hi


def mean_ratio_ci(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float] | None:
    """(mean(xs)/mean(ys), low, high): for rates over consecutive intervals of one sustained
    run, where the mean is the overall rate and a collapse (intervals at 0) must weigh in;
    resamples whose ys are all 0 are left out. None when ys never moved."""
    if not xs or not ys or sum(ys) == 0:
        return None
    rng = random.Random(SEED)
    ratios = []
    for _ in range(B):
        num, den = sum(rng.choices(xs, k=len(xs))), sum(rng.choices(ys, k=len(ys)))
        if den:
            ratios.append(num / den * len(ys) / len(xs))
    lo, hi = _interval(ratios)
    return statistics.fmean(xs) / statistics.fmean(ys), lo, hi


PASS, FAIL, UNSETTLED = "PASS", "FAIL", "NOT SETTLED"


def verdict(lo: float, hi: float, target: float, at_least: bool) -> str:
    """PASS/FAIL only when the whole interval is on one side of the target."""
    if at_least:
        if lo >= target:
            return PASS
        if hi < target:
            return FAIL
        return UNSETTLED
    if hi <= target:
        return PASS
    if lo > target:
        return FAIL
    return UNSETTLED


def above_one(ci: tuple[float, float, float] | None) -> bool:
    """The ratio is settled above 1.0 (the whole interval)."""
    return ci is not None and ci[1] > 1.0


def overlaps_one(ci: tuple[float, float, float] | None) -> bool:
    return ci is not None and ci[1] <= 1.0 <= ci[2]
