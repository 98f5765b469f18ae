"""`python -m rethink_tf.rademacher`: the empirical Rademacher complexity that the randomization test suggests.

Each architecture is trained (the preset's budget, until it fits) on n training images whose labels are
random signs sigma_i (--corruption=random_signs: class 1 for +1, class 0 for -1). The estimate is
(1/n) sum_i sigma_i sign(h(x_i)) with h(x) = logit(+1) - logit(-1) on the training images afterwards, i.e.
2 * training accuracy - 1: near 1 when the model class can fit any signs. The runs are ordinary run
directories (resumable, in TensorBoard); the table is rebuilt from them each time, written to
rademacher.json and printed.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from absl import app, logging

from rethink_tf import cli
from rethink_tf import config as config_lib
from rethink_tf import models, records, train
from rethink_tf.data import sources

# The five architectures of Table 1: (model, batch norm).
ARCHITECTURES = (("inception_small", True), ("inception_small", False), ("alexnet_small", True),
                 ("mlp_3x512", True), ("mlp_1x512", True))


def run(base: config_lib.RunConfig, raw: sources.RawData | None = None,
        learning_rate: float | None = None) -> list[dict[str, Any]]:
    """Trains every architecture on the random signs (or returns its finished record); one result each.
    Each model trains at its own learning rate unless `learning_rate` sets one for all, as in Table 1."""
    configs = [dataclasses.replace(base, model=model, batch_norm=batch_norm, corruption="random_signs", corrupt=0.0,
                                   random_crop=False, weight_decay=0.0, run_name="",
                                   learning_rate=learning_rate or models.MODELS[model].default_learning_rate).validate()
               for model, batch_norm in ARCHITECTURES]
    for cfg in configs:
        records.check(cfg)  # a foreign or busy run dir stops the probe before anything trains
    from rethink_tf.data import pipeline  # deferred like train.run's: flag errors answer without TensorFlow

    raw = raw or pipeline.load_raw(base)
    results = []
    for cfg in configs:
        name = models.paper_name(cfg.model, cfg.batch_norm)
        record = train.run(cfg, raw=raw, progress=f"[rademacher {name}]")
        final = record.get("final") or {}
        results.append({"model": name,
                        "run_name": record["run_name"], "status": record["status"],
                        "n": record["data"]["train_examples"], "epochs": final.get("epochs_run"),
                        "train_accuracy": final.get("train_accuracy"),
                        "rademacher": 2 * final["train_accuracy"] - 1 if final else None})
    return results


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| architecture | n | epochs | training accuracy on random signs | (1/n) sum sigma_i sign(h(x_i)) |",
             "|---|---:|---:|---:|---:|"]
    for r in results:
        acc = "–" if r["train_accuracy"] is None else f"{100 * r['train_accuracy']:.2f}%"
        est = "–" if r["rademacher"] is None else f"{r['rademacher']:.3f}"
        lines.append(f"| {r['model']} | {r['n']:,} | {r['epochs'] or '–'} | {acc} | {est} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    with cli.one_line_errors():
        base = cli.run_config(argv)
        results = run(base, learning_rate=cli.FLAGS.learning_rate)  # None unless the command line or preset sets it
    os.makedirs(base.results_dir, exist_ok=True)
    records.write_json(os.path.join(base.results_dir, "rademacher.json"),
                       {"experiment": base.experiment(), "results": results, "finished": records.now()})
    print(table(results))


if __name__ == "__main__":
    config_lib.define_flags()
    logging.set_verbosity(logging.WARNING)
    app.run(main, flags_parser=cli.parse_flags)
