"""What TensorBoard shows of a run's per-example ledger, under the tag group LEDGER: per class, a strip of the
training examples learned latest and of those forgotten most (bordered red where the label was changed, green
where kept; the tag's description lists each tile's given and true label), and histograms of the first-learned
epoch and the forgetting events of kept and changed labels.

Written into the run's event directory (the run directory, as rethink_tf.summaries writes it) in a file of its
own (FILE_SUFFIX), replaced whole on every call and stepped at the last recorded epoch: writing again gives the
same events. summaries.Writer.restart removes it with the run's other event files.
"""

from __future__ import annotations

import glob
import math
import os
import re
from typing import Sequence

import numpy as np
import tensorflow as tf

from rethink_tf import config as config_lib
from rethink_tf import learning_order, records
from rethink_tf import ledger as ledger_lib
from rethink_tf.errors import BadInput

LEDGER = "7_ledger"  # after rethink_tf.summaries' groups (1_gap ... 6_measures)
FILE_SUFFIX = ".ledger"  # the event file's name ends so: events.out.tfevents.<time>.<host>.<pid>.<n>.ledger
TILES = 8  # examples per strip
MIN_TILE = 56  # pixels: small images (8x8, 28x28) are enlarged by an integer factor to at least this
BORDER, GAP = 3, 2  # pixels around each tile (its label's colour) and between tiles
COLORS = {False: (0.15, 0.7, 0.25), True: (0.9, 0.1, 0.1)}  # label changed? -> border colour
BACKGROUND = 0.2


class LedgerSummaryError(BadInput, ValueError):
    """Images that do not match the ledger's training examples."""


def latest_learned(ex: learning_order.Examples, margin: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The positions, latest learned first: by learned-for-good epoch (never: latest), then first-learned epoch
    (never: latest), then the last epoch's margin (smallest first), then canonical order."""
    late = np.iinfo(np.int32).max

    def epoch(values):
        return np.where(values == learning_order.NEVER, late, values)[positions].astype(np.int64)

    keys = (positions, margin[positions], -epoch(ex.first_learned), -epoch(ex.learned_for_good))
    return positions[np.lexsort(keys)]


def most_forgotten(ex: learning_order.Examples, positions: np.ndarray) -> np.ndarray:
    """The positions forgotten at least once, the most forgetting events first (then canonical order)."""
    forgotten = positions[ex.forgetting_events[positions] > 0]
    return forgotten[np.argsort(-ex.forgetting_events[forgotten], kind="stable")]


def rgb(images: np.ndarray) -> np.ndarray:
    """[k, h, w, c] pixels as RGB in [0, 1]: grey (and grey with alpha) repeated, an alpha channel dropped."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    channels = images.shape[-1]
    return images[..., :3] if channels >= 3 else np.repeat(images[..., :1], 3, axis=-1)


def strip(images: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """One [H, W, 3] image: the images side by side, each enlarged to at least MIN_TILE pixels and framed in
    its label's colour (COLORS)."""
    tiles = rgb(images)
    k, h, w, _ = tiles.shape
    scale = max(1, math.ceil(MIN_TILE / max(h, w)))
    tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    th, tw = h * scale + 2 * BORDER, w * scale + 2 * BORDER
    out = np.full((th, k * tw + (k - 1) * GAP, 3), BACKGROUND, np.float32)
    for i, (tile, ch) in enumerate(zip(tiles, changed)):
        x = i * (tw + GAP)
        out[:, x : x + tw] = COLORS[bool(ch)]
        out[BORDER : th - BORDER, x + BORDER : x + tw - BORDER] = tile
    return out


def class_name(names: Sequence[str] | None, c: int) -> str:
    return str(names[c]) if names is not None and 0 <= c < len(names) else str(c)


def tag_part(name: str) -> str:
    """A class name as part of a tag: no "/" (which would nest it, as in Fashion-MNIST's "T-shirt/top") or spaces."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def caption(what: str, ex: learning_order.Examples, ledger: ledger_lib.Ledger, shown: np.ndarray, names) -> str:
    """The strip's description: what it shows, how to read the borders, and one line per tile (left to right)."""
    part = ledger.train

    def epoch(e):
        return "never" if e == learning_order.NEVER else str(e)

    lines = [
        f"{what} Border: red = label changed (or input corrupted), green = kept. Tiles, left to right:",
        "",
        *(
            f"{n}. #{part.index[i]}: given {class_name(names, part.label[i])}, "
            f"true {class_name(names, part.true_label[i])}{' (changed)' if part.changed[i] else ''}; "
            f"first learned {epoch(ex.first_learned[i])}, for good {epoch(ex.learned_for_good[i])}, "
            f"forgotten {ex.forgetting_events[i]}x"
            for n, i in enumerate(shown, 1)
        ),
    ]
    return "\n".join(lines)


def check_images(ledger: ledger_lib.Ledger, images) -> np.ndarray:
    """The images as float32 in [0, 1] (uint8 scaled); LedgerSummaryError unless one [H, W, C] per training example."""
    images = np.asarray(images)
    n = len(ledger.train.index)
    if images.ndim != 4 or len(images) != n:
        raise LedgerSummaryError(
            f"ledger images have shape {images.shape}; pass one [H, W, C] image per training example of the ledger "
            f"({n}), in its canonical order"
        )
    return images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)


