#!/usr/bin/env python3
"""Generate a deterministic corpus of persona files for benchmarks and tests.

usage: gen_corpus.py OUTDIR N [--invalid-ratio R] [--seed S] [--schema-header PATH]
                     [--folders K] [--extends-bases B]

Writes N persona files under OUTDIR (spread over K folders `group-NN/` when K > 1). Every
file is valid unless chosen as defective: round(N * R) files are, each with exactly one
defect, the kinds taken in turn: syntax, missing-required, unknown-key, range, empty-name,
wrong-type. File 0 is `journaling-assistant.toml`, the default persona, and is never
defective, so `personactl validate --dir OUTDIR` exits 0 when R is 0.

With --extends-bases B, B hidden base personas `base-NN.toml` are written too and every file
extends one of them (in turn): it inherits `description` and `icon`, starts its prompt with
`{{parent}}` and uses `{{tone}}`, a variable only the bases declare. (A file chosen for
`missing-required` does not extend: it is the flat file without its description.)

The same arguments always give the same bytes (Python's `random` seeded with S; no clock,
no environment). The last line printed is a summary:
`wrote N files, BYTES bytes, defects: {'syntax': 3, ...}`.
"""

import argparse
import os
import random
import sys

DEFECTS = ["syntax", "missing-required", "unknown-key", "range", "empty-name", "wrong-type"]
DEFAULT_ID = "journaling-assistant"

ROLES = [
    "Coach", "Mentor", "Tutor", "Guide", "Editor", "Planner", "Listener", "Critic",
    "Librarian", "Navigator", "Gardener", "Archivist", "Translator", "Reviewer", "Host",
    "Storyteller", "Analyst", "Companion", "Trainer", "Counsellor",
]
QUALITIES = [
    "Patient", "Curious", "Calm", "Brisk", "Gentle", "Candid", "Playful", "Careful",
    "Steady", "Bright", "Quiet", "Warm", "Sharp", "Kind", "Bold", "Thoughtful",
]
TOPICS = [
    "habits", "writing", "cooking", "fitness", "sleep", "budgets", "careers", "travel",
    "music", "languages", "gardening", "study", "parenting", "focus", "public speaking",
    "job interviews", "decisions", "reading", "mindfulness", "small business",
]
ICONS = ["🧭", "📓", "🎭", "🌱", "🧠", "🎧", "📚", "🛠️", "🍳", "🏃", "🌙", "💡", "🗺️", "🎨", "🧩", "✍️"]
TAGS = [
    "goals", "habits", "writing", "wellbeing", "planning", "learning", "creative", "work",
    "health", "money", "family", "focus", "reflection", "practice", "feedback", "daily",
    "beginner", "advanced", "fun", "serious",
]
TONES = ["warm", "dry", "cheerful", "measured", "plain", "encouraging"]

OPENINGS = [
    "You are {name}, a {quality} helper for people working on {topic}.",
    "You are {name}. People come to you when they want help with {topic}.",
    "Your name is {name} and your field is {topic}; you are {quality} and practical.",
]
SENTENCES = [
    "Begin by asking what the person wants to achieve and why it matters to them now.",
    "Ask one question at a time and wait for the answer before moving on.",
    "Reflect back what you heard in a sentence or two so the person can correct you.",
    "Offer options only after the person has had a chance to suggest their own.",
    "Prefer small, concrete next steps over ambitious plans that are easy to abandon.",
    "When the person is stuck, break the problem into parts and take the smallest first.",
    "Name specific things the person did well; avoid generic praise.",
    "Keep replies short: a paragraph or two, or a short list when laying out choices.",
    "If a question needs a qualified professional, say so plainly and suggest one.",
    "Do not pretend to be human; if asked, say that you are an AI assistant.",
    "Treat a missed step as information, not failure, and agree a new step together.",
    "Use plain words; explain any term the person might not know the first time you use it.",
    "Check how confident the person feels about a plan, and make it smaller if they hesitate.",
    "Summarise the agreed plan at the end of a conversation in one clear line.",
    "Respect the person's values and choices; challenge gently, never moralise.",
    "When you are unsure, say so, and suggest how the person could find out.",
    "Adapt your pace to the person: slow down when they are overwhelmed, speed up when they are keen.",
    "Bring the conversation back to what the person will actually do next.",
]
HEADINGS = ["## How you work", "## What you avoid", "## How you reply", "## Boundaries", "## Follow-up"]
STARTERS = [
    "Where should I start with {topic}?",
    "Help me make a plan for the next two weeks.",
    "I tried before and gave up. What should I do differently?",
    "Can you check my idea and tell me what is missing?",
    "Give me one thing I can do today.",
    "I have ten minutes a day. Is that enough?",
]


def prompt_body(rng, name, quality, topic):
    """A multi-line system prompt of a few hundred words: an opening and a few sections."""
    lines = [rng.choice(OPENINGS).format(name=name, quality=quality.lower(), topic=topic), ""]
    for heading in rng.sample(HEADINGS, 3):
        lines.append(heading)
        for sentence in rng.sample(SENTENCES, rng.randint(4, 6)):
            lines.append("- " + sentence)
        lines.append("")
    lines.append(" ".join(rng.sample(SENTENCES, 4)))
    return "\n".join(lines)


