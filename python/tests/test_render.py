"""Rendering with variables and a fixed date, beside `personactl render`."""

import datetime

import pytest

import personas
from conftest import cli


def test_render_with_vars_and_a_fixed_date(personas_dir):
    snap = personas.Registry(personas_dir, watch=False).snapshot()
    journal = snap.get("journaling-assistant")
    out = journal.render({"user_name": "Ana"}, date=datetime.date(2025, 6, 1))
    assert out.system_prompt == "You are Journaling Assistant, a gentle journaling companion for Ana."
    assert out.greeting == "Hi Ana, how was 2025-06-01?"
    # The [vars] default when the caller gives none; the date as a string.
    out = journal.render(date="2025-06-01")
    assert out.greeting == "Hi friend, how was 2025-06-01?"
    # Inheritance: {{parent}} and the parent's variable, overridden by the caller.
    kids = snap.get("kids-coach").render({"city": "Porto"}, date="2024-02-29")
    assert kids.system_prompt == "You are a coach in Porto. Today is 2024-02-29.\nShort sentences only."
    assert kids.greeting is None


def test_render_matches_the_cli(personas_dir):
    snap = personas.Registry(personas_dir, watch=False).snapshot()
    for persona in snap:
        rc, out, err = cli(
            "--dir", personas_dir, "render", persona.id, "--var", "user_name=Sam", "--date", "2025-01-31"
        )
        assert rc == 0, err
        mine = persona.render({"user_name": "Sam"}, date="2025-01-31").system_prompt
        assert out == mine + "\n"


def test_today_is_the_default_date(personas_dir):
    coach = personas.Registry(personas_dir, watch=False).snapshot().get("coach")
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    assert coach.render().system_prompt.endswith(f"Today is {today}.")
    assert coach.render(date=datetime.datetime(2020, 3, 4, 12, 0)).system_prompt.endswith("2020-03-04.")


def test_render_errors(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "journaling-assistant.toml").write_text(
        'name = "J"\ndescription = "d"\nicon = "i"\nsystem_prompt = "Hello\\n  {{user_name}}"\n'
    )
    persona = personas.Registry(folder, watch=False).snapshot().get("journaling-assistant")
    with pytest.raises(personas.RenderError) as err:
        persona.render(date="2025-01-01")
    assert str(err.value) == "system_prompt:2:3: no value for `user_name`: the caller must supply it"
    with pytest.raises(ValueError, match="is not a date"):
        persona.render({"user_name": "x"}, date="2025-02-30")
    with pytest.raises(ValueError):
        persona.render({"user_name": "x"}, date=20250101)
