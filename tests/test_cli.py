"""`python -m captum_ts demo` writes a report with every section and its figures."""

import re
import subprocess
import sys

from captum_ts._demo import SECTIONS


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


def test_cli_requires_a_command():
    proc = subprocess.run([sys.executable, "-m", "captum_ts"], capture_output=True, text=True)
    assert proc.returncode == 2 and "COMMAND" in proc.stderr


def test_help_and_version_are_clean_text():
    from captum_ts import __version__

    helped = subprocess.run([sys.executable, "-m", "captum_ts", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "``" not in helped.stdout
    assert "demo" in helped.stdout and "--version" in helped.stdout
    demo = subprocess.run(
        [sys.executable, "-m", "captum_ts", "demo", "--help"], capture_output=True, text=True
    )
    assert "--quick" in demo.stdout and "--seed" in demo.stdout
    version = subprocess.run([sys.executable, "-m", "captum_ts", "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == f"captum-ts {__version__}"
