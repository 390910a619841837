"""The quickstart, copied from docs/quickstart.md and run as a newcomer would: `make dev`'s
server, the shell lines of step 2, then the script saved as first_otp.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.server.cli.test_commands import DevProcess

ROOT = Path(__file__).parents[2]
QUICKSTART = (ROOT / "docs" / "quickstart.md").read_text()


def _block(after: str, language: str) -> str:
    """The first fenced block of `language` after the heading or sentence `after`."""
    start = QUICKSTART.index(after)
    found = re.search(rf"```{language}\n(.*?)```", QUICKSTART[start:], flags=re.S)
    assert found, (after, language)
    return found.group(1)


def test_the_quickstart_works_by_copy_paste(tmp_path: Path) -> None:
    shell = _block("## 2. Receive a code", "bash")
    script = _block("Save this as `first_otp.py`", "python")
    assert "source .venv/bin/activate" in shell
    (tmp_path / ".dispatch").mkdir()
    dev = DevProcess(tmp_path / ".dispatch")
    try:
        # The page's ports are the defaults; this run's server has its own free ones.
        shell = shell.replace("http://127.0.0.1:8000", dev.base_url)
        shell = shell.replace("DISPATCH_SMTP_PORT=2525", f"DISPATCH_SMTP_PORT={dev.smtp_port}")
        (tmp_path / "first_otp.py").write_text(script)
        (tmp_path / ".venv").symlink_to(sys.prefix)  # the virtualenv `make` made
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
        result = subprocess.run(
            ["bash", "-c", f"set -e\n{shell}\npython first_otp.py"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        dev.stop()
    assert result.returncode == 0, result.stderr
    address, code = result.stdout.split()
    assert address.endswith("@dispatch.localhost") and code == "482913"
