"""The Python examples in docs/migrating_from_captum.md run as written, in order, in one namespace."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "migrating_from_captum.md"


def test_migration_guide_examples_run_in_order():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 7
    namespace: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{DOC.name}[block {i}]", "exec"), namespace)
