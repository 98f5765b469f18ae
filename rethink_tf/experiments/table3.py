"""Table 3 (Section 5): minimum-norm Gaussian-kernel interpolation on pixels and on random conv features.

`python -m rethink_tf.experiments.table3 --train_size=20000 --results_dir=results/laptop` solves each row
on the preset's data set (the training subset, the preset's test set), writes table3.json and table3.md
beside the paper's numbers and prints the table. One random-label row shows the norm growing while the
training error stays 0: the norm of the interpolant does not say which fit generalizes.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from rethink_tf import config as config_lib
from rethink_tf import paper, records, tables
from rethink_tf.data import sources
from rethink_tf.experiments import runner

RESULT = "table3.json"
# What the kernel rows depend on: the data and its subsets, the seed, and the experiment's own options.
DEPENDS_ON = ("dataset", "train_size", "test_size", "seed")


@dataclasses.dataclass(frozen=True)
class Row:
    features: str  # "pixels" or "random_conv"
    l2: bool
    random_labels: bool = False

    @property
    def label(self) -> str:
        return (
            f"{'pixels' if self.features == 'pixels' else 'random conv features'}"
            f"{', l2' if self.l2 else ''}{', random labels' if self.random_labels else ''}"
        )


ROWS = (
    Row("pixels", False),
    Row("random_conv", False),
    Row("random_conv", True),
    Row("pixels", False, random_labels=True),
)


def solve(config: config_lib.RunConfig, l2: float, num_filters: int, raw: sources.RawData | None = None) -> list[dict]:
    """Solves every row on config's data (its subsets and seed; `raw` skips loading); one result per row."""
    from rethink_tf.data import pipeline
    from rethink_tf.theory import kernels

    raw = raw or sources.load_for(config)
    results = []
    for corruption in ("true_labels", "random_labels"):
        rows = [row for row in ROWS if row.random_labels == (corruption == "random_labels")]
        data = pipeline.prepare(dataclasses.replace(config, corruption=corruption, corrupt=0.0), raw)
        flat = {
            name: split.images.reshape(len(split.labels), -1)
            for name, split in (("train", data.train), ("test", data.test))
        }
        conv = None
        for row in rows:
            if row.features == "pixels":
                train_x, test_x, gamma = flat["train"], flat["test"], kernels.PIXEL_GAMMA
            else:
                conv = conv or [
                    kernels.random_conv_features(s.images, num_filters, config.seed) for s in (data.train, data.test)
                ]
                train_x, test_x = conv
                gamma = kernels.median_gamma(train_x, config.seed)
            out = kernels.interpolate(
                train_x,
                data.train.labels,
                test_x,
                data.test.labels,
                num_classes=data.num_classes,
                gamma=gamma,
                l2=l2 if row.l2 else 0.0,
            )
            results.append(
                {
                    "row": row.label,
                    **dataclasses.asdict(row),
                    "l2_value": l2 if row.l2 else 0.0,
                    "gamma": gamma,
                    "dims": int(train_x.shape[1]),
                    "n_train": len(data.train.labels),
                    "n_test": len(data.test.labels),
                    "dataset": config.dataset,
                    "origin": data.origin,
                    "paper_test_error": paper.TABLE3.get((config.dataset, row.features, row.l2))
                    if not row.random_labels
                    else None,
                    **out,
                }
            )
            print(
                f"{row.label}: test error {out['test_error']:.2f}%, norm {out['rkhs_norm']:.4g} "
                f"({out['solve_s']:.0f} s)",
                flush=True,
            )
    return results


def markdown(results: list[dict]) -> str:
    lines = ["# Table 3: minimum-norm Gaussian-kernel interpolation, test error (%)", ""]
    lines += [
        f"- {results[0]['dataset']}: {results[0]['n_train']:,} training / {results[0]['n_test']:,} test "
        f"examples ({results[0]['origin']})",
        "",
    ]
    cells = [
        [
            r["row"],
            "–" if r["paper_test_error"] is None else f"{r['paper_test_error']:.1f}",
            f"{r['test_error']:.2f}",
            f"{r['train_error']:.2f}",
            f"{r['rkhs_norm']:.4g}",
            f"{r['gamma']:.3g}",
            f"{r['l2_value']:g}",
            f"{r['solve_s']:.0f}",
        ]
        for r in results
    ]
    return (
        "\n".join(lines)
        + "\n"
        + tables.markdown(
            [
                "features",
                "paper test error",
                "ours test error",
                "ours train error",
                "RKHS norm",
                "gamma",
                "l2",
                "solve s",
            ],
            cells,
            "lrrrrrrr",
        )
    )


def compute(
    base: config_lib.RunConfig, raw: sources.RawData, kernel_l2: float = 1e-3, random_filters: int = 64
) -> dict[str, Any]:
    """The rows solved and stored in table3.json, unless it already holds them for this experiment and data
    (records.check_result: the one rule for "already done")."""
    experiment = {**{k: getattr(base, k) for k in DEPENDS_ON}, "kernel_l2": kernel_l2, "random_filters": random_filters}
    path = os.path.join(base.results_dir, RESULT)
    fingerprints = {"source": raw.fingerprint}
    stored = records.check_result(path, experiment, fingerprints)
    if stored is not None:
        return stored
    rows = solve(base, kernel_l2, random_filters, raw=raw)
    stored = {
        "experiment": experiment,
        "fingerprints": fingerprints,
        "versions": records.versions(),
        "rows": rows,
        "finished": records.now(),
    }
    os.makedirs(base.results_dir, exist_ok=True)
    records.write_json(path, stored)
    return stored


def report(results_dir: str) -> str:
    """table3.md and table3.csv in results_dir from its table3.json; returns the Markdown."""
    stored = records.read_json(os.path.join(results_dir, RESULT))
    if stored is None:
        return f"no {RESULT} in {results_dir}: run python -m rethink_tf.experiments.table3 first\n"
    return tables.write(
        results_dir,
        "table3",
        markdown(stored["rows"]),
        stored["rows"],
        [
            "row",
            "features",
            "l2",
            "random_labels",
            "l2_value",
            "gamma",
            "dims",
            "n_train",
            "n_test",
            "dataset",
            "paper_test_error",
            "test_error",
            "train_error",
            "rkhs_norm",
            "solve_s",
        ],
    )


@dataclasses.dataclass(frozen=True)
class Options:
    """Table 3's own flags (rethink_tf.cli.define_options), the keyword arguments of compute."""

    kernel_l2: float = config_lib.setting(
        1e-3, "Table 3: the l2 term of the regularized row, (K + l2 I) alpha = Y.", lower_bound=0.0
    )
    random_filters: int = config_lib.setting(
        64, "Table 3: random 5x5 filters of the random-feature rows.", lower_bound=1
    )


EXPERIMENT = runner.Experiment("table3", report, compute=compute, options=Options)

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
