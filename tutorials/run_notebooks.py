"""Execute the tutorial notebooks top to bottom.

    python tutorials/run_notebooks.py            # execute every notebook, save outputs in place
    python tutorials/run_notebooks.py NAME.ipynb # just one

The test-suite calls ``execute`` without saving, so a tutorial that stops running fails CI.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def execute(path: Path, save: bool = False, timeout: int = 600) -> nbformat.NotebookNode:
    """Run every cell of ``path`` in a fresh kernel started in the tutorials folder
    (one torch thread unless ``OMP_NUM_THREADS`` says otherwise: the models are small)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    if save:
        nbformat.write(nb, path)
    return nb


def main(names: list[str]) -> None:
    paths = [HERE / n for n in names] if names else sorted(HERE.glob("*.ipynb"))
    for path in paths:
        start = time.perf_counter()
        execute(path, save=True)
        print(f"{path.name}: executed and saved in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
