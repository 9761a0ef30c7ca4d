"""scripts/setup chooses the interpreter of .venv: SELFMOD_PYTHON, else Debian's, else PATH's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SETUP = Path(__file__).resolve().parents[1] / "scripts" / "setup"


def pick_python(**env: str) -> subprocess.CompletedProcess[str]:
    """Source scripts/setup (which then runs nothing) and call its pick_python."""
    environment = {k: v for k, v in os.environ.items() if k != "SELFMOD_PYTHON"} | env
    return subprocess.run(["bash", "-c", f'source "{SETUP}" && pick_python'],
                          capture_output=True, text=True, env=environment, check=False,
                          timeout=60)


def test_selfmod_python_is_taken_when_usable() -> None:
    done = pick_python(SELFMOD_PYTHON=sys.executable)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == sys.executable


def test_a_selfmod_python_that_is_not_one_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    for candidate in (str(fake), str(tmp_path / "missing")):
        done = pick_python(SELFMOD_PYTHON=candidate)
        assert done.returncode == 1
        assert done.stdout == ""
        assert f"SELFMOD_PYTHON={candidate} is not a Python 3.11 or newer" in done.stderr


def test_the_default_prefers_debians_python3() -> None:
    done = pick_python()
    assert done.returncode == 0, done.stderr
    chosen = done.stdout.strip()
    version = subprocess.run([chosen, "-c", "import sys; print(sys.version_info >= (3, 11))"],
                             capture_output=True, text=True, check=True, timeout=60)
    assert version.stdout.strip() == "True"
    debian = Path("/usr/bin/python3")
    if debian.exists() and subprocess.run(
            [debian, "-c", "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))"],
            capture_output=True, check=False, timeout=60).returncode == 0:
        assert chosen == str(debian)


def test_sourcing_runs_nothing() -> None:
    done = subprocess.run(["bash", "-c", f'source "{SETUP}" && echo sourced'],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "sourced\n"
    assert "setup:" not in done.stderr
