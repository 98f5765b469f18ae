"""The run record (a run directory's record.json) as a type: its sections, the facts derived from them, and
upgrade(), the one function that knows the shapes older versions wrote.

A RunRecord is a dict, so it is written as JSON as it is and `record["final"]["test_accuracy"]` still reads
(notebooks and scripts of 0.5 keep working); its properties are what code reads: `record.config` (a RunConfig),
`record.final` (a Final), and the derived facts (label noise, steps to fit, done-ness) computed in one place.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from typing import Any

from rethink_tf import config as config_lib

# 1: rethink_tf 0.1-0.5. 2: config holds every RunConfig field, model.param_count is always present, a tune trial's
# config.tag says so (upgrade() fills these in for format 1, whose trials only their names told apart); new records'
# versions hold only what their environment does not (TensorFlow, Keras, Python and oneDNN are the environment's).
FORMAT = 2
RUNNING, FINISHED, DIVERGED, INTERRUPTED, FAILED = "running", "finished", "diverged", "interrupted", "failed"
# A run in one of these states has its result; running it again would only repeat it.
DONE = (FINISHED, DIVERGED)
# What record["versions"] holds from format 2 on: the rest of format 1's block is the environment's.
VERSION_KEYS = ("rethink_tf", "numpy", "TF_ENABLE_ONEDNN_OPTS")
TUNE_TAG = "tune"  # config.tag of rethink_tf.experiments.tune's trials
# The version that defined the generalization measures as recorded now (rethink_tf.measures; docs/history.md, 0.6):
# a run's measures computed before it are computed again from its saved weights on its next pass
# (run_measures.lacking); until then upgrade() reads them in today's names, those whose definition changed left out.
MEASURES_DEFINED = (0, 6)


@dataclasses.dataclass(frozen=True)
class Final:
    """A finished run's final numbers, evaluated on the whole training and test sets after the last epoch."""

    train_accuracy: float
    train_loss: float
    test_accuracy: float
    test_loss: float
    generalization_gap: float
    epochs_run: int
    fit_epoch: int | None = None  # the first epoch whose training accuracy reached 100%
    train_top5_accuracy: float | None = None  # sets of more than 10 classes
    test_top5_accuracy: float | None = None
    train_kept_accuracy: float | None = None  # 0 < p < 1: training accuracy on the kept and the changed labels
    train_changed_accuracy: float | None = None
    train_changed_true_accuracy: float | None = None


_FINAL_FIELDS = {f.name for f in dataclasses.fields(Final)}


class FormatError(ValueError):
    """A record of a format this version cannot read (a newer rethink_tf's)."""


