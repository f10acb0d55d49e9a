"""Registry load, lookups by id and alias, the default persona, iteration order, fields."""

import sys
import threading
import time

import pytest

import personas
from conftest import cli_error, cli_json


def test_load_lookup_by_id_and_alias(personas_dir):
    registry = personas.Registry(personas_dir, watch=False)
    snap = registry.snapshot()
    assert snap.generation == 1
    assert len(snap) == 3
    coach = snap.get("coach")
    assert coach is not None and coach.id == "coach" and coach.name == "Coach"
    # An alias gives the same persona, and the very same object.
    assert snap.get("mentor") is coach
    assert snap.get("coach") is coach
    assert snap.get("nobody") is None
    assert "mentor" in snap and "coach" in snap and "nobody" not in snap and 3 not in snap
    with pytest.raises(TypeError):
        snap.get(42)


def test_iteration_is_in_id_order_and_includes_hidden(personas_dir):
    snap = personas.Registry(personas_dir, watch=False).snapshot()
    assert [p.id for p in snap] == ["coach", "journaling-assistant", "kids-coach"]
    assert snap.ids() == ["coach", "journaling-assistant", "kids-coach"]
    # The picker order: `order` first, then id; hidden only with all=True.
    assert [p.id for p in snap.listed()] == ["coach", "journaling-assistant"]
    assert [p.id for p in snap.listed(all=True)] == ["coach", "journaling-assistant", "kids-coach"]


def test_default_fallback(personas_dir):
    registry = personas.Registry(personas_dir, watch=False)
    snap = registry.snapshot()
    assert snap.default_id == "journaling-assistant"
    assert snap.find_or_default("nobody").id == "journaling-assistant"
    assert snap.find_or_default("mentor").id == "coach"
    other = personas.Registry(personas_dir, watch=False, default_persona="coach")
    assert other.snapshot().find_or_default("nobody").id == "coach"
    missing = personas.Registry(personas_dir, watch=False, default_persona="gone")
    assert missing.snapshot().find_or_default("nobody") is None
    assert missing.snapshot().default_persona() is None


def test_every_field_and_inheritance(personas_dir):
    snap = personas.Registry(personas_dir, watch=False).snapshot()
    coach = snap.get("coach")
    assert coach.description == "Helps you pick one next step."
    assert coach.icon == "🧭"
    assert coach.tags == ["goals", "habits"]
    assert coach.order == 2
    assert coach.aliases == ["mentor"]
    assert coach.starters == ["Help me set a goal."]
    assert coach.hidden is False
    assert coach.greeting is None
    assert coach.schema_version == 1  # the crate fills in the current version
    assert coach.model == {"temperature": 0.6, "max_tokens": 1024}
    assert coach.tokens["tokenizer"] == "o200k_base" and coach.tokens["system_prompt"] > 0
    assert coach.vars == {"city": "Lisbon"}
    assert coach.extensions == {"ui": {"accent": "teal", "sizes": [1, 2]}}
    assert coach.path.endswith("coach.toml")
    assert len(coach.revision) == 16
    kids = snap.get("kids-coach")
    assert kids.hidden is True
    assert kids.description == coach.description  # inherited
    assert kids.model == {"temperature": 0.4, "max_tokens": 1024}  # merged key by key
    assert kids.system_prompt.startswith("You are a coach in {{city}}. Today is {{date}}.\nShort")
    assert kids.aliases == []  # never inherited


def test_to_dict_is_what_the_cli_shows(personas_dir):
    snap = personas.Registry(personas_dir, watch=False).snapshot()
    for persona in snap:
        shown = cli_json("--dir", personas_dir, "show", persona.id, "--format", "json")
        mine = persona.to_dict()
        assert mine.pop("revision") == persona.revision
        assert mine == shown


def test_a_snapshot_is_immutable_while_the_registry_moves_on(personas_dir):
    registry = personas.Registry(personas_dir, watch=False)
    before = registry.snapshot()
    assert registry.snapshot() is before  # same generation, same object
    (personas_dir / "coach.toml").write_text(
        (personas_dir / "coach.toml").read_text().replace('name = "Coach"', 'name = "Mentor"')
    )
    assert registry.reload() == 2
    after = registry.snapshot()
    assert after.generation == 2 and after.get("coach").name == "Mentor"
    assert before.generation == 1 and before.get("coach").name == "Coach"
    assert registry.reload() == 2  # nothing changed: no new generation


def test_status_reports_invalid_files(personas_dir):
    (personas_dir / "broken.toml").write_text('name = "x"\n')
    registry = personas.Registry(personas_dir, watch=False)
    status = registry.status()
    assert status.success is False
    assert status.personas == 3 and status.files == 4 and status.generation == 1
    assert {d.code for d in status.errors} == {"schema.required"}
    assert all(d.path.endswith("broken.toml") for d in status.errors)
    assert status.watch_error is None
    assert status.last_reload > 0


def test_missing_directory_raises_not_found_with_the_cli_message(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(personas.NotFound) as err:
        personas.Registry(missing)
    assert str(err.value) == cli_error("--dir", missing, "list")
    assert isinstance(err.value, personas.Error)


def test_loading_releases_the_interpreter_lock(personas_dir):
    # With a 10 s switch interval, the main thread keeps the interpreter lock until it lets go
    # of it itself: the ticker can only run while Registry() has released it.
    for i in range(300):
        (personas_dir / f"p{i}.toml").write_text(
            f'name = "P{i}"\ndescription = "d"\nicon = "i"\nsystem_prompt = "{"x" * 2000}"\n'
        )
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(1)
            time.sleep(0)  # lets go of the lock, so the main thread can take it back

    interval = sys.getswitchinterval()
    t = threading.Thread(target=ticker)
    t.start()
    sys.setswitchinterval(10)
    try:
        during = []
        for _ in range(5):
            before = len(ticks)
            personas.Registry(personas_dir, watch=False)
            during.append(len(ticks) - before)
        assert sum(during) > 0, during
    finally:
        sys.setswitchinterval(interval)
        done.set()
        t.join()


def test_context_manager_stops_the_watcher(personas_dir):
    with personas.Registry(personas_dir) as registry:
        assert registry.watching
    assert not registry.watching
    assert len(registry.snapshot()) == 3


def test_help_shows_docstrings():
    assert "hot reload" in personas.Registry.__doc__
    assert "alias" in personas.Snapshot.get.__doc__
    assert personas.Persona.render.__doc__
    assert personas.validate.__doc__
    assert personas.__doc__
