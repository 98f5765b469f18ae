"""What the critical sample ratio costs on the laptop preset's models, per input and search step (one forward and
backward pass through the whitening and the net), beside a training epoch of 400 images in batches of 32 on the
same net, both timed in the same process as wall and CPU seconds (the CPU's are less disturbed by other load).

    python tools/csr_cost.py [--models=mlp_1x512,...] [--examples=500] [--steps=10] [--repeats=2]

The search runs --steps steps on --examples random images (freshly built nets; the costs do not depend on the
values) without the convergence rule. One curve point of a run costs about (steps + 2) input-steps per searched
image, its steps set by Arpit et al.'s rule (1 on the trained laptop nets: docs/csr.md). Prints one Markdown row
per model; docs/csr.md keeps the figures.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rethink_tf import settings  # noqa: E402

settings.use_command_line_settings()  # before TensorFlow loads: oneDNN as the command line has it

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from rethink_tf import csr, models  # noqa: E402

_MODELS = flags.DEFINE_list("models", "mlp_1x512,mlp_3x512,alexnet_small,inception_small", "Models.")
_EXAMPLES = flags.DEFINE_integer("examples", 500, "Images searched, in one batch (csr.BATCH's 500).")
_STEPS = flags.DEFINE_integer("steps", 10, "Search steps timed (no convergence rule).")
_REPEATS = flags.DEFINE_integer("repeats", 2, "Timed searches and epochs after the first (the fastest is kept).")


def timed(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of fn()."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def fastest(fn) -> tuple[float, float]:
    fn()  # tracing
    runs = [timed(fn) for _ in range(_REPEATS.value)]
    return min(w for w, _ in runs), min(c for _, c in runs)


def costs(name: str, images: np.ndarray) -> tuple[float, float, float, float]:
    """(wall, CPU) ms per input-step of the search, and (wall, CPU) seconds of a training epoch, on one fresh net."""
    model = models.build_model(name, input_shape=(28, 28, 3), num_classes=10, seed=0)
    lass = csr.ARPIT
    run = tf.function(
        lambda x: (
            csr.search(
                model,
                x,
                radius=lass.radius,
                alpha=lass.alpha,
                beta=lass.beta,
                iterations=_STEPS.value,
                seed=0,
                preprocess=csr.whitening(True),
            ).steps
        )
    )
    x = tf.constant(images)
    steps = int(run(x))  # every input flipped ends the search sooner: count the steps taken
    wall, cpu = fastest(lambda: run(x))
    per = 1000 / (len(images) * (steps + 1))  # steps + 1 forward and backward passes, one more forward
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    train = np.repeat(np.random.default_rng(1).uniform(size=(400, 28, 28, 1)).astype(np.float32), 3, axis=-1)
    y = np.arange(400) % 10
    epoch = fastest(lambda: model.fit(train, y, batch_size=32, epochs=1, verbose=0, shuffle=False))
    return wall * per, cpu * per, *epoch


def main(argv: list[str]) -> None:
    del argv
    images = np.random.default_rng(0).uniform(size=(_EXAMPLES.value, 28, 28, 1)).astype(np.float32)
    print(f"load average before: {os.getloadavg()[0]:.2f}; {_EXAMPLES.value} images, {_STEPS.value} steps")
    print("| model | ms per input-step (wall, CPU) | training epoch, 400 images (wall, CPU) |")
    print("|---|---:|---:|")
    for name in _MODELS.value:
        step_wall, step_cpu, epoch_wall, epoch_cpu = costs(name, images)
        print(f"| {name} | {step_wall:.3f}, {step_cpu:.3f} | {epoch_wall:.2f} s, {epoch_cpu:.2f} s |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    app.run(main)
