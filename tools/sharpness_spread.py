"""How far the sharpness search's sigma moves with its noise draws: on a finished run's saved weights and its
training data as trained, the search of rethink_tf.measures (measures.SHARPNESS's tolerance, start and steps)
repeated with --seeds noise seeds for each number of draws, then each found sigma checked with --check_draws
fresh draws (other seeds): how much the accuracy really drops there, against the tolerance the search aims at.
With --examples=M,... the search reads a class-stratified subsample of M training examples, another per seed
(0: all), and the check still reads them all: the spread and the drop then include the subsample's.

`python tools/sharpness_spread.py RUN_DIR [RUN_DIR ...] [--seeds=8] [--draws=1,2,4,8] [--check_draws=32]
[--examples=0,256]`
prints a Markdown table per run; docs/measures.md ("Sharpness") has the figures and the draws chosen from them.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

import numpy as np

from rethink_tf import settings

settings.use_command_line_settings()  # before TensorFlow loads: oneDNN as the command line has it

from rethink_tf import fitting, measures, records, train  # noqa: E402
from rethink_tf.data import pipeline, sources  # noqa: E402

KINDS = {"plain": False, "magnitude-aware": True}


def net_and_data(run_dir: str):
    """The run's trained net and its training images and labels as trained (as run_measures.add reads them)."""
    record = records.read_record(run_dir)
    if record is None or not record.finished:
        raise SystemExit(f"{run_dir} holds no finished run")
    config = dataclasses.replace(
        record.config, results_dir=os.path.dirname(os.path.abspath(run_dir)), run_name=os.path.basename(run_dir)
    )
    raw = sources.load_for(config)
    config = train.for_data(config, raw)
    data = pipeline.prepare(config, raw)
    model = fitting.build(config, data.input_shape, data.num_classes)
    model.load_weights(os.path.join(run_dir, records.WEIGHTS))
    return model, pipeline.whitened_once(data.train.images, config), data.train.labels


def spread(model, images, labels, aware: bool, draws: int, seeds: int, check_draws: int, examples: int = 0) -> dict:
    """The search's sigma for each seed (on `examples` of the training examples, another subsample per seed; 0:
    all), its sharpness 1/sigma^2, and the mean accuracy drop at that sigma over check_draws fresh draws on all."""
    base = float(np.mean(np.argmax(measures.logits(model, images), axis=1) == labels))
    search = {k: v for k, v in measures.SHARPNESS.items() if k != "draws"}
    sigmas, drops, seconds = [], [], []
    for seed in range(seeds):
        started = time.perf_counter()
        part = pipeline.stratified_subset(labels, examples, seed)
        x, y = images[part], labels[part]
        part_base = float(np.mean(np.argmax(measures.logits(model, x), axis=1) == y))
        sigma = measures.sharpness_sigma(
            lambda s, seed=seed, x=x, y=y, decide=(part_base, search["tolerance"]): measures.perturbed_accuracy(
                model, x, y, s, draws=draws, seed=seed, magnitude_aware=aware, decide=decide
            ),
            part_base,
            **search,
        )
        seconds.append(time.perf_counter() - started)
        check = measures.perturbed_accuracy(
            model, images, labels, sigma, draws=check_draws, seed=10_000 + seed, magnitude_aware=aware
        )
        sigmas.append(sigma)
        drops.append(base - check)
    sharp = [1.0 / s**2 for s in sigmas]
    return {
        "sigma": statistics.fmean(sigmas),
        "sigma_cv": statistics.stdev(sigmas) / statistics.fmean(sigmas),
        "sigma_range": (min(sigmas), max(sigmas)),
        "sharpness_cv": statistics.stdev(sharp) / statistics.fmean(sharp),
        "drop": statistics.fmean(drops),
        "drop_range": (min(drops), max(drops)),
        "seconds": statistics.fmean(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--draws", default="1,2,4,8", help="comma-separated numbers of draws per accuracy")
    parser.add_argument("--check_draws", type=int, default=32)
    parser.add_argument("--kinds", default=",".join(KINDS), help="plain, magnitude-aware or both")
    parser.add_argument("--examples", default="0", help="comma-separated subsample sizes for the search (0: all)")
    args = parser.parse_args()
    print(f"search: {measures.SHARPNESS} (draws varied); {args.seeds} seeds; checked with {args.check_draws} draws")
    for run_dir in args.run_dirs:
        model, images, labels = net_and_data(run_dir)
        print(f"\n{os.path.basename(run_dir)} ({len(labels)} training examples)\n")
        print(
            "| noise | examples | draws | mean sigma | sigma's sd / mean | sigma's range | sharpness's sd / mean "
            "| drop at sigma (fresh draws) | its range | seconds per search |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for kind in args.kinds.split(","):
            for examples, draws in ((int(m), int(d)) for m in args.examples.split(",") for d in args.draws.split(",")):
                r = spread(model, images, labels, KINDS[kind], draws, args.seeds, args.check_draws, examples)
                print(
                    f"| {kind} | {examples or len(labels)} | {draws} | {r['sigma']:.4g} | {r['sigma_cv']:.3f} "
                    f"| {r['sigma_range'][0]:.4g}-{r['sigma_range'][1]:.4g} | {r['sharpness_cv']:.3f} "
                    f"| {r['drop']:.3f} | {r['drop_range'][0]:.3f} to {r['drop_range'][1]:.3f} | {r['seconds']:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
