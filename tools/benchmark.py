"""Training and input-pipeline throughput of this machine, measured in one process so that ratios compare.

    python tools/benchmark.py [--models=mlp_1x512,...] [--batch_size=128] [--seconds=10] [--rounds=3]
                              [--train_images=0] [--pipeline_images=30000] [--[no]settings] [--[no]torch]
                              [--[no]pipeline] [--out=results/benchmark.json]     (absl flags; --help lists them)

For every model: images/s of Model.fit as a run trains (rethink_tf.fitting.compile_model, the real pipeline of
Fashion-MNIST through rethink_tf.data, several epochs in one fit); of bare compiled train steps on one batch
already in memory, as many per call as fit runs (what fit could reach if nothing else cost time), and their ratio;
of the same steps on a fresh batch each, gathered in the loop from random rows of the training pixels (what fit
could reach if tf.data and fit's own bookkeeping cost nothing: a fresh batch also slows the step itself,
docs/speed.md), and their ratio with fit; the achieved GFLOP/s (the convs' and dense layers' FLOPs of a train step:
forward, input gradient but for the first layer's, weight gradient) and its fraction of a float32 matmul peak
measured in the same process. Then the input pipeline alone, per corruption, with and without random crop, and the
process's peak memory. With --torch, also PyTorch's eager train step of the same architecture on one batch in
memory (tools/torch_reference.py) and the ratio fit / PyTorch. With --settings, what each of the package's speed
settings is worth: fit again with the setting undone (one step per call; tf.data's autotuner on; Keras' SGD and
Dense layer instead of the package's; oneDNN's gradients for the layers that take theirs from Eigen; oneDNN off, in
a child process since it is read when TensorFlow loads), as the ratio of fit with the setting to fit without it.
Prints tables and writes JSON, headed by the compute environment as a run record has it (which oneDNN ISA ran, or
oneDNN off; the command line's settings are set before TensorFlow loads, as a training run's). Measurements that
are compared are taken in turns, --rounds times each (a third of --seconds each by default), and a ratio is the
median of its rounds' ratios: on a shared machine the speed drifts by 10-30% over a minute, which one back-to-back
pair cannot tell from an effect. Run on a quiet machine all the same.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable
from unittest import mock

from rethink_tf import settings

# The command line's settings before TensorFlow loads: oneDNN on, which TensorFlow reads when it loads.
settings.use_command_line_settings()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from rethink_tf import callbacks, cli, environment, fitting, measures, models, optimizers, records, runs  # noqa: E402
from rethink_tf import config as config_lib  # noqa: E402
from rethink_tf.data import corrupt, pipeline, sources  # noqa: E402
from rethink_tf.models import alexnet, inception, mlp  # noqa: E402
from rethink_tf.version import __version__ as package_version  # noqa: E402


def matmul_peak_gflops(n: int = 2048, seconds: float = 3.0) -> float:
    """Best float32 GFLOP/s of an n x n matmul over a few timed bursts."""
    a = tf.random.stateless_normal([n, n], seed=[1, 2])
    b = tf.random.stateless_normal([n, n], seed=[3, 4])

    @tf.function
    def burst(k):
        c = a
        for _ in tf.range(k):
            c = tf.matmul(a, b) + c * 0.0  # depends on the previous result, so no iteration is skipped
        return c[0, 0]

    burst(tf.constant(1)).numpy()
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        burst(tf.constant(8)).numpy()
        best = max(best, 8 * 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best


def layer_flops(model: keras.Model) -> list[int]:
    """Per Conv2D and Dense layer, in the model's order (nested models' layers in their place, as in Keras'
    InceptionV3): FLOPs of its forward pass per image (2 x multiply-adds)."""
    flops = []
    for layer in measures.flat_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, _ = layer.output.shape
            kh, kw, cin, cout = layer.kernel.shape
            flops.append(2 * h * w * kh * kw * cin * cout)
        elif isinstance(layer, (keras.layers.Dense, models.Dense)):
            flops.append(2 * math.prod(layer.kernel.shape))
    return flops


def forward_flops(model: keras.Model) -> int:
    return int(sum(layer_flops(model)))


def train_flops(model: keras.Model) -> int:
    """FLOPs of a train step per image: each layer's forward, weight gradient and input gradient (each as
    many as the forward), but no input gradient for the first layer, which nothing needs: in MLP 1x512 that
    layer is 99.6% of the FLOPs, so "3x forward" would overstate its rate by half."""
    flops = layer_flops(model)
    return int(3 * sum(flops) - flops[0])


def build(cfg: config_lib.RunConfig, input_shape) -> keras.Model:
    cfg = runs.resolve(cfg)
    model = models.build_model(
        cfg.model, input_shape=input_shape, num_classes=10, batch_norm=cfg.batch_norm, bn_momentum=cfg.bn_momentum
    )
    fitting.compile_model(model, cfg)
    return model


def alternated(measures: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Every measure taken `rounds` times, in turns (a, b, a, b, ...), so that drift weighs on all alike."""
    rates = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            rates[name].append(measure())
    return rates