def event_files(run_dir: str) -> list[str]:
    """This module's event files in the run directory."""
    return sorted(glob.glob(os.path.join(run_dir, f"{records.EVENTS}*{FILE_SUFFIX}")))


def write(
    config: config_lib.RunConfig,
    ledger: ledger_lib.Ledger,
    images: np.ndarray,
    class_names: Sequence[str] | None = None,
) -> None:
    """The ledger's TensorBoard tab of the run in config.run_dir (its earlier one replaced), at the step of its
    last recorded epoch; `images` [N, H, W, C] in [0, 1] are its training examples in ledger.train's order.
    A ledger with no epoch writes nothing."""
    images = check_images(ledger, images)
    for path in event_files(config.run_dir):
        os.remove(path)
    if not len(ledger.epochs):
        return
    ex = learning_order.examples(ledger)
    step = int(ledger.epochs[-1])
    margin = ledger.train.margin[-1].astype(np.float32)
    labels = ledger.train.label
    writer = tf.summary.create_file_writer(config.run_dir, filename_suffix=FILE_SUFFIX)
    with writer.as_default():
        for c in np.unique(labels[ex.trained]):
            name = class_name(class_names, int(c))
            positions = np.flatnonzero(ex.trained & (labels == c))
            for kind, shown, what in (
                (
                    "latest_learned",
                    latest_learned(ex, margin, positions)[:TILES],
                    f"Training examples labelled {name} learned last: the latest learned for good (or never), "
                    "then the latest first learned.",
                ),
                (
                    "most_forgotten",
                    most_forgotten(ex, positions)[:TILES],
                    f"Training examples labelled {name} forgotten most often (correct at one epoch, wrong at "
                    "the next); only those forgotten at least once.",
                ),
            ):
                if len(shown):
                    tf.summary.image(
                        f"{LEDGER}/{kind}/{c:02d}_{tag_part(name)}",
                        strip(images[shown], ex.changed[shown])[None],
                        step=step,
                        description=caption(what, ex, ledger, shown, class_names),
                    )
        _histograms(ex, step)
    writer.close()


def _histograms(ex: learning_order.Examples, step: int) -> None:
    """First-learned epochs (never learned drawn at the last epoch + 1) and forgetting events of the trained
    examples' kept and changed labels, and of the held-out examples' where there are any."""
    never = step + 1
    sets = {"": ex.trained, "held_out_": ~ex.trained}
    for prefix, members in sets.items():
        for label, mask in (("kept", ~ex.changed), ("changed", ex.changed)):
            chosen = members & mask
            if not chosen.any():
                continue
            where = "held-out examples" if prefix else "trained examples"
            first = np.where(ex.never_learned[chosen], never, ex.first_learned[chosen])
            tf.summary.histogram(
                f"{LEDGER}/first_learned_epoch/{prefix}{label}",
                first.astype(np.float32),
                step=step,
                buckets=min(never, 60),
                description=f"First epoch at which {where} with a {label} label were predicted as their label; "
                f"those never learned at {never}.",
            )
            if not prefix:
                tf.summary.histogram(
                    f"{LEDGER}/forgetting_events/{label}",
                    ex.forgetting_events[chosen].astype(np.float32),
                    step=step,
                    buckets=int(ex.forgetting_events[chosen].max()) + 1,
                    description=f"Forgetting events per {where[:-1]} with a {label} label (correct at one epoch, "
                    "wrong at the next; Toneva et al. 2019).",
                )