class RunRecord(dict):
    """record.json of one run. Keys: format, status, run_name, experiment (the fields that determine the numbers),
    config (every RunConfig field), versions, environment (and resumed_in), host, pid, started, updated, resumed,
    data (source, origin, example counts, shapes, fingerprints), epoch_budget, replicas, model (paper name,
    parameter counts), epochs (one dict of metrics per epoch), csr_initial (the critical sample ratio before the
    first step, with --csr_every), final, wall_time_s, error, measures."""

    @property
    def config(self) -> config_lib.RunConfig:
        return config_lib.from_record(self["config"])

    @property
    def status(self) -> str:
        return self["status"]

    @property
    def run_name(self) -> str:
        return self["run_name"]

    @property
    def done(self) -> bool:
        """Whether the run has its result (finished or diverged): running it again would only repeat it."""
        return self["status"] in DONE

    @property
    def finished(self) -> bool:
        return self["status"] == FINISHED

    @property
    def final(self) -> Final | None:
        values = self.get("final")
        return Final(**{k: v for k, v in values.items() if k in _FINAL_FIELDS}) if values else None

    @property
    def epochs(self) -> list[dict[str, Any]]:
        return self["epochs"]

    @property
    def version(self) -> str | None:
        """The rethink_tf version that started the run."""
        return (self.get("versions") or {}).get("rethink_tf")

    @property
    def measures_current(self) -> bool:
        """Whether the run has generalization measures computed with today's definitions (MEASURES_DEFINED on)."""
        measures = self.get("measures") or {}
        return bool(measures.get("values")) and _version(measures.get("version")) >= MEASURES_DEFINED

    @property
    def label_noise(self) -> float:
        """p, the probability that a training label was replaced by a random class (random labels: 1)."""
        return self.config.label_noise

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps in one epoch: the training examples over the batch size, rounded up."""
        return -(-self["data"]["train_examples"] // self.config.batch_size)

    @property
    def fit_epoch(self) -> int | None:
        """The first epoch at 100% training accuracy (None: never, or not finished)."""
        return (self.get("final") or {}).get("fit_epoch")

    @property
    def steps_to_fit(self) -> int | None:
        """Optimizer steps until 100% training accuracy (the paper's Figure 1b), None if the run never fit."""
        return self.fit_epoch * self.steps_per_epoch if self.fit_epoch else None

    @property
    def param_count(self) -> int | None:
        """The model's trainable parameters."""
        return (self.get("model") or {}).get("param_count")

    @property
    def regularizers(self) -> frozenset[str]:
        """The paper's explicit regularizers the run had on (weight_decay, random_crop, augment, dropout)."""
        return self.config.regularizers


def upgrade(raw: dict[str, Any], where: str = "record") -> RunRecord:
    """A record of any format this version has written, in today's shape (nothing is written back: a record is
    rewritten in the new format when its run saves it again). FormatError for an unknown format."""
    fmt = raw.get("format")
    if fmt == FORMAT:
        return _upgrade_measures(RunRecord(raw))
    if fmt != 1:
        raise FormatError(f"{where} has format {fmt!r}; this rethink_tf reads formats 1 to {FORMAT}")
    record = RunRecord(raw, format=FORMAT)
    # Fields added to RunConfig since the run was written take their defaults, which reproduce the old runs.
    config = dataclasses.asdict(config_lib.from_record(raw["config"]))
    if re.search(r"-lr[^-]+-bs\d+-bnm[^-]+$", record["run_name"]):  # a trial of tune, named so before tags
        config["tag"] = TUNE_TAG
    record["config"] = config
    if record.get("model") and "param_count" not in record["model"]:  # before 0.5: "paper_param_count"
        record["model"] = {**record["model"], "param_count": record["model"].get("paper_param_count")}
    return _upgrade_measures(record)


def _version(text: str | None) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text or "0")[:3])


def _upgrade_measures(record: RunRecord) -> RunRecord:
    """Measures computed before MEASURES_DEFINED in today's names: 0.5's frobenius_sum is the param norm; the
    inverse margin and the over-margin measures follow from the recorded margin and norm products (a margin below
    zero read as |gamma|, where 0.5 recorded inf); the magnitude-aware sharpness of 0.5's noise (sigma |w| +
    epsilon, not today's sqrt(sigma^2 w^2 + epsilon^2)) moves to measures.superseded; the sum of Frobenius norms
    is missing (0.5 recorded no layer count). The record's other sections are left as they are."""
    measures = record.get("measures")
    if not measures or not measures.get("values") or _version(measures.get("version")) >= MEASURES_DEFINED:
        return record
    values = dict(measures["values"])
    if "frobenius_sum" in values:
        values["param_norm"] = values.pop("frobenius_sum")
    gamma = values.get("output_margin")
    if gamma is not None:
        values["inverse_margin"] = 1.0 / gamma**2 if gamma else math.inf
        for key, product in (
            ("log_spectral_over_margin", "log_spectral_product"),
            ("log_frobenius_over_margin", "log_frobenius_product"),
        ):
            if product in values:
                values[key] = values[product] - 2.0 * math.log(abs(gamma)) if gamma else math.inf
    superseded = {key: values.pop(key) for key in ("magnitude_sharpness",) if key in values}
    record["measures"] = {**measures, "values": values, "superseded": superseded}
    return record


def new(config: config_lib.RunConfig, versions: dict[str, Any], **fields: Any) -> RunRecord:
    """A run's first record: running, no epoch yet."""
    record = RunRecord(
        format=FORMAT,
        status=RUNNING,
        run_name=os.path.basename(config.run_dir),
        experiment=config.experiment(),
        config=dataclasses.asdict(config),
        versions={k: versions[k] for k in VERSION_KEYS if k in versions},
        epochs=[],
        final=None,
        wall_time_s=0.0,
    )
    record.update(fields)
    return record
