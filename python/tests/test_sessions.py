"""SessionStore on the file backend and on PostgreSQL, beside `personactl session`."""

import json

import pytest

import personas
from conftest import cli, cli_error


@pytest.fixture(params=["file", "postgres"])
def sessions(request, tmp_path):
    """The sessions location for each backend: a file path, or a fresh database's URL."""
    if request.param == "file":
        return str(tmp_path / "state" / "sessions.jsonl")
    return request.getfixturevalue("pg_url")


def cli_show(personas_dir, sessions, session):
    rc, out, err = cli("--dir", personas_dir, "--sessions", sessions, "session", "show", session, "--format", "json")
    assert rc == 0, err
    return json.loads(out)


def test_link_show_list_unlink(personas_dir, sessions):
    registry = personas.Registry(personas_dir, watch=False)
    store = personas.SessionStore(sessions, registry)
    coach = registry.snapshot().get("coach")
    link = store.link("chat-1", "coach")
    assert (link.session, link.persona, link.revision) == ("chat-1", "coach", coach.revision)
    assert link.linked_at.endswith("Z")
    store.link("chat-2", coach)  # a Persona object
    store.link("chat-3", "mentor")  # an alias links the persona it names
    store.link("chat-0", "journaling-assistant")

    shown = store.show("chat-1")
    assert shown.resolved == "coach" and shown.persona == "coach"
    assert shown.resolved_persona.name == "Coach"
    assert not shown.fallback and not shown.changed and not shown.via_alias
    assert shown.revision == coach.revision == shown.linked_revision
    # The same resolution as the CLI's, key for key.
    for session in ["chat-1", "chat-2", "chat-3", "legacy"]:
        assert store.show(session).to_dict() == cli_show(personas_dir, sessions, session)

    assert [l.session for l in store.list()] == ["chat-0", "chat-1", "chat-2", "chat-3"]
    assert [l.session for l in store.list(persona="coach")] == ["chat-1", "chat-2", "chat-3"]
    rc, out, _ = cli("--dir", personas_dir, "--sessions", sessions, "session", "list", "--format", "json")
    assert rc == 0 and json.loads(out) == [l.to_dict() for l in store.list()]

    assert store.unlink("chat-1") is True
    assert store.unlink("chat-1") is False
    unknown = store.show("chat-1")
    assert unknown.fallback and unknown.resolved == "journaling-assistant" and unknown.persona is None


def test_links_made_by_the_cli_are_seen(personas_dir, sessions):
    registry = personas.Registry(personas_dir, watch=False)
    store = personas.SessionStore(sessions, registry)
    store.list()  # the long-lived handle is open before the CLI writes
    rc, _, err = cli("--dir", personas_dir, "--sessions", sessions, "session", "link", "web-9", "coach")
    assert rc == 0, err
    assert store.show("web-9").resolved == "coach"


def test_resolution_follows_the_registry(personas_dir, sessions):
    registry = personas.Registry(personas_dir, watch=False)
    store = personas.SessionStore(sessions, registry)
    store.link("s", "coach")
    coach = personas_dir / "coach.toml"
    coach.write_text(coach.read_text().replace("temperature = 0.6", "temperature = 0.9"))
    registry.reload()
    changed = store.show("s")
    assert changed.changed and not changed.fallback
    assert changed.resolved_persona.model["temperature"] == 0.9
    # A rename: the old id is now an alias of another persona.
    text = coach.read_text().replace('aliases = ["mentor"]', 'aliases = ["mentor", "old"]')
    coach.unlink()
    (personas_dir / "kids" / "kids-coach.toml").unlink()
    (personas_dir / "new-coach.toml").write_text(text)
    store.link("r", "coach")
    registry.reload()
    gone = store.show("r")
    # `coach` is gone and no persona lists it as an alias: the default persona.
    assert gone.resolved == "journaling-assistant" and gone.fallback and gone.persona == "coach"
    # Once new-coach lists `coach` among its aliases (a rename), the session follows it.
    (personas_dir / "new-coach.toml").write_text(text.replace('"mentor", "old"', '"mentor", "coach"'))
    registry.reload()
    renamed = store.show("r")
    assert renamed.resolved == "new-coach" and renamed.via_alias and not renamed.fallback


def test_refusals_write_nothing_and_say_what_the_cli_says(personas_dir, sessions):
    registry = personas.Registry(personas_dir, watch=False)
    store = personas.SessionStore(sessions, registry)
    with pytest.raises(personas.NotFound) as err:
        store.link("s", "nobody")
    assert str(err.value) == cli_error("--dir", personas_dir, "--sessions", sessions, "session", "link", "s", "nobody")
    with pytest.raises(personas.SessionError) as err:
        store.link("bad\nid", "coach")
    assert str(err.value) == cli_error("--dir", personas_dir, "--sessions", sessions, "session", "link", "bad\nid", "coach")
    assert isinstance(err.value, personas.Error)
    with pytest.raises(personas.SessionError):
        store.show("")
    with pytest.raises(TypeError):
        store.link("s", 42)
    assert store.list() == []


def test_default_missing_is_a_session_error(personas_dir, sessions):
    registry = personas.Registry(personas_dir, watch=False, default_persona="gone")
    store = personas.SessionStore(sessions, registry)
    with pytest.raises(personas.SessionError) as err:
        store.show("legacy")
    assert str(err.value) == "the default persona `gone` does not exist"


def test_not_a_sessions_file(tmp_path, personas_dir):
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_text("hello\n")
    registry = personas.Registry(personas_dir, watch=False)
    with pytest.raises(personas.SessionError) as err:
        personas.SessionStore(bogus, registry)
    assert "not a personactl sessions index" in str(err.value)


def test_unreachable_database_is_an_error_not_a_hang(personas_dir):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    registry = personas.Registry(personas_dir, watch=False)
    with pytest.raises(personas.SessionError) as err:
        personas.SessionStore(f"postgres://u:secret@127.0.0.1:{port}/db?connect_timeout=2", registry)
    assert "secret" not in str(err.value)
    assert f"127.0.0.1:{port}" in str(err.value)
