"""Tables from run records alone, with the paper's numbers beside ours; rebuildable at any time.

`python -m rethink_tf.report table1 RESULTS_DIR` writes RESULTS_DIR/table1.md and table1.csv and prints
the Markdown.
"""

from __future__ import annotations

import csv
import glob
import io
import os
import statistics
import sys
from typing import Any

from rethink_tf import paper, records

CHANCE_BAND = (8.0, 12.0)  # random-label test accuracy (%) that shows "no better than chance" on 10 classes


def load_records(results_dir: str) -> list[dict[str, Any]]:
    """Every run record directly under results_dir (one run directory each)."""
    out = []
    for path in sorted(glob.glob(os.path.join(results_dir, "*", records.RECORD))):
        record = records.read_record(os.path.dirname(path))
        if record is not None:
            out.append(record)
    return out


def matches(row: paper.Table1Row, config: dict[str, Any]) -> bool:
    """Whether a run's config is the run of a Table 1 row (any data set, subset or seed)."""
    corruption = "random_labels" if row.random_labels else "true_labels"
    return (config["model"] == row.model and config["batch_norm"] == row.batch_norm
            and config["random_crop"] == row.random_crop and (config["weight_decay"] > 0) == row.weight_decay
            and config["corruption"] == corruption and (row.random_labels or config["corrupt"] == 0))


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def table1_rows(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per paper row: the paper's numbers and the mean of our finished runs of it."""
    rows = []
    for row in paper.TABLE1:
        mine = [r for r in recs if matches(row, r["config"])]
        done = [r for r in mine if r["status"] == records.FINISHED]
        rows.append({
            "row": row.label, "params": mine[0]["model"]["paper_param_count"] if mine else None,
            "lr": ", ".join(sorted({f"{r['config']['learning_rate']:g}" for r in mine})) or None,
            "paper_train": row.train_accuracy, "paper_test": row.test_accuracy,
            "train": _mean([100 * r["final"]["train_accuracy"] for r in done]),
            "test": _mean([100 * r["final"]["test_accuracy"] for r in done]),
            "test_min": min((100 * r["final"]["test_accuracy"] for r in done), default=None),
            "test_max": max((100 * r["final"]["test_accuracy"] for r in done), default=None),
            "runs": len(done), "status": ", ".join(sorted({r["status"] for r in mine})) or "missing",
            "epochs": _mean([r["final"]["epochs_run"] for r in done]),
            "wall_s": sum(r["wall_time_s"] for r in mine),
            "random_labels": row.random_labels, "model": row.model,
        })
    return rows


def table1_claims(rows: list[dict[str, Any]]) -> list[tuple[str, bool | None]]:
    """The paper's Table 1 claims, checked on our numbers (None: not every row has a result)."""
    def holds(cond, subset):
        return None if any(r["test"] is None for r in subset) else all(cond(r) for r in subset)

    rand = [r for r in rows if r["random_labels"]]
    true = [r for r in rows if not r["random_labels"]]
    by_model = {m: _mean([r["test"] for r in true if r["model"] == m and r["test"] is not None])
                for m in ("inception_small", "alexnet_small", "mlp_3x512", "mlp_1x512")}
    order = None if None in by_model.values() else (
        by_model["inception_small"] > by_model["alexnet_small"] > max(by_model["mlp_3x512"], by_model["mlp_1x512"]))
    lo, hi = CHANCE_BAND
    return [
        ("every random-label row fits: train accuracy >= 99%", holds(lambda r: r["train"] >= 99.0, rand)),
        (f"every random-label row tests at chance: {lo:g}% <= test accuracy <= {hi:g}%",
         holds(lambda r: lo <= r["test"] <= hi, rand)),
        ("every true-label row tests far above chance: test accuracy >= 50%", holds(lambda r: r["test"] >= 50.0, true)),
        ("test accuracy keeps the paper's order Inception > AlexNet > MLPs (mean of true-label rows)", order),
    ]


def fmt(value, digits=2) -> str:
    """A number with `digits` decimals, or a dash for a missing one."""
    return "–" if value is None else f"{value:.{digits}f}"


def write_table1(results_dir: str) -> str:
    """Writes table1.md and table1.csv into results_dir from its records; returns the Markdown."""
    recs = load_records(results_dir)
    rows = table1_rows(recs)
    configs = [r["config"] for r in recs if any(matches(row, r["config"]) for row in paper.TABLE1)]
    setups = sorted({(c.get("preset") or "custom", c["dataset"], c["train_size"] or "all", c["test_size"] or "all",
                      c["epochs"], c.get("crop_epochs") or c["epochs"], c.get("random_label_epochs") or c["epochs"])
                     for c in configs}, key=str)
    origins = sorted({r["data"]["origin"] for r in recs if r.get("data")})
    md = io.StringIO()
    md.write("# Table 1: train / test accuracy (%), the paper (CIFAR-10) beside this run\n\n")
    for preset, dataset, n_train, n_test, epochs, crop_epochs, random_label_epochs in setups:
        caps = [f"{n} {what}" for n, what in ((crop_epochs, "with random crop"), (random_label_epochs, "on random labels"))
                if n != epochs]
        md.write(f"- preset `{preset}`: {dataset}, {n_train} training / {n_test} test examples, "
                 f"at most {epochs} epochs{' (' + ', '.join(caps) + ')' if caps else ''}\n")
    for origin in origins:
        md.write(f"- data: {origin}\n")
    total = sum(r["wall_s"] for r in rows)
    md.write(f"- total wall time of the runs: {total:.0f} s ({total / 60:.1f} min)\n\n")
    if any(r["runs"] > 1 for r in rows):
        md.write("Rows with several runs (seeds) show their mean, and the range of test accuracy in brackets.\n\n")
    md.write("| row | params | paper train | paper test | ours train | ours test | runs | lr | epochs | wall s | status |\n")
    md.write("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
    for r in rows:
        params = "–" if r["params"] is None else f"{r['params']:,}"
        spread = f" ({r['test_min']:.2f}–{r['test_max']:.2f})" if r["runs"] > 1 else ""
        md.write(f"| {r['row']} | {params} | {fmt(r['paper_train'])} | {fmt(r['paper_test'])} | {fmt(r['train'])} | "
                 f"{fmt(r['test'])}{spread} | {r['runs']} | {r['lr'] or '–'} | {fmt(r['epochs'], 0)} | "
                 f"{r['wall_s']:.0f} | {r['status']} |\n")
    md.write("\nThe paper's claims, checked on these numbers:\n\n")
    for claim, ok in table1_claims(rows):
        md.write(f"- [{'x' if ok else ' '}] {claim}{'' if ok is not None else ' (not every row has run)'}\n")
    text = md.getvalue()
    with open(os.path.join(results_dir, "table1.md"), "w") as f:
        f.write(text)
    with open(os.path.join(results_dir, "table1.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["row", "params", "paper_train", "paper_test", "train", "test", "test_min",
                                               "test_max", "lr", "runs",
                                               "epochs", "wall_s", "status"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return text


def main(argv: list[str]) -> None:
    if len(argv) != 3 or argv[1] != "table1":
        print("usage: python -m rethink_tf.report table1 RESULTS_DIR", file=sys.stderr)
        sys.exit(2)
    if not os.path.isdir(argv[2]):
        print(f"rethink_tf.report: error: {argv[2]} is not a directory", file=sys.stderr)
        sys.exit(2)
    try:
        print(write_table1(argv[2]))
    except records.RunDirError as e:
        print(f"rethink_tf.report: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
