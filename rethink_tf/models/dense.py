"""A fully connected layer whose kernel is stored [units, inputs], PyTorch's Linear layout, for speed.

keras.layers.Dense stores [inputs, units]. On the 2-core x86 CPUs this package is sized for, TensorFlow's
oneDNN matmul ran the forward pass of the MLPs' first layer (128x2352 by 2352x512) in about 2.0 ms with
the kernel stored transposed against 3.4 ms, and its weight gradient no slower (README, "Speed"). The initial values are keras.layers.Dense's for the
same initializer (drawn [inputs, units], then transposed), so only the order of float sums differs.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="rethink_tf")
class Dense(keras.layers.Layer):
    """activation(inputs @ kernel^T + bias) for inputs [batch, features]; kernel [units, features]."""

    def __init__(self, units: int, activation=None, kernel_initializer="glorot_uniform", kernel_regularizer=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        features = input_shape[-1]

        def transposed(shape, dtype=None):
            return tf.transpose(self.kernel_initializer((features, self.units), dtype=dtype))

        self.kernel = self.add_weight(name="kernel", shape=(self.units, features), initializer=transposed,
                                      regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        return self.activation(tf.matmul(inputs, self.kernel, transpose_b=True) + self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)}
