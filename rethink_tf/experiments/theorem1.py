"""Theorem 1 (Section 4) on real images: the depth-two ReLU network with 2n + d weights that fits n training
images with any labels, built and then checked on every one of them.

`python -m rethink_tf.experiments.theorem1 --corruption=random_labels --train_size=0` builds it on every training
image of the preset's data set with random labels (the same draw a training run sees), stores its record in
theorem1-<data>-<labels>-n<size>-seed<seed>/result.json and prints the report of every such record in the
results dir (theorem1.md, theorem1.csv). The construction itself is rethink_tf/theory/expressivity.py.
"""

from __future__ import annotations

import glob
import os
import time
from typing import Any

import numpy as np

from rethink_tf import config as config_lib
from rethink_tf import records, tables
from rethink_tf.data import sources
from rethink_tf.experiments import runner

PREFIX, RESULT = "theorem1-", "result.json"
LEGACY_RESULT = "record.json"  # what results were named before, like a run record
# What the network depends on: the training subset, its labels and (for input corruptions) its pixels.
DEPENDS_ON = ("dataset", "train_size", "corruption", "corrupt", "gaussian_stats", "seed")
FINGERPRINTS = ("source", "train_indices", "train_labels", "train_images")


def result_name(config: config_lib.RunConfig) -> str:
    """theorem1-<data set>-<corruption>[-p<corrupt>][-<gaussian stats>]-n<size>-seed<seed>: every field the
    result depends on, so another flag gives another directory."""
    parts = [config.dataset, config.corruption]
    if config.corruption not in config_lib.ALL_LABELS_CORRUPTIONS and config.corrupt:
        parts.append(f"p{config.corrupt:g}")
    if config.corruption == "gaussian" and config.gaussian_stats != "global":
        parts.append(config.gaussian_stats)
    parts += [f"n{config.train_size or 'all'}", f"seed{config.seed}"]
    return PREFIX + "-".join(parts)


def build(config: config_lib.RunConfig, data) -> dict[str, Any]:
    """The network for the prepared training split and its labels, verified on every point; its record."""
    from rethink_tf.theory import expressivity

    points, targets = data.train.images.reshape(len(data.train.labels), -1), data.train.labels.astype(np.float64)
    started = time.perf_counter()
    construction, min_diagonal = expressivity.construct(points, targets, seed=config.seed)
    construct_s = time.perf_counter() - started
    model = expressivity.keras_model(construction)
    started = time.perf_counter()
    outputs = expressivity.predict(model, points)
    return {
        "experiment": {k: getattr(config, k) for k in DEPENDS_ON},  # what records.check_result compares
        "kind": "theorem1",
        "dataset": config.dataset,
        "origin": data.origin,
        "corruption": config.corruption,
        "corrupt": config.corrupt,
        "seed": config.seed,
        "n": len(targets),
        "d": points.shape[1],
        "labels_changed": data.labels_changed,
        "fingerprints": {k: data.fingerprints[k] for k in FINGERPRINTS},
        "num_weights": construction.num_weights,
        "keras_count_params": model.count_params(),
        "max_fitting_error": float(np.abs(outputs - targets).max()),
        "labels_exact_after_rounding": float(np.mean(np.rint(outputs) == targets)),
        "min_diagonal": min_diagonal,
        "weight_norm": float(np.linalg.norm(construction.weights)),
        "construct_s": construct_s,
        "verify_s": time.perf_counter() - started,
        "versions": records.versions(),
        "finished": records.now(),
    }


def compute(base: config_lib.RunConfig, raw: sources.RawData) -> dict[str, Any]:
    """The record of base's network, built unless its directory already holds it for these flags and this data
    (records.check_result: the one rule for "already done")."""
    from rethink_tf.data import pipeline

    data = pipeline.prepare(base, raw)
    directory = os.path.join(base.results_dir, result_name(base))
    legacy = os.path.join(directory, LEGACY_RESULT)
    path = legacy if os.path.exists(legacy) else os.path.join(directory, RESULT)
    stored = records.check_result(
        path, {k: getattr(base, k) for k in DEPENDS_ON}, {k: data.fingerprints[k] for k in FINGERPRINTS}
    )
    if stored is not None:
        return stored
    record = build(base, data)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    records.write_json(path, record)
    return record


def summary(record: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"Theorem 1 on {record['n']:,} {record['dataset']} training images ({record['corruption']}, "
            f"seed {record['seed']}), "
            f"d = {record['d']}",
            f"  weights: {record['num_weights']:,} = 2n + d (Keras count {record['keras_count_params']:,})",
            f"  max |c(x_i) - y_i|: {record['max_fitting_error']:.3g}; labels exact after rounding: "
            f"{record['labels_exact_after_rounding']:.2%}",
            f"  smallest diagonal of A (Lemma 1): {record['min_diagonal']:.3g}; ||w||: {record['weight_norm']:.4g}",
            f"  {record['construct_s']:.1f} s to construct, {record['verify_s']:.1f} s to verify on every point",
        ]
    )


def report(results_dir: str) -> str:
    """theorem1.md and theorem1.csv in results_dir from every Theorem 1 record there; returns the Markdown."""
    recs = []
    paths = [p for name in (RESULT, LEGACY_RESULT) for p in glob.glob(os.path.join(results_dir, PREFIX + "*", name))]
    for path in sorted(paths):
        record = records.read_json(path)
        recs.append({**record, "result": os.path.basename(os.path.dirname(path))})
    rows = [
        {
            "result": r["result"],
            "dataset": r["dataset"],
            "corruption": r["corruption"],
            "corrupt": r.get("corrupt", 0.0),
            "seed": r["seed"],
            "n": r["n"],
            "d": r["d"],
            "num_weights": r["num_weights"],
            "max_fitting_error": r["max_fitting_error"],
            "labels_exact_after_rounding": r["labels_exact_after_rounding"],
            "min_diagonal": r["min_diagonal"],
            "weight_norm": r["weight_norm"],
        }
        for r in recs
    ]
    cells = [
        [
            r["result"],
            f"{r['n']:,}",
            r["d"],
            f"{r['num_weights']:,}",
            f"{r['max_fitting_error']:.3g}",
            f"{r['labels_exact_after_rounding']:.2%}",
            f"{r['min_diagonal']:.3g}",
            f"{r['weight_norm']:.4g}",
        ]
        for r in rows
    ]
    text = "# Theorem 1: a depth-two ReLU network with 2n + d weights fits n training images\n\n"
    text += "\n\n".join(summary(r) for r in recs) + "\n\n" if recs else f"no Theorem 1 record in {results_dir}\n\n"
    text += tables.markdown(
        ["result", "n", "d", "weights (2n + d)", "max fitting error", "labels exact", "smallest diagonal", "norm of w"],
        cells,
        "lrrrrrrr",
    )
    return tables.write(results_dir, "theorem1", text, rows, list(rows[0]) if rows else ["result"])


EXPERIMENT = runner.Experiment("theorem1", report, compute=compute)

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
