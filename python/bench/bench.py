"""Benchmark of the personas package from Python, each figure beside its baseline in the same run.

- lookups: `snapshot.get(id)`, `find_or_default(id)` and `registry.snapshot().get(id)` beside a
  plain `dict.get` on the same ids (the floor for any lookup from Python);
- load: `Registry(dir)` of a corpus beside `personactl validate` of it (a fresh process, as CI
  runs it) and `personas.validate(dir=…)` in process.

usage: python bench.py CORPUS_DIR PERSONACTL_BIN [RUNS]
"""

import random
import statistics
import subprocess
import sys
import time

import personas


def median_time(fn, runs):
    """Median seconds of `fn()`: the call alone, not the freeing of what it returns (a
    registry is loaded once and lives as long as the service)."""
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        del result
    return statistics.median(times)


def rate(loop, ids, runs):
    """Calls per second of `loop(ids)` (which makes one call per id), median of `runs`."""
    return len(ids) / median_time(lambda: loop(ids), runs)


def main():
    corpus, binary = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 7

    t_registry = median_time(lambda: personas.Registry(corpus, watch=False), runs)
    t_cli = median_time(
        lambda: subprocess.run([binary, "validate", corpus], stdout=subprocess.DEVNULL, check=False),
        runs,
    )
    t_validate = median_time(lambda: personas.validate(dir=corpus), runs)

    registry = personas.Registry(corpus, watch=False)
    snap = registry.snapshot()
    ids = snap.ids()
    rng = random.Random(1)
    sample = [rng.choice(ids) for _ in range(200_000)]
    unknown = [f"no-such-{i % 1000}" for i in range(200_000)]
    plain = {p.id: p for p in snap}
    # Every persona looked up once, so both sides look up objects that already exist.
    for i in ids:
        snap.get(i)

    def dict_get(xs, get=plain.get):
        for x in xs:
            get(x)

    def snap_get(xs, get=snap.get):
        for x in xs:
            get(x)

    def snap_find_or_default(xs, find=snap.find_or_default):
        for x in xs:
            find(x)

    def dict_get_or_default(xs, get=plain.get, default=plain.get(snap.default_id)):
        for x in xs:
            get(x, default)

    def registry_snapshot_get(xs, snapshot=registry.snapshot):
        for x in xs:
            snapshot().get(x)

    lookups = [
        ("dict.get(id)", rate(dict_get, sample, runs)),
        ("snapshot.get(id)", rate(snap_get, sample, runs)),
        ("snapshot.find_or_default(id)", rate(snap_find_or_default, sample, runs)),
        ("dict.get(unknown, default)", rate(dict_get_or_default, unknown, runs)),
        ("find_or_default(unknown)", rate(snap_find_or_default, unknown, runs)),
        ("registry.snapshot().get(id)", rate(registry_snapshot_get, sample, runs)),
    ]
    floor = lookups[0][1]
    print(f"corpus: {len(ids)} personas in {corpus}; {runs} runs each, medians; Python {sys.version.split()[0]}")
    print(f"load   Registry(dir)          {t_registry * 1000:8.1f} ms")
    print(f"load   personactl validate    {t_cli * 1000:8.1f} ms   Registry/CLI {t_registry / t_cli:5.2f}x")
    print(f"load   personas.validate(dir) {t_validate * 1000:8.1f} ms")
    for name, r in lookups:
        base = lookups[3][1] if "unknown" in name else floor
        print(f"lookup {name:29s} {r / 1e6:6.2f} M/s   {base / r:5.2f}x the dict.get time")


if __name__ == "__main__":
    main()