def persona_lines(rng, i, pid):
    """The key lines of a valid, flat persona, as (key, text) pairs in file order."""
    quality, role = rng.choice(QUALITIES), rng.choice(ROLES)
    topic = rng.choice(TOPICS)
    name = "Journaling Assistant" if pid == DEFAULT_ID else f"{quality} {role} {i}"
    tags = rng.sample(TAGS, rng.randint(2, 5))
    starters = [s.format(topic=topic) for s in rng.sample(STARTERS, rng.randint(2, 4))]
    out = [
        ("name", f'name = "{name}"'),
        ("description", f'description = "A {quality.lower()} {role.lower()} for {topic}: '
                        f'clear questions, small steps and honest feedback."'),
        ("icon", f'icon = "{rng.choice(ICONS)}"'),
        ("tags", "tags = [" + ", ".join(f'"{t}"' for t in tags) + "]"),
        ("order", f"order = {i % 1000}"),
        ("greeting", f'greeting = "Hello, I am {name}. What would you like to work on in {topic} today?"'),
        ("starters", "starters = [\n" + "".join(f'  "{s}",\n' for s in starters) + "]"),
        ("system_prompt", 'system_prompt = """\n' + prompt_body(rng, name, quality, topic) + '\n"""'),
    ]
    if rng.random() < 0.6:
        temperature = rng.randint(0, 20) / 10
        model = f"[model]\ntemperature = {temperature}"
        if rng.random() < 0.5:
            model += f"\ntop_p = {rng.randint(5, 10) / 10}"
        if rng.random() < 0.5:
            model += f"\nmax_tokens = {rng.choice([256, 512, 1024, 2048])}"
        out.append(("model", model))
    return out


def to_extends(lines, base):
    """The lines of a persona that extends `base`: no description or icon of its own, a prompt
    that starts with the parent's and uses the bases' `tone`."""
    out = [("extends", f'extends = "{base}"')]
    for key, text in lines:
        if key in ("description", "icon"):
            continue
        if key == "system_prompt":
            text = text.replace('"""\n', '"""\n{{parent}}\nSpeak in a {{tone}} voice.\n', 1)
        out.append((key, text))
    return out


def apply_defect(lines, kind):
    """Exactly one defect of `kind` in a flat persona's lines."""
    out = []
    for key, text in lines:
        if kind == "syntax" and key == "name":
            text = text[:-1]  # the closing quote is gone: an unterminated string
        elif kind == "missing-required" and key == "description":
            continue
        elif kind == "unknown-key" and key == "greeting":
            text = "greting" + text[len("greeting"):]  # a misspelling: did you mean `greeting`?
        elif kind == "range" and key == "model":
            text = "[model]\ntemperature = 2.5"
        elif kind == "empty-name" and key == "name":
            text = 'name = ""'
        elif kind == "wrong-type" and key == "order":
            text = text.replace("order = ", 'order = "') + '"'  # an integer as a string
        out.append((key, text))
    if kind == "range" and not any(key == "model" for key, _ in lines):
        out.append(("model", "[model]\ntemperature = 2.5"))
    return out


def base_persona(k, header):
    return (
        header
        + f'name = "Base {k}"\n'
        + f'description = "Shared base persona {k}: the common rules its children inherit."\n'
        + 'icon = "🧩"\n'
        + "hidden = true\n"
        + 'system_prompt = """\n'
        + f"Shared rules of base {k}: be {{{{tone}}}}, be brief, and never pretend to be human.\n"
        + "Ask one question at a time, and end with one next step the person chooses.\n"
        + '"""\n\n[model]\ntemperature = 0.7\n\n[vars]\n'
        + f'tone = "{TONES[k % len(TONES)]}"\n'
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("n", type=int)
    ap.add_argument("--invalid-ratio", type=float, default=0.0,
                    help="share of files with one defect each (0 to 1; default 0)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--schema-header", metavar="PATH",
                    help="write '#:schema PATH' as each file's first line")
    ap.add_argument("--folders", type=int, default=1,
                    help="spread the files over K folders group-NN/ (default 1: flat)")
    ap.add_argument("--extends-bases", type=int, default=0, metavar="B",
                    help="write B hidden bases and make every file extend one of them")
    args = ap.parse_args(argv)
    if args.n < 1 or args.folders < 1 or args.extends_bases < 0:
        ap.error("N and --folders must be at least 1, --extends-bases at least 0")
    if not 0.0 <= args.invalid_ratio <= 1.0:
        ap.error("--invalid-ratio must be between 0 and 1")

    rng = random.Random(args.seed)
    header = f"#:schema {args.schema_header}\n" if args.schema_header else ""
    n_bad = min(round(args.n * args.invalid_ratio), args.n - 1)
    chosen = sorted(rng.sample(range(1, args.n), n_bad)) if n_bad else []
    defect_of = {i: DEFECTS[j % len(DEFECTS)] for j, i in enumerate(chosen)}
    counts = {kind: 0 for kind in DEFECTS}

    os.makedirs(args.outdir, exist_ok=True)
    total = 0

    def write(rel, text):
        nonlocal total
        path = os.path.join(args.outdir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = text.encode("utf-8")
        with open(path, "wb") as f:
            f.write(data)
        total += len(data)

    for k in range(args.extends_bases):
        write(f"base-{k:02d}.toml", base_persona(k, header))
    for i in range(args.n):
        pid = DEFAULT_ID if i == 0 else f"persona-{i:05d}"
        folder = f"group-{i % args.folders:02d}" if args.folders > 1 else ""
        lines = persona_lines(rng, i, pid)
        kind = defect_of.get(i)
        if kind:
            counts[kind] += 1
            lines = apply_defect(lines, kind)
        if args.extends_bases and kind != "missing-required":
            lines = to_extends(lines, f"base-{i % args.extends_bases:02d}")
        body = "\n".join(text for key, text in lines if key != "model")
        tables = "".join("\n" + text + "\n" for key, text in lines if key == "model")
        write(os.path.join(folder, f"{pid}.toml"), header + body + "\n" + tables)

    files = args.n + args.extends_bases
    print(f"wrote {files} files, {total} bytes, defects: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
