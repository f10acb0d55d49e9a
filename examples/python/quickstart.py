import personas

registry = personas.Registry("personas")             # loads, validates, hot-reloads
sessions = personas.SessionStore("sessions.jsonl", registry)

sessions.link("chat-42", "coach")                     # a chat starts with a persona
persona = sessions.show("chat-42").resolved_persona   # resolved now: edits show up live
prompt = persona.render({"user_name": "Ana"}).system_prompt
print(persona.name, persona.revision, prompt[:60])
print(registry.snapshot().find_or_default("no-such-id").id)  # the default persona
