"""The compute environment a run was trained in: the CPU and the instruction sets oneDNN dispatches on, the thread
pools, the TensorFlow / Keras / oneDNN versions, the GPUs. Records keep it; a resume in another is refused.

docs/determinism.md measures which of these change a run's bits.
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
from typing import Any

# The CPU flags (Linux /proc/cpuinfo names) that oneDNN's JIT kernels dispatch on (src/cpu/x64/cpu_isa_traits.hpp).
ISA_EXTENSIONS = (
    "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx_vnni_int8", "avx_ne_convert",
    "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "amx_tile", "amx_int8", "amx_bf16", "amx_fp16",
)  # fmt: skip
# oneDNN's x86 ISA ladder (ONEDNN_MAX_CPU_ISA's values, lowest first), each with the flags it adds to the one below.
ONEDNN_LADDER = (
    ("sse41", {"sse4_1"}),
    ("avx", {"avx"}),
    ("avx2", {"avx2", "fma"}),
    ("avx512_core", {"avx512f", "avx512bw", "avx512vl", "avx512dq"}),
    ("avx512_core_vnni", {"avx512_vnni"}),
    ("avx512_core_bf16", {"avx512_bf16"}),
    ("avx512_core_fp16", {"avx512_fp16"}),
    ("avx512_core_amx", {"amx_tile", "amx_int8", "amx_bf16"}),
    ("avx512_core_amx_fp16", {"amx_fp16"}),
)
# The fields that can change a run's numbers; the rest (host, python, ...) only say where it ran.
NUMERIC_FIELDS = (
    "cpu",
    "cpu_isa",
    "onednn_isa",
    "onednn",
    "intra_op_threads",
    "inter_op_threads",
    "tensorflow",
    "keras",
    "onednn_version",
    "gpus",
    "cuda",
    "cudnn",
    "gpu_driver",
)
ALLOW_FLAG = "--allow_mixed_environment"


def _cpuinfo() -> tuple[str, list[str]]:
    """The CPU's model name and its flags; Linux reads /proc/cpuinfo, macOS sysctl, anything else platform."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        text = ""
    if text:
        model = re.search(r"^(?:model name|Model|Hardware|CPU part)\s*:\s*(.+)$", text, re.M)
        flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)
        return (model.group(1).strip() if model else platform.processor()), (flags.group(1).split() if flags else [])
    if platform.system() == "Darwin":
        try:
            brand = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, check=True, timeout=5
            ).stdout.strip()
            return brand, []
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine(), []


# Caps oneDNN also takes that sit beside the ladder (AVX2 with VNNI) or rename a rung (AVX10.1 = AVX-512 FP16).
ONEDNN_SIDE = (("avx2_vnni", {"avx_vnni"}), ("avx2_vnni_2", {"avx_vnni_int8", "avx_ne_convert"}))
ONEDNN_ALIASES = {
    "avx10_1_512": "avx512_core_fp16",
    "avx10_1_512_amx": "avx512_core_amx",
    "avx10_1_512_amx_fp16": "avx512_core_amx_fp16",
}


def onednn_isa(flags: list[str], cap: str) -> str | None:
    """The highest rung of oneDNN's ladder the CPU has, lowered to ONEDNN_MAX_CPU_ISA's `cap` (oneDNN's own rule);
    None off x86."""
    have, best = set(flags), None
    needed: set[str] = set()
    for name, adds in ONEDNN_LADDER:
        needed |= adds
        if not needed <= have:
            break
        best = name
    names = [name for name, _ in ONEDNN_LADDER]
    cap = ONEDNN_ALIASES.get(cap.lower(), cap.lower())
    side = [name for name, _ in ONEDNN_SIDE]
    if best and cap in side and names.index(best) >= names.index("avx2"):
        best, needed = "avx2", set()
        for name, adds in ONEDNN_SIDE[: side.index(cap) + 1]:
            needed |= adds
            if not needed <= have:
                break
            best = name
        return best
    if best and cap in names and names.index(cap) < names.index(best):
        return cap
    return best


def onednn_version() -> str | None:
    """The version of the oneDNN TensorFlow was built with, from the header its wheel ships (no API reports it)."""
    import tensorflow as tf

    header = os.path.join(
        tf.sysconfig.get_include(), "external", "onednn", "include", "oneapi", "dnnl", "dnnl_version.h"
    )
    try:
        with open(header) as f:
            parts = dict(re.findall(r"#define DNNL_VERSION_(MAJOR|MINOR|PATCH) (\d+)", f.read()))
        return f"{parts['MAJOR']}.{parts['MINOR']}.{parts['PATCH']}"
    except (OSError, KeyError):
        return None


def _gpu_driver() -> str | None:
    try:
        with open("/proc/driver/nvidia/version") as f:
            found = re.search(r"Kernel Module\s+([\d.]+)", f.read())
        return found.group(1) if found else None
    except OSError:
        return None


def _threads(setting: int, variable: str) -> int:
    """A TensorFlow thread pool's size: its setting, else its environment variable, else one per usable core
    (TensorFlow's own default)."""
    if setting:
        return setting
    try:
        return int(os.environ.get(variable, "")) or len(os.sched_getaffinity(0))
    except ValueError:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no sched_getaffinity (macOS)
        return os.cpu_count() or 1


