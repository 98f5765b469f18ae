"""A finished run's generalization measures (rethink_tf.measures) computed from its saved weights into its record,
and its initial weights rebuilt from the record for runs that predate keeping them: nothing is retrained."""

from __future__ import annotations

import os
import time

from rethink_tf import atomic, fitting, records, warm
from rethink_tf import config as config_lib


def initial_weights(run_dir: str) -> str:
    """The path of a run's initial weights, rebuilt from its record's config and shapes when the run predates
    them (runs trained before initial weights were kept have only their final ones)."""
    path = os.path.join(run_dir, records.INITIAL_WEIGHTS)
    if not os.path.exists(path):
        record = records.read_record(run_dir)
        if record is None or not record.get("data"):
            raise records.RunDirError(f"{run_dir} holds no run record with its data's shapes; train the run first")
        config = record.config
        model = fitting.build(config, record["data"]["input_shape"], record["data"]["num_classes"])
        fitting.compile_model(model, config, num_classes=record["data"]["num_classes"])  # the optimizer's slots
        atomic.write_with(path, model.save_weights, suffix=".weights.h5")
    return path


# Measures added after runs were first measured: a record whose measures lack one gets them all again (nothing is
# retrained; the others come out the same). Named here so that deciding it loads no TensorFlow (measures.py does).
ADDED = ("critical_sample_ratio",)


def lacking(config: config_lib.RunConfig, record: records.RunRecord) -> bool:
    """Whether a finished run still needs its generalization measures (they are computed without retraining): it
    has none, or none of today's definitions (RunRecord.measures_current), or lacks one added since."""
    values = (record.get("measures") or {}).get("values") or {}
    current = record.measures_current and all(key in values for key in ADDED)
    return config.measures and record.finished and not current


def add(config: config_lib.RunConfig, data, record: records.RunRecord, progress: str | None = None) -> None:
    """The run's measures (rethink_tf.measures.of_net) into its record and its TensorBoard events, from its final
    and initial weights on its training data as trained (center-cropped, whitened, the labels it was trained on).
    The caller holds the run's claim."""
    from rethink_tf import csr, measures, summaries
    from rethink_tf.data import pipeline
    from rethink_tf.version import __version__

    started = time.perf_counter()
    # The trained net in this process's kept model of its graph when there is one (rethink_tf.warm): its traced CSR
    # search is reused. Its weights from the file all the same: the measures are of the saved net. Not for a
    # mixed-precision run, whose kept model computes in 16 bits: its measures are of a float32 net, as built here.
    kept = warm.get(warm.key_for(config, data)) if config.precision == "float32" else None
    final = kept or fitting.build(config, data.input_shape, data.num_classes)
    final.load_weights(os.path.join(config.run_dir, records.WEIGHTS))
    initial = fitting.build(config, data.input_shape, data.num_classes)
    initial.load_weights(initial_weights(config.run_dir))  # the layers' weights alone: it has no optimizer
    nets = [final, initial]
    images = pipeline.whitened_once(data.train.images, config)
    values, sigmas = measures.of_net(*nets, images, data.train.labels, seed=config.seed)
    # Arpit et al.'s CSR is of held-out inputs (their labels unread): on its training sample a fitted net's is about 0
    # whatever its labels (docs/csr.md). The curve's test sample, so it is the curve's last point.
    sample = csr.sample(data.test, config.csr_size, config.seed, config)
    values["critical_sample_ratio"] = csr.ratio(
        csr.of_sample(csr.searcher(nets[0], config.rgb), sample, (config.seed, csr.TEST))
    )
    record["measures"] = {
        "values": values,
        "sharpness_sigma": sigmas,
        "settings": {
            "train_examples": len(images),
            "margin_percentile": 10,
            **measures.SHARPNESS,
            "csr_test_examples": len(sample),
        },
        "wall_time_s": time.perf_counter() - started,
        "version": __version__,
    }
    records.save(config, record)
    summaries.rewrite(config, record)
    if progress:
        seconds = record["measures"]["wall_time_s"]
        print(f"{progress} measures of the trained net recorded ({seconds:.0f} s)", flush=True)
