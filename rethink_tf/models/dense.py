"""A fully connected layer whose kernel is stored [units, inputs], PyTorch's Linear layout, for speed.

keras.layers.Dense stores [inputs, units]. On the 2-core x86 CPUs this package is sized for, TensorFlow's
oneDNN matmul runs the forward pass of the MLPs' first layer faster with the kernel stored transposed, and
its weight gradient no slower (docs/speed.md has the timings). The initial values are keras.layers.Dense's
for the same initializer (drawn [inputs, units], then transposed), so only the order of float sums differs.

With eigen_backward, the two gradient products run on Eigen's contraction instead of oneDNN's sgemm: on
those CPUs Eigen is the faster of the two for the MLPs' 512x512 hidden layers (see _matmul_eigen_backward).
"""

import keras
import tensorflow as tf


def _contract(a: tf.Tensor, b: tf.Tensor, transpose_a: bool = False) -> tf.Tensor:
    """a @ b (a transposed first if asked) as BatchMatMulV3: TensorFlow's oneDNN graph pass rewrites MatMul and
    BatchMatMulV2 to oneDNN kernels but leaves this op to Eigen's contraction."""
    return tf.raw_ops.BatchMatMulV3(x=a, y=b, Tout=a.dtype, adj_x=transpose_a, adj_y=False)


@tf.custom_gradient
def _matmul_eigen_backward(x: tf.Tensor, kernel: tf.Tensor):
    """x @ kernel^T, its gradients dy @ kernel and dy^T @ x computed by Eigen: faster than oneDNN's at batch 128
    with 512 inputs and 512 units on 2 AVX2 cores; at other shapes of the paper's models oneDNN was as fast or
    faster (docs/speed.md)."""

    def gradients(dy):
        return _contract(dy, kernel), _contract(dy, x, transpose_a=True)

    return tf.matmul(x, kernel, transpose_b=True), gradients


@keras.saving.register_keras_serializable(package="rethink_tf")
class Dense(keras.layers.Layer):
    """activation(inputs @ kernel^T + bias) for inputs [batch, features]; kernel [units, features].
    eigen_backward: the gradients of the product by Eigen's contraction rather than oneDNN's (same values up
    to the order of float sums), when the layer computes in float32."""

    def __init__(
        self,
        units: int,
        activation=None,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        eigen_backward: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.eigen_backward = eigen_backward
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        features = input_shape[-1]

        def transposed(shape, dtype=None):
            return tf.transpose(self.kernel_initializer((features, self.units), dtype=dtype))

        self.kernel = self.add_weight(
            name="kernel", shape=(self.units, features), initializer=transposed, regularizer=self.kernel_regularizer
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        if self.eigen_backward and inputs.dtype == tf.float32:  # Eigen has no float16 BatchMatMulV3 on CPUs
            outputs = _matmul_eigen_backward(inputs, self.kernel.value)
        else:
            outputs = tf.matmul(inputs, self.kernel, transpose_b=True)
        return self.activation(outputs + self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "eigen_backward": self.eigen_backward,
        }
