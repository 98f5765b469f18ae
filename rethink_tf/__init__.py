"""rethink_tf: Zhang et al., "Understanding deep learning requires rethinking generalization", in TensorFlow."""

__version__ = "0.1.0"
