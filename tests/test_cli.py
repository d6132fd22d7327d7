"""`python -m captum_ts demo` writes a report with every section and its figures."""

import re
import subprocess
import sys

import pytest

from captum_ts._demo import SECTIONS


@pytest.mark.slow
def test_demo_writes_report_and_figures(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "captum_ts", "demo", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    report = (out / "report.md").read_text()
    assert report.count("\n## ") == len(SECTIONS)
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", report)
    assert figures and all((out / f).stat().st_size > 1000 for f in figures)


def _run_cli(argv, capsys):
    """``python -m captum_ts ARGV`` in this process: (exit code, stdout, stderr)."""
    from captum_ts.cli import main

    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_requires_a_command(capsys):
    code, _, err = _run_cli([], capsys)
    assert code == 2 and "COMMAND" in err


def test_help_and_version_are_clean_text(capsys):
    from captum_ts import __version__

    code, helped, _ = _run_cli(["--help"], capsys)
    assert code == 0 and "``" not in helped
    assert "demo" in helped and "--version" in helped
    _, demo, _ = _run_cli(["demo", "--help"], capsys)
    assert "--quick" in demo and "--seed" in demo
    _, version, _ = _run_cli(["--version"], capsys)
    assert version.strip() == f"captum-ts {__version__}"