def read() -> dict[str, Any]:
    """This process's compute environment. Call after the run's thread pools are set (strategy.set_threads)."""
    import keras
    import tensorflow as tf

    from rethink_tf import records

    model, flags = _cpuinfo()
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "")
    build = tf.sysconfig.get_build_info()
    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        gpus.append(f"{details.get('device_name', gpu.name)} (compute {details.get('compute_capability')})")
    return {
        "cpu": model,
        "cpu_isa": sorted(f for f in flags if f in ISA_EXTENSIONS),
        "onednn_isa": onednn_isa(flags, cap) if records.onednn_enabled() else None,
        "onednn_max_cpu_isa": cap or None,
        "onednn": records.onednn_enabled(),
        "intra_op_threads": _threads(tf.config.threading.get_intra_op_parallelism_threads(), "TF_NUM_INTRAOP_THREADS"),
        "inter_op_threads": _threads(tf.config.threading.get_inter_op_parallelism_threads(), "TF_NUM_INTEROP_THREADS"),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "onednn_version": onednn_version(),
        "gpus": gpus,
        "cuda": build.get("cuda_version") if gpus else None,
        "cudnn": build.get("cudnn_version") if gpus else None,
        "gpu_driver": _gpu_driver() if gpus else None,
        "host": socket.gethostname(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def differences(theirs: dict[str, Any] | None, mine: dict[str, Any]) -> list[str]:
    """The numeric fields in which two environments differ, as "field theirs -> mine" (every field of mine when
    theirs was not recorded)."""
    if not theirs:
        return ["not recorded (a run started before rethink_tf recorded environments)"]

    def show(value: Any) -> str:
        return ",".join(value) if isinstance(value, list) else str(value)

    out = []
    for name in NUMERIC_FIELDS:
        if theirs.get(name) != mine.get(name):
            if name == "cpu_isa":
                lost = sorted(set(theirs.get(name) or []) - set(mine.get(name) or []))
                gained = sorted(set(mine.get(name) or []) - set(theirs.get(name) or []))
                out.append("cpu_isa " + " ".join([f"-{f}" for f in lost] + [f"+{f}" for f in gained]))
            else:
                out.append(f"{name} {show(theirs.get(name))} -> {show(mine.get(name))}")
    return out


def key(env: dict[str, Any] | None) -> str:
    """The numeric fields as one string: two records with one key were trained in the same environment."""
    return json.dumps({name: (env or {}).get(name) for name in NUMERIC_FIELDS}, sort_keys=True)


def label(env: dict[str, Any] | None) -> str:
    """A short name for people, e.g. "Intel(R) Xeon(R) Processor, oneDNN avx512_core_amx, 2 threads, TF 2.21.0"."""
    if not env:
        return "not recorded"
    where = ", ".join(env["gpus"]) if env.get("gpus") else env.get("cpu", "?")
    isa = (
        f"oneDNN {env['onednn_isa']}" if env.get("onednn_isa") else ("oneDNN off" if env.get("onednn") is False else "")
    )
    parts = [where, isa, f"{env.get('intra_op_threads')} threads", f"TF {env.get('tensorflow')}"]
    return ", ".join(p for p in parts if p)


def of_record(record: dict[str, Any]) -> list[dict[str, Any] | None]:
    """Every environment a run was trained in: its own, then any it was resumed in (--allow_mixed_environment)."""
    return [record.get("environment")] + [r.get("environment") for r in record.get("resumed_in") or []]


def note(recs: list[dict[str, Any]]) -> str:
    """A line for under a report's table when its runs come from more than one environment ("" when they don't),
    naming how many runs came from which. Only runs with a result count."""
    from rethink_tf import records

    recs = [r for r in recs if r.get("status") in records.DONE]
    groups: dict[str, list[dict[str, Any] | None]] = {}
    mixed = 0
    for r in recs:
        envs = of_record(r)
        if len({key(e) for e in envs}) > 1:
            mixed += 1
        groups.setdefault(key(envs[0]), []).append(envs[0])
    if len(groups) <= 1 and not mixed:
        return ""
    ordered = sorted(groups.values(), key=len, reverse=True)
    names = [label(envs[0]) for envs in ordered]
    for i, envs in enumerate(ordered):  # two environments one label would hide: name what sets them apart
        if names.count(names[i]) > 1 and i:
            names[i] += f" ({'; '.join(differences(ordered[0][0], envs[0]))})"
    parts = [f"{len(envs)} in {name}" for envs, name in zip(ordered, names)]
    if len(groups) > 1:
        text = (
            f"These {len(recs)} runs come from {len(groups)} compute environments, whose numbers can differ "
            f"(docs/determinism.md): {'; '.join(parts)}."
        )
    else:
        text = f"These {len(recs)} runs started in one compute environment ({names[0]})."
    if mixed:
        text += f" {mixed} of them resumed in another ({ALLOW_FLAG}): their numbers are of neither."
    return f"\n{text}\n"
