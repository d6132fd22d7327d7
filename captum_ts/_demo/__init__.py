"""``python -m captum_ts demo``: one section per method or metric, in this order.

A section is a module with a ``TITLE`` and ``run(ctx: DemoContext) -> str`` that
saves its figures through ``ctx.save`` and returns a markdown fragment.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from .context import DemoContext

SECTIONS = (
    "guided_absolute_grad",
    "metrics",
    "learned_perturbation_mask",
    "horizon_activation_map",
    "sequence_dreaming",
)


def run_demo(out: Path, seed: int = 0, quick: bool = False, sections: tuple[str, ...] = SECTIONS) -> Path:
    """Run every section, write ``<out>/report.md`` and return its path."""
    ctx = DemoContext(Path(out), seed=seed, quick=quick)
    ctx.out.mkdir(parents=True, exist_ok=True)
    parts = ["# captum-ts demo\n", f"Built-in data, seed {seed}{' (quick mode)' if quick else ''}.\n"]
    for name in sections:
        module = importlib.import_module(f"{__name__}.{name}")
        start = time.perf_counter()
        body = module.run(ctx)
        parts.append(f"## {module.TITLE}\n\n{body}\n_{time.perf_counter() - start:.1f} s_\n")
        print(f"[demo] {module.TITLE}: done in {time.perf_counter() - start:.1f} s")
    report = ctx.out / "report.md"
    report.write_text("\n".join(parts))
    return report
