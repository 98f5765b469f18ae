"""`python -m rethink_tf.tune`, the command of rethink_tf 0.5, kept: the search is the experiment
rethink_tf.experiments.tune (`python -m rethink_tf.experiments.tune`, its report `python -m rethink_tf.report tune`)."""

from rethink_tf.experiments import runner, tune

if __name__ == "__main__":
    runner.main(tune.EXPERIMENT, tune.__doc__)
