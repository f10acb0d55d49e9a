#!/usr/bin/env python3
"""Write the reference token counts that tests/tokens.rs compares personactl's counts with.

Counts come from OpenAI's own tiktoken (the Python package, `encode_ordinary`), for the texts
in tests/fixtures/tokens/texts.json and for the system prompt and greeting of every persona
in personas/ (which use no placeholders, so the text as written is the rendered text).

usage: scripts/tiktoken-reference.py            (rewrites tests/fixtures/tokens/tiktoken-counts.json)

tiktoken downloads its rank files on first use. Without network access, put the files in a
cache folder under the names tiktoken looks for (it checks their SHA-256 against the hashes
it pins, so a wrong file is refused):

    python3 -m venv /tmp/tk && /tmp/tk/bin/pip install tiktoken
    mkdir -p /tmp/tkcache
    for e in o200k_base cl100k_base; do
      key=$(python3 -c "import hashlib,sys; print(hashlib.sha1(sys.argv[1].encode()).hexdigest())" \
            "https://openaipublic.blob.core.windows.net/encodings/$e.tiktoken")
      cp ~/.cargo/registry/src/*/tiktoken-rs-*/assets/$e.tiktoken /tmp/tkcache/$key
    done
    TIKTOKEN_CACHE_DIR=/tmp/tkcache /tmp/tk/bin/python scripts/tiktoken-reference.py
"""
import json, os, pathlib, tomllib

import tiktoken

root = pathlib.Path(__file__).resolve().parent.parent
fixtures = root / "tests" / "fixtures" / "tokens"
encodings = {name: tiktoken.get_encoding(name) for name in ("o200k_base", "cl100k_base")}


def counts(text):
    return {name: len(enc.encode_ordinary(text)) for name, enc in encodings.items()}


texts = json.loads((fixtures / "texts.json").read_text(encoding="utf-8"))
out = {
    "source": f"OpenAI tiktoken {tiktoken.__version__} (Python), encode_ordinary; "
    "written by scripts/tiktoken-reference.py",
    "texts": [{"name": t["name"], "text": t["text"], **counts(t["text"])} for t in texts],
    "personas": {},
}
for path in sorted((root / "personas").glob("*.toml")):
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out["personas"][path.stem] = {
        "system_prompt": counts(data["system_prompt"]),
        "greeting": counts(data["greeting"]) if "greeting" in data else None,
    }
(fixtures / "tiktoken-counts.json").write_text(
    json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
)
print(f"wrote {len(out['texts'])} texts and {len(out['personas'])} personas")
