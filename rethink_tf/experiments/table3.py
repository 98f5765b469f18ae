"""Table 3 (Section 5): minimum-norm Gaussian-kernel interpolation on pixels and on random conv features.

`python -m rethink_tf.experiments.table3 --train_size=20000 --results_dir=results/laptop` solves each row
on the preset's data set (the training subset, the preset's test set), writes table3.json and table3.md
beside the paper's numbers and prints the table. One random-label row shows the norm growing while the
training error stays 0: the norm of the interpolant does not say which fit generalizes.
"""

from __future__ import annotations

import dataclasses
import os

from absl import app, flags, logging

from rethink_tf import cli
from rethink_tf import config as config_lib
from rethink_tf import paper, records
from rethink_tf.data import sources
from rethink_tf.theory import kernels

flags.DEFINE_float("kernel_l2", 1e-3, "The l2 term of the regularized row: (K + l2 I) alpha = Y.")
flags.DEFINE_integer("random_filters", 64, "Random 5x5 filters of the random-feature rows.")


@dataclasses.dataclass(frozen=True)
class Row:
    features: str  # "pixels" or "random_conv"
    l2: bool
    random_labels: bool = False

    @property
    def label(self) -> str:
        return (f"{'pixels' if self.features == 'pixels' else 'random conv features'}"
                f"{', l2' if self.l2 else ''}{', random labels' if self.random_labels else ''}")


ROWS = (Row("pixels", False), Row("random_conv", False), Row("random_conv", True),
        Row("pixels", False, random_labels=True))


def run(config: config_lib.RunConfig, l2: float, num_filters: int, raw: sources.RawData | None = None) -> list[dict]:
    """Solves every row on config's data (its subsets and seed; `raw` skips loading); one result per row."""
    from rethink_tf.data import pipeline

    raw = raw or pipeline.load_raw(config)
    results = []
    for corruption in ("true_labels", "random_labels"):
        rows = [row for row in ROWS if row.random_labels == (corruption == "random_labels")]
        data = pipeline.prepare(dataclasses.replace(config, corruption=corruption, corrupt=0.0), raw)
        flat = {name: split.images.reshape(len(split.labels), -1) for name, split in
                (("train", data.train), ("test", data.test))}
        conv = None
        for row in rows:
            if row.features == "pixels":
                train_x, test_x, gamma = flat["train"], flat["test"], kernels.PIXEL_GAMMA
            else:
                conv = conv or [kernels.random_conv_features(s.images, num_filters, config.seed)
                                for s in (data.train, data.test)]
                train_x, test_x = conv
                gamma = kernels.median_gamma(train_x, config.seed)
            out = kernels.interpolate(train_x, data.train.labels, test_x, data.test.labels,
                                      num_classes=data.num_classes, gamma=gamma, l2=l2 if row.l2 else 0.0)
            results.append({"row": row.label, **dataclasses.asdict(row), "l2_value": l2 if row.l2 else 0.0,
                            "gamma": gamma, "dims": int(train_x.shape[1]), "n_train": len(data.train.labels),
                            "n_test": len(data.test.labels), "dataset": config.dataset, "origin": data.origin,
                            "paper_test_error": paper.TABLE3.get((config.dataset, row.features, row.l2))
                            if not row.random_labels else None, **out})
            print(f"{row.label}: test error {out['test_error']:.2f}%, norm {out['rkhs_norm']:.4g} "
                  f"({out['solve_s']:.0f} s)", flush=True)
    return results


def markdown(results: list[dict]) -> str:
    lines = ["# Table 3: minimum-norm Gaussian-kernel interpolation, test error (%)", ""]
    lines += [f"- {results[0]['dataset']}: {results[0]['n_train']:,} training / {results[0]['n_test']:,} test "
              f"examples ({results[0]['origin']})", "",
              "| features | paper test error | ours test error | ours train error | RKHS norm | gamma | l2 | solve s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        paper_error = "–" if r["paper_test_error"] is None else f"{r['paper_test_error']:.1f}"
        lines.append(f"| {r['row']} | {paper_error} | {r['test_error']:.2f} | {r['train_error']:.2f} | "
                     f"{r['rkhs_norm']:.4g} | {r['gamma']:.3g} | {r['l2_value']:g} | {r['solve_s']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    with cli.one_line_errors():
        config = cli.run_config(argv)
        experiment = {**config.experiment(), "kernel_l2": flags.FLAGS.kernel_l2,
                      "random_filters": flags.FLAGS.random_filters}
        path = os.path.join(config.results_dir, "table3.json")
        record = records.read_json(path)
        if record is not None and record.get("experiment") != experiment:
            raise records.RunDirError(f"{path} holds Table 3 of other flags; pass another --results_dir "
                                      "or move that file away")
        if record is None:
            os.makedirs(config.results_dir, exist_ok=True)
            try:
                rows = run(config, flags.FLAGS.kernel_l2, flags.FLAGS.random_filters)
            except kernels.KernelError as e:
                cli.error(str(e), status=1)
            record = {"experiment": experiment, "versions": records.versions(), "rows": rows,
                      "finished": records.now()}
            records.write_json(path, record)
    text = markdown(record["rows"])
    with open(os.path.join(config.results_dir, "table3.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    config_lib.define_flags()
    logging.set_verbosity(logging.WARNING)
    app.run(main, flags_parser=cli.parse_flags)
