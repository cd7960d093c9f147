"""Run the real CLI in-process and capture what a user would see."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from horizonscan.cli import app


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(*args: str) -> Run:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


def batch_args(tmp_path: Path, llm: str = "openai:gpt-4o-mini", *, json_out: bool = True) -> list[str]:
    """The provider, database and pages folder most tests run with."""
    args = ["--llm", llm, "--db", str(tmp_path / "hs.db"), "--out", str(tmp_path / "pages")]
    return [*args, "--json"] if json_out else args
