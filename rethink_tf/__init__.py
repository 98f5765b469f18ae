"""rethink_tf: Zhang et al., "Understanding deep learning requires rethinking generalization", in TensorFlow."""

__version__ = "0.5.0"

import os as _os

# TensorFlow's oneDNN kernels are off by default on some x86 CPUs; on the 2-core CPUs this package is
# sized for they train the conv nets faster (docs/speed.md), and runs stay bit-identical from one to the next.
# Takes effect only if rethink_tf is imported before TensorFlow; an explicit setting wins.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# TensorFlow's start-up lines on stderr are hidden when rethink_tf is imported before it (rethink_tf/quiet.py);
# TF_CPP_MIN_LOG_LEVEL set by the user shows TensorFlow's log as TensorFlow prints it.
from rethink_tf import quiet as _quiet  # noqa: E402

_quiet.hide_tensorflow_start_up()
