"""A journal app's chat back end on the `personas` package (FastAPI).

Personas come from a hot-reloading registry (edit a file in git: the next request sees it; a
broken edit keeps the last good version). Chats are sessions linked to a persona in the
sessions index (a file, or PostgreSQL with a postgres:// URL), so a chat keeps its persona
across restarts and replicas. A chat turn sends the session's rendered system prompt to the
model: an offline echo model by default, or any OpenAI-compatible endpoint when
OPENAI_BASE_URL is set (with OPENAI_API_KEY and OPENAI_MODEL).

    pip install ./python fastapi uvicorn httpx
    PERSONAS_DIR=personas uvicorn journal_app:app --app-dir examples/python

Endpoints: GET /api/personas[?all=true], GET|PUT|DELETE /api/personas/{id}, POST
/api/personas (validated writes to the persona files, exactly as `personactl` and its HTTP
API make them: comments kept, invalid content refused with diagnostics), POST /api/chats
{"persona_id", "user_name"}, POST /api/chats/{chat_id}/messages {"content"},
GET /api/chats/{chat_id}, GET /healthz.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx
from fastapi import Body, FastAPI, HTTPException, Response
from fastapi.responses import JSONResponse

import personas


def echo_model(system_prompt: str, messages: List[Dict[str, str]]) -> str:
    """The offline model: says which persona answers and repeats the last message."""
    first_line = system_prompt.strip().splitlines()[0] if system_prompt.strip() else ""
    return f"[{first_line}] You said: {messages[-1]['content']}"


def openai_model(base_url: str, system_prompt: str, messages: List[Dict[str, str]], model: Dict[str, Any]) -> str:
    """One chat completion from an OpenAI-compatible endpoint."""
    body: Dict[str, Any] = {
        "model": os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
        "messages": [{"role": "system", "content": system_prompt}, *messages],
    }
    body.update({k: v for k, v in model.items() if k in ("temperature", "top_p", "max_tokens")})
    headers = {"Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', '')}"}
    reply = httpx.post(f"{base_url.rstrip('/')}/chat/completions", json=body, headers=headers, timeout=60)
    reply.raise_for_status()
    return reply.json()["choices"][0]["message"]["content"]


def invalid(message: str, diagnostics: List[personas.Diagnostic]) -> JSONResponse:
    return JSONResponse(
        status_code=422,
        content={"error": message, "diagnostics": [d.to_dict() for d in diagnostics]},
    )


def create_app(personas_dir: str, sessions: str, *, watch: bool = True) -> FastAPI:
    registry = personas.Registry(personas_dir, watch=watch)
    store = personas.SessionStore(sessions, registry)
    # The app's own state: the messages of each chat (a real app keeps them in its database).
    chats: Dict[str, Dict[str, Any]] = {}
    chats_lock = threading.Lock()
    app = FastAPI(title="journal app")

    @app.exception_handler(personas.ValidationError)
    def _invalid(_request, err: personas.ValidationError):
        return invalid(str(err), err.diagnostics)

    @app.exception_handler(personas.NotFound)
    def _not_found(_request, err: personas.NotFound):
        return JSONResponse(status_code=404, content={"error": str(err)})

    @app.exception_handler(personas.Conflict)
    def _conflict(_request, err: personas.Conflict):
        return JSONResponse(status_code=409, content={"error": str(err)})

    @app.exception_handler(personas.SessionError)
    def _session(_request, err: personas.SessionError):
        return JSONResponse(status_code=400, content={"error": str(err)})

    @app.get("/healthz")
    def healthz():
        status = registry.status()
        return {
            "status": "ok" if status.success else "degraded",
            "generation": status.generation,
            "personas": status.personas,
            "errors": [d.to_dict() for d in status.errors],
        }

    @app.get("/api/personas")
    def list_personas(all: bool = False):
        return [p.to_dict() for p in registry.snapshot().listed(all=all)]

    @app.get("/api/personas/{persona_id}")
    def get_persona(persona_id: str):
        persona = registry.snapshot().get(persona_id)
        if persona is None or persona.id != persona_id:  # an alias is no URL of a persona
            raise HTTPException(404, f"no persona `{persona_id}`")
        return persona.to_dict()

    @app.post("/api/personas", status_code=201)
    def create_persona(response: Response, body: Dict[str, Any] = Body(...)):
        fields = dict(body)
        persona_id = fields.pop("id", None)
        if not isinstance(persona_id, str):
            return invalid("the body needs an `id` (lowercase kebab-case)", [])
        persona = registry.create(persona_id, fields)
        response.headers["Location"] = f"/api/personas/{persona.id}"
        return persona.to_dict()

    @app.put("/api/personas/{persona_id}")
    def replace_persona(persona_id: str, body: Dict[str, Any] = Body(...)):
        fields = dict(body)
        if fields.pop("id", persona_id) != persona_id:
            return invalid(f"the body's `id` differs from the path's `{persona_id}`", [])
        expected = fields.pop("revision", None)
        live = registry.snapshot().get(persona_id)
        if expected is not None and live is not None and expected != live.revision:
            raise HTTPException(409, f"persona `{persona_id}` changed since revision {expected} (now {live.revision})")
        return registry.replace(persona_id, fields).to_dict()

    @app.delete("/api/personas/{persona_id}", status_code=204)
    def delete_persona(persona_id: str):
        registry.delete(persona_id)
        return Response(status_code=204)

    @app.post("/api/chats", status_code=201)
    def create_chat(body: Dict[str, Any] = Body(...)):
        persona_id = body.get("persona_id")
        user_name = body.get("user_name") or "friend"
        if not isinstance(persona_id, str):
            return invalid("the body needs a `persona_id`", [])
        chat_id = uuid.uuid4().hex
        try:
            store.link(chat_id, persona_id)
        except personas.NotFound as err:
            return invalid(str(err), [])
        resolution = store.show(chat_id)
        rendered = resolution.resolved_persona.render({"user_name": user_name})
        with chats_lock:
            chats[chat_id] = {"user_name": user_name, "messages": []}
        return {"chat_id": chat_id, "persona": resolution.to_dict(), "greeting": rendered.greeting}

    @app.get("/api/chats/{chat_id}")
    def get_chat(chat_id: str):
        with chats_lock:
            chat = chats.get(chat_id)
        if chat is None:
            raise HTTPException(404, f"no chat `{chat_id}`")
        return {"chat_id": chat_id, "persona": store.show(chat_id).to_dict(), "messages": chat["messages"]}

    @app.post("/api/chats/{chat_id}/messages")
    def chat_turn(chat_id: str, body: Dict[str, Any] = Body(...)):
        content = body.get("content")
        if not isinstance(content, str) or not content.strip():
            return invalid("the body needs a non-empty `content`", [])
        with chats_lock:
            chat = chats.get(chat_id)
        if chat is None:
            raise HTTPException(404, f"no chat `{chat_id}`")
        # The persona is resolved now: an edit since the chat started is used (and said so).
        resolution = store.show(chat_id)
        persona = resolution.resolved_persona
        system_prompt = persona.render({"user_name": chat["user_name"]}).system_prompt
        history = [*chat["messages"], {"role": "user", "content": content}]
        base_url: Optional[str] = os.environ.get("OPENAI_BASE_URL")
        if base_url:
            reply = openai_model(base_url, system_prompt, history, persona.model)
        else:
            reply = echo_model(system_prompt, history)
        with chats_lock:
            chat["messages"] = [*history, {"role": "assistant", "content": reply}]
        return {
            "reply": reply,
            "persona": persona.id,
            "revision": persona.revision,
            "changed": resolution.changed,
            "fallback": resolution.fallback,
        }

    app.state.registry = registry
    app.state.sessions = store
    return app


def _default_sessions(personas_dir: str) -> str:
    return str(Path(personas_dir).resolve().parent / "sessions.jsonl")


def __getattr__(name: str) -> Any:
    """`journal_app:app` for uvicorn, built on first use from PERSONAS_DIR (default
    `personas`) and PERSONAS_SESSIONS (default `sessions.jsonl` beside the personas folder)."""
    if name != "app":
        raise AttributeError(name)
    folder = os.environ.get("PERSONAS_DIR", "personas")
    built = create_app(folder, os.environ.get("PERSONAS_SESSIONS") or _default_sessions(folder))
    globals()["app"] = built
    return built
