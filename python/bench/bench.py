"""Benchmark of the personas package from Python, each figure beside its baseline in the same run.

- lookups: `snapshot.get(id)`, `find_or_default(id)` and `registry.snapshot().get(id)` beside a
  plain `dict.get` on the same ids, the two in alternation (the floor for any lookup from Python);
- load: `Registry(dir)` of a corpus beside `personactl validate` of it (a fresh process, as CI
  runs it; the two in alternation) and `personas.validate(dir=…)` in process.

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


def paired(fn, baseline, runs):
    """Medians of `fn()` and `baseline()` run in alternation (so that a slower spell of a
    shared machine falls on both), and the median of the ratios of each pair."""
    fn()
    baseline()  # warm-up
    times, base_times = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        del result
        t0 = time.perf_counter()
        baseline()
        base_times.append(time.perf_counter() - t0)
    ratios = [t / b for t, b in zip(times, base_times)]
    return statistics.median(times), statistics.median(base_times), statistics.median(ratios)


def main():
    corpus, binary = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 7

    t_registry, t_cli, ratio = paired(
        lambda: personas.Registry(corpus, watch=False),
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

    # Each lookup in alternation with its dict.get floor on the same ids.
    cases = [
        ("snapshot.get(id)", snap_get, dict_get, sample),
        ("snapshot.find_or_default(id)", snap_find_or_default, dict_get, sample),
        ("find_or_default(unknown)", snap_find_or_default, dict_get_or_default, unknown),
        ("registry.snapshot().get(id)", registry_snapshot_get, dict_get, sample),
    ]
    print(f"corpus: {len(ids)} personas in {corpus}; {runs} runs each, medians; Python {sys.version.split()[0]}")
    print(f"load   Registry(dir)          {t_registry * 1000:8.1f} ms")
    print(f"load   personactl validate    {t_cli * 1000:8.1f} ms   Registry/CLI {t_registry / t_cli:5.2f}x"
          f" (median of the pairs' ratios {ratio:5.2f}x)")
    print(f"load   personas.validate(dir) {t_validate * 1000:8.1f} ms")
    for name, loop, floor, xs in cases:
        t, t_floor, r = paired(lambda: loop(xs), lambda: floor(xs), runs)
        floor_name = "dict.get(unknown, default)" if xs is unknown else "dict.get(id)"
        print(
            f"lookup {name:29s} {len(xs) / t / 1e6:6.2f} M/s   {floor_name} {len(xs) / t_floor / 1e6:6.2f} M/s"
            f"   {r:5.2f}x the dict.get time"
        )

if __name__ == "__main__":
    main()
