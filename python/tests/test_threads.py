"""Threads reading snapshots while files change under a running watcher."""

import threading
import time

import personas


def persona_text(n):
    return f'name = "V{n}"\ndescription = "V{n}"\nicon = "i"\nsystem_prompt = "Version {n}."\n'


def test_readers_see_consistent_snapshots_while_files_change(personas_dir):
    counter = personas_dir / "counter.toml"
    counter.write_text(persona_text(0))
    registry = personas.Registry(personas_dir, debounce_ms=5)
    stop = threading.Event()
    problems = []
    generations = []

    def reader():
        last = 0
        seen = set()
        try:
            while not stop.is_set():
                snap = registry.snapshot()
                gen = snap.generation
                if gen < last:
                    problems.append(f"generation went back from {last} to {gen}")
                last = gen
                seen.add(gen)
                listed = list(snap)
                if len(listed) != len(snap) or [p.id for p in listed] != snap.ids():
                    problems.append("iteration disagrees with len/ids")
                p = snap.get("counter")
                # One file, one version: never a mix of two edits, never a torn read.
                if p is None or p.name != p.description or snap.get("counter") is not p:
                    problems.append(f"inconsistent persona {p!r}")
                if p is not None and p.system_prompt != f"Version {p.name[1:]}.":
                    problems.append(f"prompt of another version: {p.system_prompt!r}")
                if snap.find_or_default("nobody").id != "journaling-assistant":
                    problems.append("default persona lost")
                if snap.generation != gen:
                    problems.append("a snapshot changed its generation")
        except Exception as e:  # noqa: BLE001 - any exception is a failure of the test
            problems.append(repr(e))
        generations.append(seen)

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for t in readers:
        t.start()
    try:
        for n in range(1, 41):
            counter.write_text(persona_text(n))
            (personas_dir / f"extra-{n % 3}.toml").write_text(persona_text(n))
            time.sleep(0.01)
        deadline = time.monotonic() + 10
        while registry.snapshot().get("counter").name != "V40" and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        for t in readers:
            t.join()
        registry.close()
    assert problems == []
    assert registry.snapshot().get("counter").name == "V40"
    assert all(len(seen) > 1 for seen in generations), generations


def test_sessions_from_many_threads(personas_dir, tmp_path):
    registry = personas.Registry(personas_dir, watch=False)
    store = personas.SessionStore(tmp_path / "sessions.jsonl", registry)
    errors = []

    def worker(k):
        try:
            for i in range(25):
                store.link(f"t{k}-{i:02}", "coach" if i % 2 else "journaling-assistant")
                assert store.show(f"t{k}-{i:02}").resolved in ("coach", "journaling-assistant")
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    links = store.list()
    assert len(links) == 100
    assert len(store.list(persona="coach")) == 4 * 12  # odd i in 0..25
