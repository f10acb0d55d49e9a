"""The FastAPI example (examples/python/journal_app.py) through its TestClient."""

import sys

import pytest
from fastapi.testclient import TestClient

from conftest import REPO

sys.path.insert(0, str(REPO / "examples" / "python"))
import journal_app  # noqa: E402


@pytest.fixture
def client(personas_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    app = journal_app.create_app(str(personas_dir), str(tmp_path / "sessions.jsonl"), watch=False)
    with TestClient(app) as c:
        yield c


def test_persona_endpoints(client, personas_dir):
    listed = client.get("/api/personas").json()
    assert [p["id"] for p in listed] == ["coach", "journaling-assistant"]
    assert [p["id"] for p in client.get("/api/personas?all=true").json()][-1] == "kids-coach"
    coach = client.get("/api/personas/coach").json()
    assert coach["name"] == "Coach" and len(coach["revision"]) == 16
    assert client.get("/api/personas/mentor").status_code == 404
    assert client.get("/api/personas/nobody").status_code == 404

    new = {"id": "poet", "name": "Poet", "description": "Writes verse.", "icon": "✒", "system_prompt": "Rhyme."}
    created = client.post("/api/personas", json=new)
    assert created.status_code == 201 and created.headers["location"] == "/api/personas/poet"
    assert (personas_dir / "poet.toml").read_text().startswith("#:schema")
    assert client.post("/api/personas", json=new).status_code == 409

    bad = client.put("/api/personas/poet", json={**new, "model": {"temperature": 3}})
    assert bad.status_code == 422
    assert [d["code"] for d in bad.json()["diagnostics"]] == ["schema.range"]
    assert set(bad.json()["diagnostics"][0]) == {"path", "line", "column", "severity", "code", "message", "hint"}

    stale = client.put("/api/personas/poet", json={**new, "revision": "0000000000000000"})
    assert stale.status_code == 409
    revision = client.get("/api/personas/poet").json()["revision"]
    put = client.put("/api/personas/poet", json={**new, "name": "Bard", "revision": revision})
    assert put.status_code == 200 and put.json()["name"] == "Bard"
    assert 'name = "Bard"' in (personas_dir / "poet.toml").read_text()

    assert client.delete("/api/personas/coach").status_code == 409  # kids-coach extends it
    assert client.delete("/api/personas/poet").status_code == 204
    assert client.delete("/api/personas/poet").status_code == 404
    assert not (personas_dir / "poet.toml").exists()


def test_a_chat_uses_its_sessions_rendered_prompt(client, personas_dir):
    chat = client.post("/api/chats", json={"persona_id": "journaling-assistant", "user_name": "Ana"})
    assert chat.status_code == 201
    body = chat.json()
    assert body["persona"]["resolved"] == "journaling-assistant" and not body["persona"]["fallback"]
    assert body["greeting"].startswith("Hi Ana, how was ")
    turn = client.post(f"/api/chats/{body['chat_id']}/messages", json={"content": "Long day."})
    assert turn.status_code == 200
    assert turn.json()["reply"] == (
        "[You are Journaling Assistant, a gentle journaling companion for Ana.] You said: Long day."
    )
    history = client.get(f"/api/chats/{body['chat_id']}").json()["messages"]
    assert [m["role"] for m in history] == ["user", "assistant"]

    # The persona is edited on disk; the next turn uses the new prompt and says it changed.
    journal = personas_dir / "journaling-assistant.toml"
    journal.write_text(journal.read_text().replace("a gentle journaling", "a brisk journaling"))
    client.app.state.registry.reload()
    turn = client.post(f"/api/chats/{body['chat_id']}/messages", json={"content": "Hi"}).json()
    assert "a brisk journaling companion for Ana" in turn["reply"] and turn["changed"]

    assert client.post("/api/chats", json={"persona_id": "nobody"}).status_code == 422
    alias = client.post("/api/chats", json={"persona_id": "mentor"}).json()
    assert alias["persona"]["resolved"] == "coach"
    assert client.post("/api/chats/nope/messages", json={"content": "x"}).status_code == 404


def test_healthz_degrades_on_a_broken_file(client, personas_dir):
    assert client.get("/healthz").json()["status"] == "ok"
    (personas_dir / "broken.toml").write_text("name = \n")
    client.app.state.registry.reload()
    health = client.get("/healthz").json()
    assert health["status"] == "degraded" and health["errors"][0]["code"] == "toml.syntax"


def test_the_readme_example_runs(personas_dir):
    import subprocess

    script = REPO / "examples" / "python" / "quickstart.py"
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=personas_dir.parent, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Coach ") and "You are a coach in Lisbon" in lines[0]
    assert lines[1] == "journaling-assistant"
    assert (personas_dir.parent / "sessions.jsonl").exists()


def test_the_readme_shows_the_quickstart_verbatim():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Python\n", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert block == (REPO / "examples" / "python" / "quickstart.py").read_text(encoding="utf-8")
    assert len(block.splitlines()) <= 10
