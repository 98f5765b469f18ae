"""What a run costs beyond its epochs, in one process training many runs, as a grid or a notebook trains them.

    python tools/run_overhead.py [--model=mlp_1x512] [--runs=20] [--preset=laptop] [--json=PATH] [name=value ...]

Trains --runs runs of --model on --preset (seeds 0, 1, ...; further RunConfig fields as name=value) in a fresh
results directory, all in this process, and prints per run its wall time split into phases: the data (asked for in
every run, as `rethink_tf.run` without `raw` does: read from its files by the first, kept for the others, and
subset and corrupted in every run), the model's build, the epochs
(the records' epoch_time_s; the first epoch also traces the train step, so its excess over the later epochs'
median is shown as tracing), the final evaluation, the measures, and the rest (records, claims, TensorBoard,
weights, fit's own set-up). The phases are timed by wrapping the package's functions that do them, so a phase is
what its function took, nested calls included. The summary is the median over every run but the first (the first
pays for the process: imports, the first traces). docs/speed.md has the figures.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import json
import statistics
import tempfile
import time

from rethink_tf import settings

settings.use_command_line_settings()  # before TensorFlow loads: oneDNN as the command line has it

import rethink_tf  # noqa: E402
from rethink_tf import environment, fitting, run_measures  # noqa: E402
from rethink_tf.data import pipeline, sources  # noqa: E402

# (phase, module, function name): each wrapped to add its wall time to the phase.
PHASES = (
    ("data read", sources, "load_for"),
    ("data subset + corruption", pipeline, "prepare"),
    ("environment", environment, "read"),
    ("model build", fitting, "built_model"),
    ("fit", fitting, "fit"),
    ("final evaluation", fitting, "evaluate_final"),
    ("measures", run_measures, "add"),
)


@contextlib.contextmanager
def timed_phases(seconds: dict[str, float]):
    """Wraps every PHASES function so that its calls add their wall time to seconds[phase]; unwraps on exit."""
    originals = [(module, name, getattr(module, name)) for _, module, name in PHASES]

    def wrap(phase, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - started

        return timed

    for phase, module, name in PHASES:
        setattr(module, name, wrap(phase, getattr(module, name)))
    try:
        yield
    finally:
        for module, name, fn in originals:
            setattr(module, name, fn)


def one_run(config) -> dict[str, float]:
    """The phases of one run (seconds), its epochs from the record; "rest" is what no phase accounts for."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with timed_phases(seconds):
        record = rethink_tf.run(config)
    total = time.perf_counter() - started
    epoch_times = [e["epoch_time_s"] for e in record["epochs"]]
    later = statistics.median(epoch_times[1:]) if len(epoch_times) > 1 else epoch_times[0]
    fit_other = seconds.pop("fit", 0.0) - seconds.get("final evaluation", 0.0) - sum(epoch_times)
    out = {
        "epochs": float(len(epoch_times)),
        "epochs' time": sum(epoch_times) - (epoch_times[0] - later),
        "tracing (epoch 1 over the others' median)": epoch_times[0] - later,
        **seconds,
        "fit's set-up, weights, callbacks": fit_other,
        "total": total,
    }
    out["rest"] = total - sum(v for k, v in out.items() if k not in ("epochs", "total"))
    out["beyond the epochs"] = total - out["epochs' time"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mlp_1x512")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--preset", default="laptop")
    parser.add_argument("--json", default=None, help="where to write every run's phases")
    parser.add_argument("fields", nargs="*", help="further RunConfig fields as name=value, e.g. measures=False")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2: the first run pays for the process and is left out")
    fields = {}
    for item in args.fields:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"{item!r}: fields look like name=value")
        with contextlib.suppress(ValueError, SyntaxError):
            value = ast.literal_eval(value)
        fields[name] = value
    results_dir = tempfile.mkdtemp(prefix="run_overhead-")
    rows = []
    for seed in range(args.runs):
        config = rethink_tf.preset_config(
            args.preset, **{"model": args.model, "seed": seed, "results_dir": results_dir, "verbose": 0, **fields}
        )
        row = one_run(config)
        rows.append(row)
        print(
            f"run {seed + 1}/{args.runs}: {row['total']:.2f} s, {row['beyond the epochs']:.2f} s beyond its "
            f"{row['epochs']:.0f} epochs",
            flush=True,
        )
    later = rows[1:]
    print(f"\n{args.model}, {args.preset} preset {fields or ''}: seconds per run, median of runs 2-{args.runs}")
    print(f"{'phase':45} {'run 1':>8} {'median':>8}")
    for key in rows[0]:
        print(f"{key:45} {rows[0][key]:8.2f} {statistics.median(r[key] for r in later):8.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "preset": args.preset, "fields": fields, "runs": rows}, f, indent=1)
        print(f"written: {args.json}")


if __name__ == "__main__":
    main()