def median_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median over rounds of one measure's rate over another's, taken in the same round."""
    return statistics.median(a / b for a, b in zip(numerators, denominators))


class _StopAfter(keras.callbacks.Callback):
    """Times every epoch but a first one that traces the train step, and stops fit once `seconds` are timed."""

    def __init__(self, seconds: float, untimed_epochs: int):
        super().__init__()
        self.seconds, self.untimed_epochs, self.timed = seconds, untimed_epochs, []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if epoch >= self.untimed_epochs:
            self.timed.append(time.perf_counter() - self.start)
        self.model.stop_training = sum(self.timed) >= self.seconds


@dataclasses.dataclass(frozen=True)
class TrainInput:
    """A training pipeline and the epoch variable that orders it, made once and fitted on in every
    round: each pipeline holds its own copy of the whitened pixels (282 MB for an MLP's 30,000 images)."""

    dataset: tf.data.Dataset
    epoch: tf.Variable
    images: int


def train_input(data, cfg: config_lib.RunConfig, autotune: bool = False) -> TrainInput:
    """cfg's training pipeline over data, as a run builds it; `autotune` turns tf.data's autotuner back on,
    for the settings comparison."""
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    ds = pipeline.train_dataset(data.train, cfg, epoch)
    if autotune:
        options = tf.data.Options()
        options.autotune.enabled = True
        ds = ds.with_options(options)
    return TrainInput(ds, epoch, len(data.train.labels))


def fit_images_per_s(model: keras.Model, inputs: TrainInput, seconds: float) -> float:
    """Model.fit on the real training pipeline, epoch after epoch in one call as a run does (so the cost of
    ending one epoch's iterator and starting the next counts); the first epoch of a model's first fit (tracing)
    is not timed."""
    timer = _StopAfter(seconds, untimed_epochs=int(model.train_function is None))
    model.fit(
        inputs.dataset,
        epochs=10_000,
        verbose=0,
        shuffle=False,
        callbacks=[callbacks.EpochVariable(inputs.epoch), timer],
    )
    return len(timer.timed) * inputs.images / sum(timer.timed)


def _keras_dense(*args, eigen_backward: bool = False, **kwargs) -> keras.layers.Dense:
    """keras.layers.Dense in place of the package's (which alone has eigen_backward)."""
    return keras.layers.Dense(*args, **kwargs)


def _dense_without_eigen_backward(*args, eigen_backward: bool = False, **kwargs) -> models.Dense:
    """The package's Dense with oneDNN's gradients everywhere."""
    return models.Dense(*args, **kwargs)


def settings_speedups(cfg: config_lib.RunConfig, data, seconds: float, rounds: int) -> dict[str, float]:
    """fit with the package's settings / fit with one of them undone, timed in turns (the median ratio of
    `rounds`). Keras' own SGD and Dense are put back by patching the names the package builds with."""
    dense_builders = [module for module in (alexnet, inception, mlp) if getattr(module, "Dense", None) is models.Dense]
    undone = {
        "steps_per_execution=1": (dataclasses.replace(cfg, steps_per_execution=1), False, []),
        "tf.data autotuner on": (cfg, True, []),
        "Keras SGD": (cfg, False, [mock.patch.object(optimizers, "MomentumSGD", keras.optimizers.SGD)]),
        "Keras Dense": (cfg, False, [mock.patch.object(module, "Dense", _keras_dense) for module in dense_builders]),
        "Eigen backward": (
            cfg,
            False,
            [mock.patch.object(module, "Dense", _dense_without_eigen_backward) for module in dense_builders],
        ),
    }
    ours, ours_input = build(cfg, data.input_shape), train_input(data, cfg)
    dense_layers = [layer for layer in ours.layers if isinstance(layer, models.Dense)]
    if not dense_layers:
        del undone["Keras Dense"]  # Inception builds with Keras' own Dense
    if not any(layer.eigen_backward for layer in dense_layers):
        del undone["Eigen backward"]

    def speedup(other_cfg: config_lib.RunConfig, autotune: bool, patches: list) -> float:
        with contextlib.ExitStack() as stack:
            for patch in patches:
                stack.enter_context(patch)
            other = build(other_cfg, data.input_shape)
        other_input = train_input(data, other_cfg, autotune)
        rates = alternated(
            {
                "ours": lambda: fit_images_per_s(ours, ours_input, seconds / rounds),
                "other": lambda: fit_images_per_s(other, other_input, seconds / rounds),
            },
            rounds,
        )
        return median_ratio(rates["ours"], rates["other"])

    speedups = {}
    for label, undo in undone.items():
        speedups[label] = speedup(*undo)
        gc.collect()  # tf.data and Keras objects sit in reference cycles: free this one's pixels before the next
    return speedups


def onednn_off_fit(args) -> dict[str, float]:
    """fit images/s per model with TF_ENABLE_ONEDNN_OPTS=0, from this script run again in a child process."""
    out = args.out + ".onednn_off.json"
    subprocess.run(
        [
            sys.executable,
            os.path.abspath(__file__),
            f"--models={args.models}",
            f"--seconds={args.seconds}",
            f"--batch_size={args.batch_size}",
            f"--rounds={args.rounds}",
            f"--train_images={args.train_images}",
            "--nopipeline",
            f"--out={out}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"},
    )
    with open(out) as f:
        child = json.load(f)
    os.remove(out)
    if child["TF_ENABLE_ONEDNN_OPTS"] != "0" or child["onednn"]:
        raise RuntimeError("the oneDNN-off child process ran with oneDNN on")
    return {key: row["fit_images_per_s"] for key, row in child["models"].items()}


def fresh_batches(images: np.ndarray, labels: np.ndarray, batch_size: int) -> Callable[[], tuple[tf.Tensor, tf.Tensor]]:
    """A batch of (images, labels) per call inside a graph, gathered from random rows as a run reads its batches:
    every whole batch's worth of rows once in a fixed random order, then the order again."""
    batches = len(labels) // batch_size
    order = tf.random.experimental.stateless_shuffle(tf.range(len(labels)), seed=[5, 6])[: batches * batch_size]
    images, labels = pipeline.on_cpu(images), pipeline.on_cpu(labels)  # where a run's pipeline keeps them
    step = tf.Variable(0)

    def batch():
        positions = order[step * batch_size : (step + 1) * batch_size]
        step.assign((step + 1) % batches)
        return pipeline.gather_batch(images, labels, positions)

    return batch


def bare_steps(
    model: keras.Model,
    batch_size: int,
    steps_per_call: int,
    batch: Callable[[], tuple[tf.Tensor, tf.Tensor]] | None = None,
) -> Callable[[float], float]:
    """A measure of images/s of compiled train steps (forward, loss, gradients, SGD update), `steps_per_call` of
    them in one graph loop as fit runs a call: what fit could reach if its input pipeline and its own
    bookkeeping (metrics, logs, callbacks) cost nothing. On one batch held in memory, or on what `batch`
    returns each step (fresh_batches: the step then also pays for reading a new batch, as fit's must). Traced
    once, on its first use."""
    if batch is None:
        x = tf.random.stateless_normal([batch_size, *model.input_shape[1:]], seed=[5, 6])
        y = tf.random.stateless_uniform([batch_size], seed=[7, 8], maxval=10, dtype=tf.int64)
        batch = lambda: (x, y)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = model.trainable_variables

    @tf.function
    def steps():
        loss = tf.constant(0.0)
        for _ in tf.range(steps_per_call):
            x, y = batch()
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True)) + sum(model.losses)
            model.optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    def images_per_s(seconds: float) -> float:
        if not steps.experimental_get_tracing_count():
            steps().numpy()
        calls, elapsed = 0, 0.0
        while elapsed < seconds:
            start = time.perf_counter()
            steps().numpy()
            elapsed += time.perf_counter() - start
            calls += 1
        return calls * steps_per_call * batch_size / elapsed

    return images_per_s


