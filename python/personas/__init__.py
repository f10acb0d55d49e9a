"""personactl's persona registry in a Python process.

Personas are TOML files in git. ``Registry(dir)`` loads and validates them, watches the
directory, and hands out immutable snapshots (``Snapshot``): take one per request and look
personas up by id or alias. A broken edit keeps the last good version live (``status()``
and an "invalid" event say why). ``SessionStore`` links chat sessions to personas in a file or PostgreSQL;
``validate()`` is ``personactl validate``.

    import personas
    registry = personas.Registry("personas")          # hot reload until close()
    persona = registry.snapshot().find_or_default("coach")
    prompt = persona.render({"user_name": "Ana"}).system_prompt

Every class is implemented in Rust (``personas._personas``); see ``help(personas.Registry)``.
"""

from ._personas import (
    DEFAULT_PERSONA_ID,
    Conflict,
    Diagnostic,
    Error,
    Event,
    Link,
    NotFound,
    Persona,
    Registry,
    RenderError,
    Rendered,
    Report,
    Resolution,
    SessionError,
    SessionStore,
    Snapshot,
    Status,
    Subscription,
    ValidationError,
    __version__,
    validate,
)

__all__ = [
    "DEFAULT_PERSONA_ID",
    "Conflict",
    "Diagnostic",
    "Error",
    "Event",
    "Link",
    "NotFound",
    "Persona",
    "Registry",
    "RenderError",
    "Rendered",
    "Report",
    "Resolution",
    "SessionError",
    "SessionStore",
    "Snapshot",
    "Status",
    "Subscription",
    "ValidationError",
    "__version__",
    "validate",
]
