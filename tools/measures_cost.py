"""What each generalization measure costs on the laptop preset's models: seconds per measure on one net at
28x28x3 with freshly initialized weights and --images random training images (the costs do not depend on the
values). `python tools/measures_cost.py [--images=400]`; docs/measures.md has the figures.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rethink_tf import settings

settings.use_command_line_settings()  # before TensorFlow loads: oneDNN as the command line has it

from rethink_tf import measures, models  # noqa: E402

MODELS = ("inception_small", "alexnet_small", "mlp_1x512", "mlp_3x512")


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def costs(name: str, images: np.ndarray, labels: np.ndarray) -> list[float]:
    """Seconds of each measure on one freshly built net of the model."""
    model = models.build_model(name, input_shape=(28, 28, 3), num_classes=10, seed=0)
    measures.logits(model, images[:2])  # the first call builds the functions: not a measure's cost
    layers, fold = timed(lambda: measures.weight_layers(model))
    _, spectral = timed(lambda: measures.log_spectral_product(layers))
    _, frob = timed(lambda: (measures.param_norm(layers), measures.distance_from_init(layers, layers)))
    _, path = timed(lambda: measures.path_norm(model))
    _, margin = timed(lambda: measures.output_margin(measures.logits(model, images), labels))
    _, noisy = timed(lambda: measures.perturbed_accuracy(model, images, labels, 0.01, draws=1))
    return [fold, spectral, frob, path, margin, noisy]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = rng.normal(size=(args.images, 28, 28, 3)).astype(np.float32)
    labels = rng.integers(0, 10, size=args.images)
    print("| model | fold BN | spectral product | Frobenius + distance | path norm | margin | one noisy accuracy |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in MODELS:
        cells = costs(name, images, labels)
        print(f"| {name} | " + " | ".join(f"{c:.2f} s" for c in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