def pipeline_images_per_s(cfg: config_lib.RunConfig, raw: sources.RawData, seconds: float) -> float:
    """The training input pipeline alone (corruption already applied once, as in a run), one epoch at a time,
    its batches consumed inside TensorFlow as fit consumes them, not by a Python loop, which adds its own time
    (0.1-0.15 ms a batch on 2 cores, a fifth of what a fixed-window batch costs)."""
    ds = train_input(pipeline.prepare(cfg, raw), cfg).dataset
    count = tf.function(
        lambda: ds.reduce(tf.constant(0, tf.int64), lambda n, batch: n + tf.shape(batch[0], out_type=tf.int64)[0])
    )
    count()
    images, elapsed = 0, 0.0
    while elapsed < seconds:
        start = time.perf_counter()
        images += int(count())
        elapsed += time.perf_counter() - start
    return images / elapsed


# Training images per model, so that one timed epoch takes a second or more on 2 CPU cores.
TRAIN_IMAGES = {
    "inception_small": 1024,
    "inception_small_nobn": 1024,
    "alexnet_small": 4096,
    "mlp_1x512": 30000,
    "mlp_3x512": 30000,
}


def model_config(base: config_lib.RunConfig, key: str, train_images: int) -> config_lib.RunConfig:
    """The run config of a benchmark key (a model name, "_nobn" for Inception w/o BatchNorm)."""
    return runs.derive(
        base,
        model=key.removesuffix("_nobn"),
        batch_norm=not key.endswith("_nobn"),
        train_size=train_images or TRAIN_IMAGES[key],
    )


