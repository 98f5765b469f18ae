"""Arpit et al.'s (2017, §3.1) per-example difficulty as a dispersion test: S runs that differ only in their seed,
each example's count of runs that misclassify it, tested against the binomial that holds when every example is
equally hard.

Under that null each count is Binomial(S, q), q the mean misclassification rate, and Pearson's dispersion
statistic X = sum_i (c_i - S q)^2 / (S q (1 - q)) is about chi-square with N - 1 degrees of freedom: X / (N - 1)
is 1 for binomial counts and above 1 where some examples are hard (or easy) for every run.

The chi-square reference takes the N counts as independent, but they share their runs: a run that predicts one
class for every input (a net after one epoch on noise often does) makes the examples of a class right or wrong
together, which moves X far from N - 1 with no example harder than another. permutation_test gives the exact
reference for that: each run's misclassifications shuffled among the examples of one class, so each run keeps its
error count per class and only which examples carry them is random (docs/difficulty.md). numpy and scipy.stats (a
requirement in setup.cfg) only.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats

from rethink_tf.errors import BadInput


class DispersionError(BadInput, ValueError):
    """Misclassification indicators the test cannot read."""


@dataclasses.dataclass(frozen=True)
class Dispersion:
    """The dispersion test of S runs' misclassifications of N examples. `rate` is q; `statistic` X and `ratio`
    X / (N - 1) are NaN where q is 0 or 1 (every example the same: nothing to test). `p_over` is the chance of a
    statistic at least this large under the binomial (small: over-dispersed), `p_under` of one at most this large
    (small: under-dispersed). The shares of examples misclassified by every run and by none are beside what the
    binomial predicts for them, q^S and (1 - q)^S."""

    runs: int
    examples: int
    rate: float
    statistic: float
    ratio: float
    p_over: float
    p_under: float
    always_wrong: float
    never_wrong: float
    expected_always_wrong: float
    expected_never_wrong: float

    @property
    def dof(self) -> int:
        return self.examples - 1


def counts(wrong) -> np.ndarray:
    """Each example's count of misclassifying runs from indicators [runs S, examples N] (bool, or 0/1);
    DispersionError for anything else, or for fewer than 2 runs or 2 examples."""
    wrong = np.asarray(wrong)
    if wrong.ndim != 2:
        raise DispersionError(f"misclassifications must be a [runs, examples] matrix, not shape {wrong.shape}")
    if wrong.dtype != bool and not (np.issubdtype(wrong.dtype, np.integer) and np.isin(wrong, (0, 1)).all()):
        raise DispersionError("misclassifications must be booleans (or 0/1): True where a run misclassifies")
    runs, examples = wrong.shape
    if runs < 2 or examples < 2:
        raise DispersionError(
            f"the dispersion test needs at least 2 runs and 2 examples, got {runs} runs of {examples} examples; "
            "train more runs (they differ in --run_seed)"
        )
    return wrong.astype(np.int64).sum(axis=0)


def test(wrong) -> Dispersion:
    """The dispersion test of misclassification indicators [runs S, examples N] against Binomial(S, q)."""
    c = counts(wrong)
    runs, examples = np.shape(wrong)
    q = float(c.mean() / runs)
    if 0.0 < q < 1.0:
        statistic = float(_statistic(c, runs, q))
        dof = examples - 1
        ratio, p_over, p_under = (
            statistic / dof,
            float(stats.chi2.sf(statistic, dof)),
            float(stats.chi2.cdf(statistic, dof)),
        )
    else:
        statistic = ratio = p_over = p_under = float("nan")
    return Dispersion(
        runs=runs,
        examples=examples,
        rate=q,
        statistic=statistic,
        ratio=ratio,
        p_over=p_over,
        p_under=p_under,
        always_wrong=float(np.mean(c == runs)),
        never_wrong=float(np.mean(c == 0)),
        expected_always_wrong=q**runs,
        expected_never_wrong=(1.0 - q) ** runs,
    )


def _statistic(c: np.ndarray, runs: int, q: float) -> np.ndarray:
    """Pearson's X of counts c [..., N] against Binomial(runs, q)."""
    return np.sum((c - runs * q) ** 2, axis=-1) / (runs * q * (1.0 - q))


@dataclasses.dataclass(frozen=True)
class Permutation:
    """X against its distribution when, in every run, which examples of a class are misclassified is random (each
    run keeping its count per class): `null_ratio` is the mean X / (N - 1) of the shuffled draws (what the runs'
    class-level errors alone give), `p_over` and `p_under` the shares of draws at least and at most as far out as
    the observed X (counting the observed as one draw). NaN where q is 0 or 1."""

    draws: int
    null_ratio: float
    p_over: float
    p_under: float


def permutation_test(wrong, groups=None, draws: int = 999, seed: int = 0) -> Permutation:
    """The exact test of "the examples of a group (class) are equally hard" that keeps every run's errors per
    group: `draws` shuffles of each run's misclassifications within each group (`groups` [N]: e.g. the labels;
    None: one group), seeded by `seed` so a report is rebuilt bit for bit."""
    c = counts(wrong)
    wrong = np.asarray(wrong, bool)
    runs, examples = wrong.shape
    if draws < 1:
        raise DispersionError(f"a permutation test needs at least 1 draw, not {draws}")
    q = float(c.mean() / runs)
    if not 0.0 < q < 1.0:
        return Permutation(draws, float("nan"), float("nan"), float("nan"))
    groups = np.zeros(examples, np.int64) if groups is None else np.asarray(groups)
    if groups.shape != (examples,):
        raise DispersionError(f"groups must give one group per example ({examples}), not shape {groups.shape}")
    ids = np.unique(groups, return_inverse=True)[1].reshape(-1)
    order = np.argsort(ids, kind="stable")
    block, shuffled = ids[order].astype(np.float64), wrong[:, order]  # each group's examples side by side
    observed = _statistic(c, runs, q)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(draws, 2_000_000 // (runs * examples)))  # draws shuffled at once: about 16 MB of keys
    null = []
    for start in range(0, draws, chunk):
        n = min(chunk, draws - start)
        # Sorting by group + a uniform key permutes the positions within each group and keeps the groups in place.
        positions = np.argsort(block + rng.random((n, runs, examples)), axis=-1)
        drawn = np.take_along_axis(np.broadcast_to(shuffled, (n, runs, examples)), positions, axis=-1)
        null.append(_statistic(drawn.sum(axis=1), runs, q))
    null = np.concatenate(null)
    # A tolerance for float ties: a draw that reorders nothing has the observed X up to rounding.
    tol = 1e-9 * max(1.0, abs(observed))
    return Permutation(
        draws=draws,
        null_ratio=float(null.mean() / (examples - 1)),
        p_over=float((1 + np.sum(null >= observed - tol)) / (draws + 1)),
        p_under=float((1 + np.sum(null <= observed + tol)) / (draws + 1)),
    )


def histogram(c: np.ndarray, runs: int) -> np.ndarray:
    """How many examples have each count k = 0..runs."""
    return np.bincount(np.asarray(c, np.int64), minlength=runs + 1)[: runs + 1]


def expected_histogram(examples: int, runs: int, rate: float) -> np.ndarray:
    """N * Binomial(S, q).pmf(k) for k = 0..S: the histogram of counts if every example were equally hard."""
    return examples * stats.binom.pmf(np.arange(runs + 1), runs, rate)
