"""Docs that run: every fenced `sh` block of README.md and docs/*.md works as written.

Each block runs in bash (`set -eo pipefail`, so every command must exit 0) in a fresh temp dir
holding the example plan (`examples/`), `.venv/bin` pointing at this interpreter's tools, and
the local stand-ins the commands expect: `old.yaml` and `new.yaml` (copies of the example plan,
for `plan diff`). Port 8080 is replaced by a free port so parallel runs do not collide (and
`SGTM_SIDECAR_URL` points `sgtm send` at it); servers
a block starts in the background (`&`) are stopped when it ends. Nothing leaves 127.0.0.1.

A block that cannot run here says so on the line before its fence, with the reason:
`<!-- docs-test: illustrative: needs a Google Cloud project -->` (docs/cli.md).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_PLAN, REPO, free_port

MARKER = re.compile(r"^<!-- docs-test: illustrative: (?P<reason>\S.*\S) -->$")
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TOOLS = ("sgtm", "python", "pytest")


@dataclass(frozen=True)
class Block:
    file: str
    line: int  # of the opening fence
    text: str
    illustrative: str  # the reason, or "" when the block is run

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def sh_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = lines[i].strip()
        if not fence.startswith("```"):
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```"))
        if fence == "```sh":
            before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            marker = MARKER.match(before.strip())
            blocks.append(
                Block(
                    str(path.relative_to(REPO)),
                    i + 1,
                    "\n".join(lines[i + 1 : end]) + "\n",
                    marker.group("reason") if marker else "",
                )
            )
        i = end + 1
    return blocks


ALL = [block for path in DOCS for block in sh_blocks(path)]
RUN = [block for block in ALL if not block.illustrative]


def test_the_docs_have_blocks_to_run_and_every_marker_sits_on_an_sh_block():
    assert len(RUN) >= 5
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            if "docs-test:" in line:
                assert MARKER.match(line.strip()), f"{path}:{n + 1}: malformed marker"
                following = next(text for text in lines[n + 1 :] if text.strip())
                assert following.strip() == "```sh", f"{path}:{n + 1}: marker not before ```sh"


def test_the_quick_start_stays_two_commands():
    quick = next(b for b in ALL if b.file == "README.md")
    commands = [line.split("#")[0].strip() for line in quick.text.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def _workdir(tmp: Path) -> dict[str, str]:
    (tmp / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    bin_dir = tmp / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    here = Path(sys.executable).parent
    for tool in TOOLS:
        if (here / tool).exists():
            (bin_dir / tool).symlink_to(here / tool)
    for name in ("old.yaml", "new.yaml"):
        shutil.copyfile(EXAMPLE_PLAN, tmp / name)
    keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return env


@pytest.mark.slow
@pytest.mark.parametrize("block", RUN, ids=lambda b: b.id)
def test_documented_commands_run(block: Block, tmp_path: Path) -> None:
    env = _workdir(tmp_path)
    port = str(free_port())
    env["SGTM_SIDECAR_URL"] = f"http://127.0.0.1:{port}"  # sgtm send's default is :8080
    script = (
        "set -eo pipefail\n"
        # Background servers end with the block; SIGTERM is gunicorn's graceful stop.
        "trap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT\n"
        + re.sub(r"\b8080\b", port, block.text)
    )
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, (
        f"{block.id} exited {result.returncode}\n--- block\n{block.text}"
        f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
    )
