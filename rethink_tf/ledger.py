"""The per-example ledger of a run (ledger.npz beside record.json): for every training example, held out or
not, and every example of the curve test subset, at the end of every epoch: correct or not, loss and margin
under the label it was trained on (the test set's label for test examples); the labels, canonical indices and (a
partial input corruption) which inputs were corrupted, once.

Written here rather than by a Keras callback's CSV logger: those log aggregates, and a row per example per epoch
needs arrays. The file is replaced whole (rethink_tf.atomic), so a kill leaves the last complete epoch. Reading
needs numpy only: the analyses (rethink_tf.learning_order) and reports work from the file alone.
"""

from __future__ import annotations

import dataclasses
import io
import os

import numpy as np

from rethink_tf import atomic
from rethink_tf.errors import BadInput

FILE = "ledger.npz"
# 1: rethink_tf 0.6 before input_changed (read as no input corrupted, as those runs had none). 2: input_changed.
FORMAT = 2
FORMATS = (1, 2)
# Per-example values are stored as float16: a ledger row of 50,000 examples costs 250 kB, not 450 kB, and no
# analysis needs more than three significant digits of a loss or a margin.
VALUE_DTYPE = np.float16
PARTS = ("train", "test")


class LedgerError(BadInput, ValueError):
    """A ledger file this version cannot read."""


@dataclasses.dataclass
class Part:
    """One set of examples: canonical indices, the label trained on (given), the true label and whether a partial
    input corruption corrupted the input, once; per recorded epoch (rows) whether the predicted class is the given
    label, the cross-entropy loss and the margin (the given label's logit minus the largest other)."""

    index: np.ndarray  # int64 [N]
    label: np.ndarray  # int64 [N]
    true_label: np.ndarray  # int64 [N]
    correct: np.ndarray  # bool [E, N]
    loss: np.ndarray  # float16 [E, N]
    margin: np.ndarray  # float16 [E, N]
    input_changed: np.ndarray | None = None  # bool [N]; None: no input corrupted (stored as all False)

    def __post_init__(self):
        if self.input_changed is None:
            self.input_changed = np.zeros(len(self.index), bool)

    @classmethod
    def empty(cls, index, label, true_label, input_changed=None) -> "Part":
        n = len(index)
        return cls(
            np.asarray(index, np.int64),
            np.asarray(label, np.int64),
            np.asarray(true_label, np.int64),
            np.zeros((0, n), bool),
            np.zeros((0, n), VALUE_DTYPE),
            np.zeros((0, n), VALUE_DTYPE),
            None if input_changed is None else np.asarray(input_changed, bool),
        )

    @property
    def changed(self) -> np.ndarray:
        """Which examples the corruption changed: the given label differs from the true one, or the input was
        corrupted (a partial input corruption)."""
        return (self.label != self.true_label) | self.input_changed

    def keep(self, rows: int) -> None:
        self.correct, self.loss, self.margin = self.correct[:rows], self.loss[:rows], self.margin[:rows]

    def append(self, logits: np.ndarray) -> None:
        correct, loss, margin = per_example(logits, self.label)
        self.correct = np.concatenate([self.correct, correct[None]])
        self.loss = np.concatenate([self.loss, loss[None].astype(VALUE_DTYPE)])
        self.margin = np.concatenate([self.margin, margin[None].astype(VALUE_DTYPE)])


@dataclasses.dataclass
class Ledger:
    """A run's ledger: `epochs` (1-based) of the recorded rows, the training examples (`train`; `trained` says
    which were trained on, False for those held out by --train_fraction) and the curve test subset (`test`)."""

    epochs: np.ndarray  # int32 [E]
    trained: np.ndarray  # bool [N]
    train: Part
    test: Part

    @classmethod
    def start(cls, train: Part, trained: np.ndarray, test: Part) -> "Ledger":
        return cls(np.zeros(0, np.int32), np.asarray(trained, bool), train, test)

    def same_examples(self, other: "Ledger") -> bool:
        """Whether both ledgers are of the same examples with the same labels (a resume continues its ledger)."""
        fields = ("index", "label", "true_label", "input_changed")
        return np.array_equal(self.trained, other.trained) and all(
            np.array_equal(getattr(getattr(self, p), f), getattr(getattr(other, p), f)) for p in PARTS for f in fields
        )

    def drop_from(self, epoch: int) -> None:
        """Forgets the rows of epoch `epoch` (1-based) and later: a resumed run recomputes them."""
        rows = int(np.searchsorted(self.epochs, epoch))
        self.epochs = self.epochs[:rows]
        self.train.keep(rows)
        self.test.keep(rows)

    def append(self, epoch: int, train_logits: np.ndarray, test_logits: np.ndarray) -> None:
        """The row of epoch `epoch` (1-based) from the logits of every training and curve-test example."""
        self.drop_from(epoch)
        self.epochs = np.append(self.epochs, np.int32(epoch))
        self.train.append(train_logits)
        self.test.append(test_logits)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"format": np.int32(FORMAT), "epochs": self.epochs, "trained": self.trained}
        for name in PARTS:
            part = getattr(self, name)
            out.update({f"{name}_{f.name}": getattr(part, f.name) for f in dataclasses.fields(Part)})
        return out


def per_example(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(correct, loss, margin) of each row of logits [N, K] under its label: the argmax is the label, the softmax
    cross-entropy, and the label's logit minus the largest other (> 0 where correct, but for exact ties)."""
    logits = np.asarray(logits, np.float32)
    rows = np.arange(len(labels))
    given = logits[rows, labels]
    shifted = logits - logits.max(axis=1, keepdims=True)
    loss = np.log(np.exp(shifted).sum(axis=1)) - shifted[rows, labels]
    others = logits.copy()
    others[rows, labels] = -np.inf
    return np.argmax(logits, axis=1) == labels, loss, given - others.max(axis=1)


def path(run_dir: str) -> str:
    return os.path.join(run_dir, FILE)


def save(run_dir: str, ledger: Ledger) -> None:
    """Writes the ledger whole, atomically, uncompressed: it is rewritten every epoch, and compressing 50,000
    examples x 100 epochs took 10 s against 0.2 s for 28% fewer bytes (docs/ledger.md)."""
    buffer = io.BytesIO()
    np.savez(buffer, **ledger.arrays())
    atomic.write_bytes(path(run_dir), buffer.getvalue())


def load(run_dir: str) -> Ledger | None:
    """The run's ledger, or None when it has none (a run with --noledger, or one of before 0.6)."""
    where = path(run_dir)
    if not os.path.exists(where):
        return None
    try:
        with np.load(where) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise LedgerError(f"{where} cannot be read ({e}); remove it, or train the run again") from None
    if int(arrays.get("format", -1)) not in FORMATS:
        raise LedgerError(f"{where} has format {arrays.get('format')}; this rethink_tf reads formats 1 to {FORMAT}")
    parts = {
        name: Part(**{f.name: arrays[k] for f in dataclasses.fields(Part) if (k := f"{name}_{f.name}") in arrays})
        for name in PARTS
    }
    return Ledger(arrays["epochs"], arrays["trained"], **parts)
