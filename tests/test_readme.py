"""The Python examples in README.md run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


OPTIONAL = ("neuralforecast", "darts", "pytorch_forecasting", "sktime")  # the adapters' extras


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code):
    for library in OPTIONAL:
        if f"from {library}" in code or f"import {library}" in code:
            pytest.importorskip(library)
    exec(compile(code, str(README), "exec"), {})
