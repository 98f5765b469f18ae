"""Which ops' outputs depend on the instruction set oneDNN runs on: the same batch through the same initial model
under each ISA that oneDNN can be capped to on this CPU (ONEDNN_MAX_CPU_ISA), and with oneDNN off.

    python tools/isa_probe.py [--models=alexnet_small,inception_small,mlp_3x512,matmul]
                              [--isas=DEFAULT,AVX512_CORE,AVX2,OFF,OFF+AVX2] [--out=results/isa_probe.json]

Each variant is a child process (oneDNN reads its cap once, at its first primitive), which runs the laptop preset's
first batch of 32 Fashion-MNIST training images through the model at its initial weights and records every
layer's output, the loss's gradient for every weight, and the weights after one SGD step; it also runs under
ONEDNN_VERBOSE=1 to list the oneDNN implementation of every primitive it ran. The parent prints, per model, the first
layer whose output differs from the uncapped run (OFF+AVX2: oneDNN off and capped; "matmul" is one bare matrix
product by MatMul and by BatchMatMulV3, without a model), how many layers and gradients differ, and the largest relative
difference, and writes it all as JSON. docs/determinism.md has the findings.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "models", ["alexnet_small", "inception_small", "mlp_3x512", "matmul"], "Models of the registry, or matmul."
)
flags.DEFINE_list(
    "isas",
    [
        "DEFAULT",
        "AVX512_CORE_AMX",
        "AVX512_CORE_BF16",
        "AVX512_CORE_VNNI",
        "AVX512_CORE",
        "AVX2",
        "AVX",
        "OFF",
        "OFF+AVX2",
    ],
    "ONEDNN_MAX_CPU_ISA values to compare with DEFAULT (oneDNN's own choice); OFF is TF_ENABLE_ONEDNN_OPTS=0, "
    "OFF+<ISA> both.",
)
flags.DEFINE_string("out", "results/isa_probe.json", "Where the JSON goes.")
flags.DEFINE_string("child", "", "Internal: run one model in this process and write its arrays here (.npz).")
flags.DEFINE_string("model", "", "Internal: the child's model.")


def matmul_child(out: str) -> None:
    """The "matmul" model: one 128x2352 by 2352x512 product of fixed random inputs (the MLPs' first layer) by
    MatMul and by BatchMatMulV3, as "layers" mm and bmm."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((128, 2352), dtype=np.float32))
    b = tf.constant(rng.standard_normal((2352, 512), dtype=np.float32))
    bmm = tf.raw_ops.BatchMatMulV3(x=a[None], y=b[None], Tout=tf.float32)[0]
    np.savez(out, **{"out/mm": tf.linalg.matmul(a, b).numpy(), "out/bmm": bmm.numpy()})


def child(model_key: str, out: str) -> None:
    """One model's layer outputs, gradients and stepped weights on one batch, in this process's environment."""
    if model_key == "matmul":
        return matmul_child(out)
    import keras
    import tensorflow as tf

    from rethink_tf import config as config_lib
    from rethink_tf import fitting
    from rethink_tf.data import pipeline

    tf.config.experimental.enable_op_determinism()
    cfg = config_lib.RunConfig(
        model=model_key, train_size=400, batch_size=32, bn_momentum=0.9, learning_rate=0.01, test_size=100
    ).validate()
    data = pipeline.prepare(cfg)
    model = fitting.build(cfg, data.input_shape, data.num_classes)
    epoch = tf.Variable(0, dtype=tf.int64)
    images, labels = next(iter(pipeline.train_dataset(data.train, cfg, epoch)))
    arrays = {}
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    for layer, value in zip(layers, probe(images, training=True)):
        arrays[f"out/{layer.name}"] = np.asarray(value)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, model(images, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    for w, g in zip(model.trainable_weights, grads):
        arrays[f"grad/{w.path}"] = np.asarray(g)
    keras.optimizers.SGD(0.01, momentum=0.9).apply_gradients(zip(grads, model.trainable_weights))
    for w in model.trainable_weights:
        arrays[f"step/{w.path}"] = np.asarray(w)
    np.savez(out, **arrays)


def run_child(model_key: str, isa: str, verbose: bool, where: str) -> tuple[dict[str, np.ndarray] | None, str]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    for part in isa.split("+"):  # e.g. OFF+AVX2: oneDNN's TensorFlow ops off, its cap still set
        if part == "OFF":
            env["TF_ENABLE_ONEDNN_OPTS"] = "0"
        elif part != "DEFAULT":
            env["ONEDNN_MAX_CPU_ISA"] = part
    if verbose:
        env["ONEDNN_VERBOSE"] = "1"
    out = os.path.join(where, f"{model_key}-{isa}-{int(verbose)}.npz")
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), f"--child={out}", f"--model={model_key}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{model_key} under {isa} failed: {done.stderr[-2000:]}")
    return (None if verbose else dict(np.load(out))), done.stdout