FLAGS = flags.FLAGS
flags.DEFINE_string("models", ",".join(TRAIN_IMAGES), "Comma-separated: " + ", ".join(TRAIN_IMAGES) + ".")
flags.DEFINE_integer("batch_size", 128, "Global batch size.", lower_bound=1)
flags.DEFINE_float("seconds", 10.0, "Timed seconds per measurement, all rounds together.")
flags.DEFINE_integer("rounds", 3, "Turns in which compared measurements are taken.")
flags.DEFINE_string("out", "results/benchmark.json", "Where the JSON of every number goes.")
flags.DEFINE_integer(
    "train_images", 0, "Training images per model (0: enough for a second or more per epoch on 2 cores).", lower_bound=0
)
flags.DEFINE_integer("pipeline_images", 30000, "Images per input-pipeline epoch.", lower_bound=1)
flags.DEFINE_bool("pipeline", True, "Measure the input pipeline alone; --nopipeline skips it.")
flags.DEFINE_bool("no_pipeline", False, "Skip the input-pipeline measurements: the old spelling of --nopipeline.")
flags.DEFINE_bool("torch", False, "Also time PyTorch's train step of each architecture (needs torch, CPU build).")
flags.DEFINE_bool(
    "settings", False, "Also measure what each speed setting of the package is worth (fit with it undone)."
)
flags.register_validator("rounds", lambda v: v >= 1, message="--rounds must be at least 1")
flags.register_validator("seconds", lambda v: v > 0, message="--seconds must be above 0")


@flags.validator("models")
def _known_models(value: str) -> bool:
    unknown = set(value.split(",")) - set(TRAIN_IMAGES)
    if unknown:
        raise flags.ValidationError(f"unknown {', '.join(sorted(unknown))}; choose from {', '.join(TRAIN_IMAGES)}")
    return True


FLAG_GROUPS = (
    ("What to measure", ("models", "settings", "torch", "pipeline", "no_pipeline")),
    ("How", ("seconds", "rounds", "batch_size", "train_images", "pipeline_images", "out")),
)


def measure_pipeline() -> bool:
    """Whether to time the input pipeline: --pipeline (the default), unless --nopipeline or --no_pipeline."""
    return FLAGS.pipeline and not FLAGS.no_pipeline


