"""The admin API against its OpenAPI description (docs/admin-api.yaml),
with Schemathesis: generated requests, valid and not, must get the statuses,
content types and bodies the description gives, and never a server error.
Bounded to about 40 seconds.

Left out of Schemathesis's checks: `ignored_auth` and
`missing_required_header` send wrong tokens, and ten of them lock the
address out (429) for everything after; test_admin.py tests the token and
the lockout. `ensure_resource_availability` counts a ban lifted twice in a
scenario as a ban that was never made."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from admin_support import TOKEN, start_admin

DESCRIPTION = Path(__file__).resolve().parents[2] / "docs" / "admin-api.yaml"
EXCLUDED = "ignored_auth,missing_required_header,ensure_resource_availability"


def schemathesis_command() -> list[str]:
    found = shutil.which("schemathesis") or shutil.which("st")
    if found:
        return [found]
    try:
        import schemathesis.cli  # noqa: F401
    except ImportError:
        pytest.fail("schemathesis is needed: pip install -r tests/interop/requirements.txt",
                    pytrace=False)
    return [sys.executable, "-c", "import schemathesis.cli; schemathesis.cli.schemathesis()"]


@pytest.mark.timeout(120)
def test_the_api_keeps_to_its_description(start_server, layout):
    admin = start_admin(start_server, layout)
    proc = subprocess.run(
        [*schemathesis_command(), "run", str(DESCRIPTION), "--url", admin.url,
         "-H", f"Authorization: Bearer {TOKEN}", "--checks", "all", "--exclude-checks", EXCLUDED,
         "--max-time", "40", "--workers", "1", "--seed", "1", "--no-color"],
        capture_output=True, text=True, timeout=100, stdin=subprocess.DEVNULL)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert "passed" in output and "8/8" in output, output[-3000:]
    assert admin.server.alive()
    assert "panicked" not in admin.server.log
