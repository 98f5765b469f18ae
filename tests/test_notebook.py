"""examples/randomization_test.ipynb runs from top to bottom (nbclient, a fresh kernel) in a temporary results
dir: both runs trained, the random labels fit but not generalizing, the curves drawn, the table of both runs shown,
TensorBoard shown inline and stopped by the notebook's last cell."""

import os
import signal
import sys
import time

import pytest
from conftest import REPO, needs_data

import rethink_tf

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytestmark = needs_data

NOTEBOOK = os.path.join(REPO, "examples", "randomization_test.ipynb")


def tensorboards(logdir):
    from tensorboard import manager

    return [info for info in manager.get_all() if info.logdir == logdir]


def stop(logdir):
    """Stops the TensorBoards serving logdir; returns them."""
    running = tensorboards(logdir)
    for info in running:
        try:
            os.kill(info.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    return running


def outputs(cell, kind):
    """The text of the cell's outputs of MIME type `kind` (stream output for "stream")."""
    out = []
    for output in cell.get("outputs", []):
        if kind == "stream" and output["output_type"] == "stream":
            out.append(output["text"])
        elif kind in output.get("data", {}):
            out.append(output["data"][kind])
    return out


def test_the_example_notebook_runs_a_randomization_test(tmp_path, monkeypatch):
    results = str(tmp_path / "results")
    monkeypatch.setenv("RETHINK_TF_RESULTS", results)  # the kernel inherits it
    # %tensorboard runs the `tensorboard` program, which a Jupyter started from the venv finds on its PATH
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")  # stored clean
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    started = time.perf_counter()
    try:
        client.execute()  # raises CellExecutionError naming the cell that failed
    except BaseException:
        stop(results)  # the last cell's job, not reached
        raise
    print(f"notebook ran in {time.perf_counter() - started:.0f} s")

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    printed = "".join(outputs(code[1], "stream"))
    assert "true_labels: train" in printed and "random_labels: train" in printed
    assert outputs(code[2], "image/png")  # the curves
    table = "".join(outputs(code[3], "text/plain"))
    assert "true_labels" in table and "random_labels" in table
    assert any("iframe" in html or "tensorboard" in html.lower() for html in outputs(code[4], "text/html"))

    runs = {record["config"]["corruption"]: record for record in rethink_tf.load(results)}
    assert set(runs) == {"true_labels", "random_labels"}
    random = runs["random_labels"]["final"]
    assert random["train_accuracy"] > random["test_accuracy"] + 0.5  # memorized, not learned
    assert runs["true_labels"]["final"]["test_accuracy"] > random["test_accuracy"]
    deadline = time.time() + 10  # SIGTERM'd, TensorBoard removes its info file as it exits
    while tensorboards(results) and time.time() < deadline:
        time.sleep(0.5)
    assert not stop(results), "the notebook left its TensorBoard running"
