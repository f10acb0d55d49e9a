"""Hot reload seen from Python: events through a subscription, last good versions kept."""

import personas

TIMEOUT = 10  # seconds; a reload normally arrives within the 50 ms debounce


def events_until_reloaded(sub):
    """The events of one reload: the per-file ones, then its `reloaded`."""
    seen = []
    for event in sub:
        seen.append(event)
        if event.kind == "reloaded":
            return seen
    raise AssertionError(f"no reloaded event within {TIMEOUT} s; got {seen}")


def test_an_edit_arrives_as_events_and_a_new_snapshot(personas_dir):
    with personas.Registry(personas_dir, debounce_ms=20) as registry:
        sub = registry.subscribe(timeout=TIMEOUT)
        old = registry.snapshot()
        coach = personas_dir / "coach.toml"
        coach.write_text(
            coach.read_text().replace("Helps you pick one next step.", "Helps you move on.")
        )
        events = events_until_reloaded(sub)
        kinds = [(e.kind, e.id) for e in events]
        # The child inherits the description, so it changes too: one swap, one generation.
        assert kinds == [("updated", "coach"), ("updated", "kids-coach"), ("reloaded", None)]
        generation = events[-1].generation
        assert all(e.generation == generation == 2 for e in events)
        assert events[-1].personas == 3 and events[-1].errors == 0
        assert events[0].to_dict() == {
            "event": "updated",
            "id": "coach",
            "path": str(coach),
            "generation": 2,
        }
        new = registry.snapshot()
        assert new.generation == generation
        assert new.get("coach").description == "Helps you move on."
        assert new.get("kids-coach").description == "Helps you move on."
        assert old.get("coach").description == "Helps you pick one next step."  # untouched


def test_a_broken_edit_keeps_the_last_good_version(personas_dir):
    with personas.Registry(personas_dir, debounce_ms=20) as registry:
        sub = registry.subscribe()
        coach = personas_dir / "coach.toml"
        good = coach.read_text()
        coach.write_text(good.replace("temperature = 0.6", "temperature = 3.5"))
        events = []
        while not events or events[-1].kind != "reloaded":
            event = sub.next_event(timeout=TIMEOUT)
            assert event is not None, f"no event within {TIMEOUT} s; got {events}"
            events.append(event)
        invalid = events[0]
        assert invalid.kind == "invalid" and invalid.id == "coach"
        assert [(d.code, d.line, d.column) for d in invalid.diagnostics] == [("schema.range", 13, 15)]
        assert invalid.diagnostics[0].to_dict() == {
            "path": str(coach),
            "line": 13,
            "column": 15,
            "severity": "error",
            "code": "schema.range",
            "message": "`model.temperature` 3.5 is above the maximum 2",
            "hint": None,
        }
        # The last good version stays live; the status says why.
        assert registry.snapshot().get("coach").model["temperature"] == 0.6
        status = registry.status()
        assert not status.success
        # The child keeps its last good version too, its parent being invalid.
        assert [d.code for d in status.errors] == ["schema.range", "extends.invalid-parent"]
        # Fixing the file brings it back as an update.
        coach.write_text(good.replace("temperature = 0.6", "temperature = 0.7"))
        kinds = [(e.kind, e.id) for e in events_until_reloaded(registry_sub_with_timeout(sub))]
        assert ("updated", "coach") in kinds
        assert registry.snapshot().get("coach").model["temperature"] == 0.7
        assert registry.status().success


def registry_sub_with_timeout(sub):
    """Iterates `sub`, giving up after TIMEOUT seconds without an event."""
    while True:
        event = sub.next_event(timeout=TIMEOUT)
        if event is None:
            return
        yield event


def test_added_and_removed(personas_dir):
    with personas.Registry(personas_dir, debounce_ms=20) as registry:
        sub = registry.subscribe(timeout=TIMEOUT)
        new = personas_dir / "poet.toml"
        new.write_text('name = "Poet"\ndescription = "d"\nicon = "✒"\nsystem_prompt = "Rhyme."\n')
        assert [(e.kind, e.id) for e in events_until_reloaded(sub)] == [
            ("added", "poet"),
            ("reloaded", None),
        ]
        assert registry.snapshot().get("poet").system_prompt == "Rhyme."
        new.unlink()
        assert [(e.kind, e.id) for e in events_until_reloaded(sub)] == [
            ("removed", "poet"),
            ("reloaded", None),
        ]
        assert registry.snapshot().get("poet") is None


def test_no_event_means_none_after_the_timeout(personas_dir):
    registry = personas.Registry(personas_dir, watch=False)
    sub = registry.subscribe(timeout=0.05)
    assert sub.next_event(timeout=0.05) is None
    assert list(sub) == []  # iteration ends when no event comes within the timeout
    registry.reload()
    assert sub.drain() == []  # nothing changed: no reload, no event


def test_reload_without_a_watcher_sends_events(personas_dir):
    registry = personas.Registry(personas_dir, watch=False)
    assert not registry.watching
    sub = registry.subscribe()
    (personas_dir / "coach.toml").unlink()
    assert registry.reload() == 2
    drained = sub.drain()
    assert [(e.kind, e.id) for e in drained] == [("removed", "coach"), ("reloaded", None)]
    assert registry.snapshot().get("coach") is None
    assert registry.snapshot().generation == 2
