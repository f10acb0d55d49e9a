"""validate() beside `personactl validate --format json`: same codes, positions, messages."""

import json

import pytest

import personas
from conftest import cli, cli_error

BROKEN = {
    "journaling-assistant.toml": 'name = "J"\ndescription = "d"\nicon = "i"\nsystem_prompt = "ok"\n',
    "range.toml": 'name = "R"\ndescription = "d"\nicon = "i"\nsystem_prompt = "p"\n\n[model]\ntemperature = 3.5\n',
    "typo.toml": 'name = "T"\ndescription = "d"\nicon = "i"\nsystem_promt = "p"\n',
    "syntax.toml": 'name = "S\ndescription = "d"\n',
    "missing.toml": 'name = "M"\ndescription = "d"\nsystem_prompt = "p"\n',
    "Bad_Name.toml": 'name = "B"\ndescription = "d"\nicon = "i"\nsystem_prompt = "p"\n',
    "child.toml": 'extends = "nobody"\nname = "C"\n',
    "vars.toml": 'name = "V"\ndescription = "d"\nicon = "i"\nsystem_prompt = """\nHi {{ who }}."""\n',
    "dup.toml": 'name = "D"\ndescription = "d"\nicon = "i"\nsystem_prompt = "p"\naliases = ["range"]\n',
}


@pytest.fixture
def broken_dir(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    for name, text in BROKEN.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def cli_report(*args):
    rc, out, err = cli(*args, "--format", "json")
    return rc, json.loads(out)


def test_broken_fixtures_give_exact_codes_and_positions(broken_dir):
    report = personas.validate(dir=broken_dir)
    assert not report.ok and not report
    assert report.files == len(BROKEN)
    found = {(d.path.rsplit("/", 1)[-1], d.code, d.line, d.column) for d in report.diagnostics}
    assert found == {
        ("Bad_Name.toml", "id.invalid", 1, 1),
        ("child.toml", "extends.missing", 1, 11),
        ("dup.toml", "id.duplicate", 5, 12),
        ("missing.toml", "schema.required", 1, 1),
        ("range.toml", "schema.range", 7, 15),
        ("syntax.toml", "toml.syntax", 1, 10),
        ("typo.toml", "schema.unknown-key", 4, 1),
        ("vars.toml", "vars.undeclared", 5, 4),
    }
    assert report.error_count == len(found)
    typo = next(d for d in report.diagnostics if d.code == "schema.unknown-key")
    assert typo.hint == "did you mean `system_prompt`?" and typo.severity == "error"
    assert str(typo).endswith("typo.toml:4:1: error[schema.unknown-key]: unknown key `system_promt`")


def test_the_report_is_the_cli_json(broken_dir):
    rc, expected = cli_report("--dir", broken_dir, "validate")
    assert rc == 1
    assert personas.validate(dir=broken_dir).to_dict() == expected
    assert list(expected["diagnostics"][0]) == ["path", "line", "column", "severity", "code", "message", "hint"]
    # Named files: a subset need not hold the default persona.
    named = [broken_dir / "range.toml", broken_dir / "typo.toml"]
    rc, expected = cli_report("--dir", broken_dir, "validate", *named)
    assert personas.validate(named, dir=broken_dir).to_dict() == expected


def test_default_missing_only_for_the_whole_directory(broken_dir, personas_dir):
    (broken_dir / "journaling-assistant.toml").unlink()
    codes = [d.code for d in personas.validate(dir=broken_dir).diagnostics]
    assert "default.missing" in codes
    codes = [d.code for d in personas.validate([broken_dir / "range.toml"], dir=broken_dir).diagnostics]
    assert "default.missing" not in codes
    good = personas.validate(dir=personas_dir)
    assert good.ok and good.files == 3 and good.diagnostics == []
    assert good.to_dict() == {"ok": True, "files": 3, "diagnostics": []}


def test_missing_paths_raise_not_found_with_the_cli_message(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(personas.NotFound) as err:
        personas.validate(dir=missing)
    assert str(err.value) == cli_error("--dir", missing, "validate")
    with pytest.raises(personas.NotFound) as err:
        personas.validate([missing / "x.toml"], dir=tmp_path)
    assert str(err.value) == cli_error("--dir", tmp_path, "validate", missing / "x.toml")
