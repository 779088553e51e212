"""Every notebook in docs/notebooks runs from top to bottom without error and
asserts its key values inside itself (the INT8 row exists and is a
Throughput in TOPS, the refusal is for the stated reason), so the docs never
rot and never print a wrong answer that passes."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "docs" / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_asserts_what_it_teaches(path):
    # running is not enough: a cell that prints the wrong thing still runs
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert code.count("assert ") >= 2, f"{path.name} checks none of its values"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs, "the notebook printed nothing"
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    shown = text + "".join(
        str(o.get("data", {}).get(kind, ""))
        for o in outputs
        for kind in ("text/plain", "text/html")
    )
    # a missing value printed as if it were an answer (the old notebook 01
    # printed "refused: unsupported operand type(s) for /: 'NoneType' ...")
    assert "NoneType" not in shown, shown
    for bad in ("Traceback", "Error:", "<Figure size", "ipywidgets"):
        assert bad not in shown, (bad, shown)
    # every lesson draws its picture, shown without %matplotlib inline
    assert any("image/png" in o.get("data", {}) for o in outputs), path.name
    if path.name.startswith("01"):
        # the lesson itself: an INT8 row in TOPS beside an FP32 row in TFLOPS
        assert "INT8 GOPS" in shown or "INT8 TOPS" in shown, shown
        assert "FP32 GFLOPS" in shown or "FP32 TFLOPS" in shown
        assert "count different operations" in text
