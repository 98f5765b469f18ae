"""Feldman & Zhang's held-out estimates from the ledgers of t runs on random subsets of one training set:
memorization mem(i), influence infl(i, j) on curve-test example j, and empirical (hypothesis) stability.

A run that trained on example i is "in" for i, one that held i out (--train_fraction < 1) is "out". With final
correctness c (the ledger's last row, argmax == the label trained on),
  mem(i)     = mean(c_i | in) - mean(c_i | out)
  infl(i, j) = mean(c_j | i in) - mean(c_j | i out)   (c_j: test example j's correctness against its test label)
  stab(i)    = mean(loss_i | out) - mean(loss_i | in)  (the ledger's final cross-entropy under the given label)
each with its two-sample standard error (Agresti & Caffo's for the proportions). Nothing is clipped: negative
estimates are kept and counted. numpy only, from ledgers alone (rethink_tf.ledger), so any report can call it.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from rethink_tf.errors import BadInput
from rethink_tf.ledger import Ledger

# Feldman & Zhang's thresholds (NeurIPS 2020, Sections 3-4): an example is memorized at mem >= 0.25, a
# (training, test) pair is high-influence at infl >= 0.15.
MEM_THRESHOLD = 0.25
INFL_THRESHOLD = 0.15
# The fractions of the t runs at which the estimate's spread is measured (the first t/8, t/4, t/2 and all t).
SPREAD_FRACTIONS = (1 / 8, 1 / 4, 1 / 2, 1.0)


class HeldOutError(BadInput, ValueError):
    """Ledgers that cannot be pooled into one estimate."""


@dataclasses.dataclass
class Runs:
    """The final rows of t ledgers of one training set, stacked: trained [t, N] (run k trained on example i),
    correct [t, N] and loss [t, N] of the training examples, test_correct [t, M] of the curve-test examples; the
    examples' canonical indices and labels once."""

    index: np.ndarray  # int64 [N]
    label: np.ndarray  # int64 [N], the label trained on
    true_label: np.ndarray  # int64 [N]
    trained: np.ndarray  # bool [t, N]
    correct: np.ndarray  # bool [t, N]
    loss: np.ndarray  # float32 [t, N]
    test_index: np.ndarray  # int64 [M]
    test_correct: np.ndarray  # bool [t, M]

    @property
    def t(self) -> int:
        return len(self.trained)

    @property
    def changed(self) -> np.ndarray:
        return self.label != self.true_label

    def first(self, t: int) -> "Runs":
        """The first t runs alone (the spread of the estimate against t)."""
        return dataclasses.replace(
            self,
            trained=self.trained[:t],
            correct=self.correct[:t],
            loss=self.loss[:t],
            test_correct=self.test_correct[:t],
        )


def stack(ledgers: Sequence[Ledger], names: Sequence[str] | None = None) -> Runs:
    """The ledgers' final rows as one Runs; HeldOutError when they are not of one training set (other examples,
    labels or curve-test examples) or one has no recorded epoch. `names` (the runs') go into the message."""
    names = list(names) if names is not None else [f"ledger {k}" for k in range(len(ledgers))]
    if not ledgers:
        raise HeldOutError("no ledgers to estimate from; train the experiment's runs first (a run keeps its ledger)")
    first = ledgers[0]
    for name, led in zip(names, ledgers, strict=True):
        if len(led.epochs) == 0:
            raise HeldOutError(f"{name}: its ledger has no epoch yet; let the run finish, or leave it out")
        same = (
            np.array_equal(led.train.index, first.train.index)
            and np.array_equal(led.train.label, first.train.label)
            and np.array_equal(led.train.true_label, first.train.true_label)
            and np.array_equal(led.test.index, first.test.index)
        )
        if not same:
            raise HeldOutError(
                f"{name} is not on the training set of {names[0]} (other examples or labels); pool only runs that "
                "differ in --run_seed alone"
            )
    return Runs(
        index=first.train.index,
        label=first.train.label,
        true_label=first.train.true_label,
        trained=np.stack([led.trained for led in ledgers]),
        correct=np.stack([led.train.correct[-1] for led in ledgers]),
        loss=np.stack([led.train.loss[-1].astype(np.float32) for led in ledgers]),
        test_index=first.test.index,
        test_correct=np.stack([led.test.correct[-1] for led in ledgers]),
    )


