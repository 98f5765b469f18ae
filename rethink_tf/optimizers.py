"""The run's optimizer: SGD with momentum whose update is TensorFlow's fused kernel, the paper's optimizer at the
speed of one op, or Keras' Adam (--optimizer=adam, Nakkiran et al.'s for double descent).

Keras 3's SGD builds its update from four element-wise ops, each writing a fresh temporary the size of the
variable; TensorFlow's ResourceApplyKerasMomentum (what tf.keras 2's SGD ran) does the same arithmetic in
place, in one pass: m = m * momentum - g * lr; w += m. Same numbers bit for bit (tests/test_optimizers.py);
on the MLPs' 1.2M-weight first layer the update is a noticeable part of a step (docs/speed.md).
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="rethink_tf")  # a compiled model can be cloned (path_norm)
class MomentumSGD(keras.optimizers.SGD):
    """keras.optimizers.SGD (plain momentum, no Nesterov) with the fused in-place update for dense gradients."""

    def update_step(self, gradient, variable, learning_rate):
        if self.momentum == 0 or self.nesterov or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        momentum = self.momentums[self._get_variable_index(variable)]
        variable = variable.value if isinstance(variable, keras.Variable) else variable
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=variable.handle,
            accum=momentum.value.handle,
            lr=tf.cast(learning_rate, variable.dtype),
            grad=tf.cast(gradient, variable.dtype),
            momentum=tf.cast(self.momentum, variable.dtype),
            use_nesterov=False,
        )


def of_config(config):
    """--optimizer's optimizer at the run's learning rate (the schedule's callback sets it every epoch)."""
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=config.learning_rate)
    return MomentumSGD(learning_rate=config.learning_rate, momentum=config.momentum)