def main(argv: list[str]) -> None:
    args = FLAGS
    if len(argv) > 1:
        cli.error(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    torch_reference = None
    if args.torch:
        try:
            import torch
        except ImportError:
            cli.error("--torch needs PyTorch: pip install torch==2.13.0 (the CPU build)")
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # torch_reference.py sits next to this file
        import torch_reference

    onednn_off = onednn_off_fit(args) if args.settings else {}  # first, while this process holds nothing
    tf.config.experimental.enable_op_determinism()
    # As tools/torch_reference.py; one learning rate for every model (the rate does not change the speed).
    base = config_lib.RunConfig(batch_size=args.batch_size, test_size=100, bn_momentum=0.9, learning_rate=0.1)
    raw = sources.load_for(base)  # read once: every model and pipeline subsets and corrupts the same source
    peak = matmul_peak_gflops(seconds=max(args.seconds / 3, 0.5))
    env = environment.read()  # the block a run record has: oneDNN and its ISA as a training run would have them
    result = {
        "rethink_tf": package_version,
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", ""),
        "onednn": records.onednn_enabled(),
        "environment": env,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "matmul_peak_gflops": peak,
        "models": {},
        "pipeline": {},
    }
    if torch_reference:
        result["torch"] = torch.__version__
    print(f"environment: {environment.label(env)} (TF_ENABLE_ONEDNN_OPTS={result['TF_ENABLE_ONEDNN_OPTS'] or 'unset'})")
    print(f"float32 matmul peak: {peak:.1f} GFLOP/s")
    print(
        f"{'model':22} {'fit img/s':>10} {'bare img/s':>11} {'fit/bare':>9} {'fresh img/s':>11} {'fit/fresh':>9}"
        f" {'GFLOP/s':>8} {'of peak':>8}"
        + (f" {'torch img/s':>12} {'fit/torch':>10} {'range':>10}" if torch_reference else "")
    )
    window = args.seconds / args.rounds
    for key in args.models.split(","):
        cfg = model_config(base, key, args.train_images)
        data = pipeline.prepare(cfg, raw)
        model = build(cfg, data.input_shape)
        inputs = train_input(data, cfg)
        steps_per_call = min(cfg.steps_per_execution, -(-inputs.images // args.batch_size))
        bare_rate = bare_steps(model, args.batch_size, steps_per_call)
        fresh_rate = bare_steps(
            model,
            args.batch_size,
            steps_per_call,
            fresh_batches(pipeline.whitened_once(data.train.images, cfg), data.train.labels, args.batch_size),
        )
        measures = {
            "fit": functools.partial(fit_images_per_s, model, inputs, window),
            "bare": functools.partial(bare_rate, window),
            "bare_fresh": functools.partial(fresh_rate, window),
        }
        if torch_reference:
            measures["torch"] = functools.partial(torch_reference.train_step_images_per_s, key, args.batch_size, window)
        rates = alternated(measures, args.rounds)
        fit, bare, fresh = (statistics.median(rates[name]) for name in ("fit", "bare", "bare_fresh"))
        flops = train_flops(model)
        gflops = flops * fit / 1e9
        row = {
            "fit_images_per_s": fit,
            "bare_step_images_per_s": bare,
            "fit_over_bare": median_ratio(rates["fit"], rates["bare"]),
            "bare_fresh_images_per_s": fresh,
            "fit_over_bare_fresh": median_ratio(rates["fit"], rates["bare_fresh"]),
            "forward_flops_per_image": forward_flops(model),
            "train_flops_per_image": flops,
            "achieved_gflops": gflops,
            "fraction_of_matmul_peak": gflops / peak,
            "rounds": rates,
        }
        line = (
            f"{key:22} {fit:10.0f} {bare:11.0f} {row['fit_over_bare']:9.2f} {fresh:11.0f}"
            f" {row['fit_over_bare_fresh']:9.2f} {gflops:8.1f} {gflops / peak:8.0%}"
        )
        if torch_reference:
            ratios = [a / b for a, b in zip(rates["fit"], rates["torch"])]
            row.update(
                torch_images_per_s=statistics.median(rates["torch"]),
                fit_over_torch=statistics.median(ratios),
                fit_over_torch_range=[min(ratios), max(ratios)],
            )
            line += (
                f" {row['torch_images_per_s']:12.0f} {row['fit_over_torch']:10.2f}"
                f" {min(ratios):>5.2f}-{max(ratios):.2f}"
            )
        result["models"][key] = row
        print(line, flush=True)
    if args.settings:
        labels = [
            "steps_per_execution=1",
            "tf.data autotuner on",
            "Keras SGD",
            "Keras Dense",
            "Eigen backward",
            "oneDNN off",
        ]
        print("\nfit with the package's settings / fit with one undone (above 1: the setting pays)")
        print(f"{'model':22}" + "".join(f" {label:>22}" for label in labels))
        for key, row in result["models"].items():
            cfg = model_config(base, key, args.train_images)
            speedups = settings_speedups(cfg, pipeline.prepare(cfg, raw), args.seconds, args.rounds)
            speedups["oneDNN off"] = row["fit_images_per_s"] / onednn_off[key]
            row["speedup_of_setting"] = speedups
            print(
                f"{key:22}"
                + "".join(f" {speedups[label]:22.2f}" if label in speedups else f" {'-':>22}" for label in labels),
                flush=True,
            )
    if measure_pipeline():
        print(f"\n{'input pipeline':32} {'img/s':>8}")
        for corruption in corrupt.CORRUPTIONS:
            if corruption == "random_signs":
                continue
            for crop in (False, True):
                cfg = runs.derive(base, corruption=corruption, random_crop=crop, train_size=args.pipeline_images)
                rate = pipeline_images_per_s(cfg, raw, args.seconds / 2)
                label = corruption + (" + random crop" if crop else "")
                result["pipeline"][label] = rate
                print(f"{label:32} {rate:8.0f}", flush=True)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (max RSS): {result['peak_rss_mb']:.0f} MB")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"written: {args.out}")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.flags_parser(__doc__, FLAG_GROUPS))