def _counts(trained: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per example i of trained [t, N]: how many runs trained on it, how many held it out."""
    n_in = trained.sum(0).astype(np.int64)
    return n_in, len(trained) - n_in


def _own_means(trained: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per example i: the mean of values[:, i] [t, N] over the runs that trained on i and over those that held
    it out (NaN where there are none)."""
    n_in, n_out = _counts(trained)
    values = values.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(trained, values, 0).sum(0) / n_in, np.where(trained, 0, values).sum(0) / n_out


def _cross_means(trained: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per training example i and column j of values [t, M]: the mean of values[:, j] over the runs that trained
    on i and over those that held it out, [N, M] each (NaN rows where there are none)."""
    n_in, n_out = _counts(trained)
    inside = trained.astype(np.float64)
    values = values.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (inside.T @ values) / n_in[:, None], ((1.0 - inside).T @ values) / n_out[:, None]


def _binomial_se(p_in, n_in, p_out, n_out) -> np.ndarray:
    """The standard error of a difference of two independent proportions, Agresti & Caffo's (2000): each side's
    proportion with one success and one failure added, p~ = (x + 1) / (n + 2), in sqrt(p~(1-p~)/(n+2) + ...).
    The plain sqrt(p(1-p)/n + q(1-q)/m) is 0 wherever both sides are all right or all wrong, which a few runs
    make common (every example at t = 2); this one is not. NaN where a side has no runs."""
    with np.errstate(invalid="ignore", divide="ignore"):
        a = (p_in * n_in + 1) / (n_in + 2)
        b = (p_out * n_out + 1) / (n_out + 2)
        se = np.sqrt(a * (1 - a) / (n_in + 2) + b * (1 - b) / (n_out + 2))
    return np.where((np.asarray(n_in) > 0) & (np.asarray(n_out) > 0), se, np.nan)


@dataclasses.dataclass
class Memorization:
    """Per training example: runs in and out, P[correct | in], P[correct | out], mem and its standard error (NaN
    where no run held the example out, or none trained on it); stab = mean loss out - mean loss in, and its SE."""

    index: np.ndarray
    label: np.ndarray
    true_label: np.ndarray
    n_in: np.ndarray
    n_out: np.ndarray
    p_in: np.ndarray
    p_out: np.ndarray
    mem: np.ndarray
    se: np.ndarray
    loss_in: np.ndarray
    loss_out: np.ndarray
    stab: np.ndarray
    stab_se: np.ndarray

    @property
    def changed(self) -> np.ndarray:
        return self.label != self.true_label

    @property
    def estimated(self) -> np.ndarray:
        """Which examples have an estimate (at least one run in and one out)."""
        return (self.n_in > 0) & (self.n_out > 0)


def memorization(runs: Runs) -> Memorization:
    """mem(i), its SE and the loss difference stab(i) for every training example (see the module's docstring)."""
    n_in, n_out = _counts(runs.trained)
    c_in, c_out = _own_means(runs.trained, runs.correct)
    l_in, l_out = _own_means(runs.trained, runs.loss)
    sq_in, sq_out = _own_means(runs.trained, runs.loss.astype(np.float64) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Unbiased variances of the loss on each side; one run on a side gives no spread (NaN SE).
        var_in = (sq_in - l_in**2) * n_in / (n_in - 1)
        var_out = (sq_out - l_out**2) * n_out / (n_out - 1)
        stab_se = np.sqrt(np.maximum(var_in, 0) / n_in + np.maximum(var_out, 0) / n_out)
    return Memorization(
        index=runs.index,
        label=runs.label,
        true_label=runs.true_label,
        n_in=n_in,
        n_out=n_out,
        p_in=c_in,
        p_out=c_out,
        mem=c_in - c_out,
        se=_binomial_se(c_in, n_in, c_out, n_out),
        loss_in=l_in,
        loss_out=l_out,
        stab=l_out - l_in,
        stab_se=stab_se,
    )


@dataclasses.dataclass
class Influence:
    """infl [N, M] of each training example on each curve-test example, and its SE (NaN where the training
    example has no run in or none out)."""

    train_index: np.ndarray
    test_index: np.ndarray
    infl: np.ndarray
    se: np.ndarray

    def pairs(self, threshold: float = INFL_THRESHOLD) -> list[tuple[int, int, float, float]]:
        """(training index, test index, infl, SE) of every pair at or above the threshold, highest first."""
        rows, cols = np.nonzero(np.nan_to_num(self.infl, nan=-np.inf) >= threshold)
        out = [
            (int(self.train_index[r]), int(self.test_index[c]), float(self.infl[r, c]), float(self.se[r, c]))
            for r, c in zip(rows, cols, strict=True)
        ]
        return sorted(out, key=lambda p: (-p[2], p[0], p[1]))


def influence(runs: Runs) -> Influence:
    """infl(i, j) = P[test j correct | i in] - P[test j correct | i out], and its two-sample binomial SE."""
    n_in, n_out = _counts(runs.trained)
    c_in, c_out = _cross_means(runs.trained, runs.test_correct)
    return Influence(
        runs.index, runs.test_index, c_in - c_out, _binomial_se(c_in, n_in[:, None], c_out, n_out[:, None])
    )


@dataclasses.dataclass(frozen=True)
class Spread:
    """The estimate from the first t of T runs against the one from all T: mean |mem_t - mem_T| over the examples
    both estimate, the mean SE at t, how many examples t estimates, and the fraction at mem >= 0.25."""

    t: int
    mean_abs_change: float
    mean_se: float
    estimated: int
    memorized_fraction: float


def spread(runs: Runs, fractions: Sequence[float] = SPREAD_FRACTIONS) -> list[Spread]:
    """The estimate's spread against t, at t = round(f T) for each fraction f (at least 2 runs): does it settle?"""
    full = memorization(runs)
    out = []
    for t in sorted({min(runs.t, max(2, round(f * runs.t))) for f in fractions}):
        part = memorization(runs.first(t))
        both = part.estimated & full.estimated
        mine = part.estimated
        out.append(
            Spread(
                t=t,
                mean_abs_change=float(np.mean(np.abs(part.mem[both] - full.mem[both]))) if both.any() else np.nan,
                mean_se=float(np.mean(part.se[mine])) if mine.any() else np.nan,
                estimated=int(mine.sum()),
                memorized_fraction=float(np.mean(part.mem[mine] >= MEM_THRESHOLD)) if mine.any() else np.nan,
            )
        )
    return out


@dataclasses.dataclass(frozen=True)
class Summary:
    """One group of examples (all, kept or changed labels): how many have an estimate, the fraction memorized
    (mem >= 0.25), the mean mem and its standard error over examples, negative estimates, and the empirical
    stability: mean and worst (max) over examples of stab(i)."""

    examples: int
    estimated: int
    memorized: int
    memorized_fraction: float
    mean_mem: float
    mean_mem_se: float
    negative: int
    mean_stab: float
    max_stab: float


def summarize(mem: Memorization, which: np.ndarray | None = None) -> Summary:
    """The Summary of the examples `which` selects (all by default)."""
    which = np.ones(len(mem.mem), bool) if which is None else np.asarray(which, bool)
    est = which & mem.estimated
    m, s = mem.mem[est], mem.stab[est]
    n = int(est.sum())
    return Summary(
        examples=int(which.sum()),
        estimated=n,
        memorized=int((m >= MEM_THRESHOLD).sum()),
        memorized_fraction=float(np.mean(m >= MEM_THRESHOLD)) if n else np.nan,
        mean_mem=float(m.mean()) if n else np.nan,
        mean_mem_se=float(m.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan,
        negative=int((m < 0).sum()),
        mean_stab=float(s.mean()) if n else np.nan,
        max_stab=float(s.max()) if n else np.nan,
    )
