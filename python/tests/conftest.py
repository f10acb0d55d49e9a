"""Fixtures for the tests of the built `personas` package: persona folders in temporary
directories, the `personactl` binary to compare with, and a fresh PostgreSQL database."""

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

JOURNALING = """\
schema_version = 1
name = "Journaling Assistant"
description = "Helps you reflect on your day."
icon = "📓"
greeting = "Hi {{user_name}}, how was {{date}}?"
system_prompt = "You are {{persona_name}}, a gentle journaling companion for {{user_name}}."

[vars]
user_name = "friend"
"""

COACH = """\
#:schema ../schema/persona.schema.json
name = "Coach"
description = "Helps you pick one next step."
icon = "🧭"
tags = ["goals", "habits"]
order = 2
aliases = ["mentor"]
starters = ["Help me set a goal."]
system_prompt = \"\"\"
You are a coach in {{city}}. Today is {{date}}.\"\"\"

[model]
temperature = 0.6
max_tokens = 1024

[vars]
city = "Lisbon"

[extensions]
ui = { accent = "teal", sizes = [1, 2] }
"""

KIDS = """\
extends = "coach"
name = "Kids' Coach"
hidden = true
system_prompt = \"\"\"{{parent}}
Short sentences only.\"\"\"

[model]
temperature = 0.4
"""


def write_personas(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "journaling-assistant.toml").write_text(JOURNALING, encoding="utf-8")
    (folder / "coach.toml").write_text(COACH, encoding="utf-8")
    sub = folder / "kids"
    sub.mkdir(exist_ok=True)
    (sub / "kids-coach.toml").write_text(KIDS, encoding="utf-8")
    return folder


@pytest.fixture
def personas_dir(tmp_path: Path) -> Path:
    return write_personas(tmp_path / "personas")


def personactl_bin() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = target / "debug" / "personactl"
    assert binary.exists(), f"{binary} is missing: run `cargo build` first"
    return binary


def cli(*args, check_rc=None, cwd=None):
    """Runs the real personactl; returns (returncode, stdout, stderr)."""
    proc = subprocess.run(
        [str(personactl_bin()), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.startswith("PERSONAS_")},
        timeout=120,
    )
    if check_rc is not None:
        assert proc.returncode == check_rc, (proc.returncode, proc.stdout, proc.stderr)
    return proc.returncode, proc.stdout, proc.stderr


def cli_json(*args, check_rc=0):
    _, out, _ = cli(*args, check_rc=check_rc)
    return json.loads(out)


def cli_error(*args):
    """The first line of the CLI's error, without `error: `."""
    rc, _, err = cli(*args)
    assert rc != 0, err
    first = err.splitlines()[0]
    assert first.startswith("error: "), err
    return first[len("error: "):]


@pytest.fixture
def pg_url() -> str:
    """A fresh database on the test server (PERSONACTL_TEST_PG_URL, which scripts/test.sh
    exports): the tests fail, never skip, without one."""
    admin = os.environ.get("PERSONACTL_TEST_PG_URL")
    assert admin, (
        "PERSONACTL_TEST_PG_URL is not set: run scripts/test.d/20-python.sh "
        "(it starts a throwaway PostgreSQL) or scripts/test.sh"
    )
    name = "py_" + uuid.uuid4().hex[:16]
    subprocess.run(
        ["psql", admin, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    base, _, _ = admin.rpartition("/")
    return f"{base}/{name}"
