"""Screenshots of what a reviewer sees in TensorBoard over a results directory: the Time Series and HParams pages
(--pages=images adds the Images page: the ledger's strips per class).

    python tools/tensorboard_screenshots.py --logdir=results/laptop --out=docs/figures

starts TensorBoard on 127.0.0.1 (a free port), waits until it has read the runs, checks that the HParams table has
one row per run whose final numbers are its record.json's (printing any difference), takes each page with headless
Chromium (Debian's `chromium`: apt-get install chromium) and writes tensorboard-timeseries.png and
tensorboard-hparams.png (and tensorboard-images.png) into --out; TensorBoard is stopped on the way out. Nothing is
sent beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Iterator

from absl import app, flags

FLAGS = flags.FLAGS

# The page's name in the file -> the TensorBoard URL that opens it; forceSVG draws the line charts as SVG, which
# headless Chromium renders (its WebGL charts, drawn in a worker, stay blank in a screenshot).
# The Images page shows the ledger's per-class strips (7_ledger) of runs that have one.
PAGES = {"timeseries": "?forceSVG=true#timeseries", "hparams": "#hparams", "images": "#images"}


class ToolError(Exception):
    """A missing program or a TensorBoard that did not start; the message says what to do."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_runs(url: str, process: subprocess.Popen, timeout_s: float = 120.0) -> list[str]:
    """The run names TensorBoard lists, once it lists any (it reads the logdir in the background)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ToolError(f"TensorBoard exited with status {process.returncode} (its output is above)")
        try:
            with urllib.request.urlopen(url + "/data/runs", timeout=5) as response:
                runs = json.load(response)
            if runs:
                return runs
        except OSError:
            pass
        time.sleep(1.0)
    raise ToolError(f"TensorBoard listed no runs in {timeout_s:.0f} s: does --logdir hold run directories?")


def hparams_rows(url: str) -> list[dict]:
    """The HParams table's rows as TensorBoard's hparams plugin serves them (one session group per run)."""
    request = {
        "experimentName": "",
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "startIndex": 0,
        "sliceSize": 100000,
        "includeMetrics": True,
    }
    post = urllib.request.Request(
        url + "/data/plugin/hparams/session_groups",
        data=json.dumps(request).encode(),
        headers={"Content-Type": "application/json", "X-TensorBoard-Feature-Flags": "{}"},
    )
    with urllib.request.urlopen(post, timeout=60) as response:
        return json.load(response).get("sessionGroups", [])


def check_against_records(rows: list[dict], logdir: str) -> list[str]:
    """What in the HParams rows differs from the runs' record.json: a missing or extra row, a final number or a
    generalization measure (those to float32's precision: TensorBoard keeps scalars as float32)."""
    from rethink_tf import records, summaries  # TensorFlow, loaded only when needed

    problems, seen = [], set()
    tag_to_key = {tag: key for key, (tag, _) in {**summaries.FINAL_METRICS, **summaries.MEASURE_METRICS}.items()}
    for row in rows:
        for session in row["sessions"]:
            seen.add(session["name"])
            record = records.read_record(os.path.join(logdir, session["name"]))
            want = summaries.final_values(record) if record else {}
            want = {k: v for k, v in want.items() if summaries.FINAL_METRICS[k][1]}
            want.update(((record or {}).get("measures") or {}).get("values") or {})
            # float(): the plugin serves an infinite value as the string "Infinity" (JSON has no inf)
            shown = {tag_to_key.get(v["name"]["tag"]): float(v["value"]) for v in session.get("metricValues", [])}
            for key, value in want.items():
                if key not in shown or not math.isclose(shown[key], value, rel_tol=1e-6, abs_tol=1e-6):
                    problems.append(f"{session['name']}: {key} is {shown.get(key)} in HParams, {value} in its record")
    runs = {
        os.path.relpath(os.path.dirname(path), logdir)
        for path in glob.glob(os.path.join(logdir, "**", records.RECORD), recursive=True)
        if glob.glob(os.path.join(os.path.dirname(path), records.EVENTS + "*"))
    }
    problems += [f"{name}: a run with events but no HParams row" for name in sorted(runs - seen)]
    if len(rows) != len(seen):
        problems.append(f"{len(rows)} HParams rows for {len(seen)} runs: rows should be one run each")
    return problems


@contextlib.contextmanager
def serve(logdir: str) -> Iterator[tuple[str, list[str]]]:
    """TensorBoard over logdir on 127.0.0.1 and a free port: (its URL, the runs it lists), stopped on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile(mode="w+") as log:  # TensorBoard's own lines, shown if it fails
        process = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", f"--logdir={logdir}", "--host=127.0.0.1", f"--port={port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                runs = wait_for_runs(url, process)
            except ToolError:
                log.seek(0)
                sys.stderr.write(log.read())
                raise
            yield url, runs
        finally:
            process.terminate()
            process.wait(timeout=30)


def screenshot(chromium: str, url: str, path: str, width: int, height: int, wait_ms: int) -> None:
    with tempfile.TemporaryDirectory() as profile:  # a fresh profile: no state from an earlier session
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--virtual-time-budget={wait_ms}",
                f"--screenshot={os.path.abspath(path)}",
                url,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=300,
        )


def fail(message: str) -> None:
    """Bad input or a missing program: one line, exit status 2."""
    print(f"tensorboard_screenshots.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str]) -> None:
    del argv
    chromium = shutil.which(FLAGS.chromium)
    if chromium is None:
        fail(f"{FLAGS.chromium} not found; install Debian's chromium (apt-get install chromium) or pass --chromium")
    if not os.path.isdir(FLAGS.logdir):
        fail(f"--logdir={FLAGS.logdir} is not a directory; pass a results directory with finished runs")
    os.makedirs(FLAGS.out, exist_ok=True)
    try:
        with serve(FLAGS.logdir) as (url, runs):
            print(f"TensorBoard at {url} lists {len(runs)} runs", flush=True)
            rows = hparams_rows(url)
            problems = check_against_records(rows, FLAGS.logdir)
            for problem in problems:
                print(f"HParams: {problem}", flush=True)
            print(f"HParams: {len(rows)} rows; {len(problems) or 'no'} differences from the runs' record.json")
            for name in FLAGS.pages:
                page = PAGES[name]
                path = os.path.join(FLAGS.out, f"tensorboard-{name}.png")
                screenshot(chromium, url + "/" + page, path, FLAGS.width, FLAGS.height, FLAGS.wait_ms)
                print(f"wrote {path}", flush=True)
    except ToolError as e:
        fail(str(e))
    if problems:
        sys.exit(1)


def define_flags() -> None:
    """The script's flags (defined only when it runs, so that tests can import its functions beside other tools)."""
    flags.DEFINE_string("logdir", "results/laptop", "The results directory TensorBoard reads.")
    flags.DEFINE_string("out", "docs/figures", "Where the PNG files are written (created if missing).")
    flags.DEFINE_string("chromium", "chromium", "The Chromium executable.")
    flags.DEFINE_multi_enum("pages", ["timeseries", "hparams"], list(PAGES), "The pages to take (repeat the flag).")
    flags.DEFINE_integer("width", 2000, "Window width in pixels.")
    flags.DEFINE_integer("height", 1200, "Window height in pixels.")
    flags.DEFINE_integer("wait_ms", 20000, "Virtual time Chromium lets each page load and draw, in milliseconds.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
