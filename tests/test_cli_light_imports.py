"""`sgtm --help` imports every command module; none of them may pull in a heavy dependency at
import time (they cost ~0.3 s together, for a help text). Checked by what is imported, never
by timing (bench/ measures)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = (
    "flask",
    "werkzeug",
    "jinja2",
    "ruamel",
    "httplib2",
    "googleapiclient",
    "jsonschema",
    "jsonschema_rs",
    "esprima",
    "quickjs",
    "phonenumbers",
    "importlib.metadata",
)

PROBE = f"""
import contextlib, io, json, sys
from sgtm.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(["--help"])
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""


def test_sgtm_help_imports_no_heavy_dependency():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