def implementations(verbose_out: str) -> tuple[str, dict[str, list[str]]]:
    """oneDNN's ISA line and, per primitive kind, the implementations it executed (ONEDNN_VERBOSE=1 lines)."""
    isa, seen = "", collections.defaultdict(set)
    for line in verbose_out.splitlines():
        parts = line.split(",")
        if line.startswith("onednn_verbose") and ",info,cpu,isa:" in line:
            isa = line.split("isa:", 1)[1]
        elif len(parts) > 6 and parts[2] == "primitive" and parts[3] == "exec":
            seen[parts[5]].add(parts[6])
    return isa, {kind: sorted(names) for kind, names in sorted(seen.items())}


def compare(base: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, float]:
    """Per array that differs: the largest difference relative to the array's largest magnitude."""
    out = {}
    for name, a in base.items():
        b = other[name]
        if not np.array_equal(a, b):
            out[name] = float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a))), 1e-30))
    return out


def main(argv: list[str]) -> None:
    del argv
    if FLAGS.child:
        child(FLAGS.model, FLAGS.child)
        return
    result = {}
    with tempfile.TemporaryDirectory() as where:
        for model_key in FLAGS.models:
            runs = {isa: run_child(model_key, isa, False, where)[0] for isa in dict.fromkeys(["DEFAULT", *FLAGS.isas])}
            result[model_key] = {}
            names = list(runs["DEFAULT"])
            for isa in FLAGS.isas:
                isa_line, impls = implementations(run_child(model_key, isa, True, where)[1])
                if isa == "DEFAULT":
                    diff = compare(runs["DEFAULT"], run_child(model_key, "DEFAULT", False, where)[0])
                else:
                    diff = compare(runs["DEFAULT"], runs[isa])
                outs = [n for n in names if n.startswith("out/") and n in diff]
                grads = [n for n in names if n.startswith("grad/") and n in diff]
                steps = [n for n in names if n.startswith("step/") and n in diff]
                row = {
                    "onednn_isa": isa_line,
                    "implementations": impls,
                    "layers_differing": len(outs),
                    "layers": sum(n.startswith("out/") for n in names),
                    "first_layer_differing": outs[0][4:] if outs else None,
                    "gradients_differing": len(grads),
                    "weights_after_a_step_differing": len(steps),
                    "weights": sum(n.startswith("step/") for n in names),
                    "largest_relative_difference": max(diff.values()) if diff else 0.0,
                    "differences": diff,
                }
                if isa.startswith("OFF+") and "OFF" in runs:  # does the cap reach products with oneDNN's ops off?
                    row["layers_differing_from_OFF"] = sum(
                        n.startswith("out/") for n in compare(runs["OFF"], runs[isa])
                    )
                result[model_key][isa] = row
                print(
                    f"{model_key:16} {isa:17} layers {row['layers_differing']:2}/{row['layers']:<2} first "
                    f"{row['first_layer_differing'] or '-':24} grads {len(grads):2} steps {len(steps):2}/"
                    f"{row['weights']:<2} max rel {row['largest_relative_difference']:.1e}"
                    + (
                        f" (from OFF: {row['layers_differing_from_OFF']} layers)"
                        if "layers_differing_from_OFF" in row
                        else ""
                    )
                    + f"  [{isa_line}]",
                    flush=True,
                )
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
