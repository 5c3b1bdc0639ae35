"""The persistent cache folder: atomic entries, least-recently-used eviction under the disk budget, entries in
use never evicted, one builder at a time across processes, and `freeze-study cache list|clear`."""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pytest

from freeze_study.cache import Store
from freeze_study.cli import main

MIB = 2**20


def put(store: Store, key: str, fill: int, mib: int = 1) -> None:
    """A committed entry of `mib` MiB filled with `fill`, not held by anyone afterwards."""
    with ExitStack() as hold:
        w = store.writer("decoded", key, key, (mib * MIB,), np.uint8, {"data": "d", "split": key}, hold)
        w.array[:] = fill
        store.commit(w, hold)


def keys(store: Store) -> list[str]:
    return [e.key for e in store.entries()]


def test_entry_is_written_whole_then_renamed_into_place(tmp_path):
    store = Store(tmp_path, 10 * MIB)
    with ExitStack() as hold:
        w = store.writer("features", "g", "g-L2-train", (3, 4), np.float32, {"level": 2}, hold)
        assert store.open("features", "g-L2-train", hold) is None  # not visible while being written
        assert w.shared and w.tmp.parent == tmp_path / "features"
        w.array[:] = 7
        out = store.commit(w, hold)
        assert not w.tmp.exists() and not list((tmp_path / "features").glob("*.tmp"))
    np.testing.assert_array_equal(out, np.full((3, 4), 7, np.float32))
    (entry,) = store.entries()
    assert (entry.kind, entry.key, entry.meta["level"]) == ("features", "g-L2-train", 2)
    assert entry.bytes == store.path("features", "g-L2-train").stat().st_size


def test_least_recently_used_entries_go_first_and_the_budget_holds(tmp_path):
    store = Store(tmp_path, int(2.5 * MIB))  # two 1 MiB entries (plus headers) fit, three do not
    put(store, "a", 1)
    put(store, "b", 2)
    old = time.time() - 100
    os.utime(store.path("decoded", "a"), (old, old))
    os.utime(store.path("decoded", "b"), (old + 1, old + 1))
    with ExitStack() as hold:
        assert store.open("decoded", "a", hold) is not None  # a is used again: b is now the oldest
    put(store, "c", 3)
    assert sorted(keys(store)) == ["a", "c"]
    assert store.usage() <= store.budget


def test_an_entry_in_use_is_never_evicted_and_a_new_one_becomes_the_runs_own(tmp_path):
    store = Store(tmp_path, int(1.5 * MIB))
    put(store, "a", 1)
    with ExitStack() as hold:
        a = store.open("decoded", "a", hold)
        with ExitStack() as run:
            w = store.writer("decoded", "b", "b", (MIB,), np.uint8, {}, run)
            assert not w.shared  # no room without evicting `a`, which is in use
            w.array[:] = 2
            b = store.commit(w, run)
            assert b[0] == 2 and keys(store) == ["a"]
            own = w.tmp
        assert not own.exists()  # the run's own file goes with the run
        assert a[0] == 1
    put(store, "b", 2)  # nobody uses `a` now: it is evicted
    assert keys(store) == ["b"]


def _build_slowly(root: str, log: str, seconds: float) -> float:
    """Another process: build entry `x` under its group's lock unless it exists; return the value read."""
    store = Store(Path(root), 10 * MIB)
    with ExitStack() as hold:
        with store.build_lock("decoded", "x"):
            found = store.open("decoded", "x", hold)
            if found is None:
                with open(log, "a") as f:
                    f.write(f"{os.getpid()}\n")
                w = store.writer("decoded", "x", "x", (4,), np.float32, {}, hold)
                time.sleep(seconds)  # the other process arrives meanwhile
                w.array[:] = os.getpid()
                found = store.commit(w, hold)
        return float(found[0])


def test_two_processes_building_one_entry_build_it_once_and_read_the_same(tmp_path):
    log = tmp_path / "builds.log"
    ctx = get_context("spawn")
    with ctx.Pool(2) as pool:
        first = pool.apply_async(_build_slowly, (str(tmp_path / "cache"), str(log), 3.0))
        time.sleep(1.0)
        second = pool.apply_async(_build_slowly, (str(tmp_path / "cache"), str(log), 0.0))
        values = {first.get(timeout=120), second.get(timeout=120)}
    assert len(log.read_text().splitlines()) == 1  # one build; the second waited, then read it
    assert len(values) == 1
    assert keys(Store(tmp_path / "cache", MIB)) == ["x"]


def test_a_crashed_builders_leftover_is_removed(tmp_path):
    store = Store(tmp_path, 10 * MIB)
    (tmp_path / "features").mkdir()
    leftover = tmp_path / "features" / "g~g-L1-train~abc.tmp"
    leftover.write_bytes(b"x" * 1000)
    with store.build_lock("features", "h"):  # another group's builder is alive: its file stays
        live = tmp_path / "features" / "h~h-L1-train~def.tmp"
        live.write_bytes(b"y")
        store.make_room(0)
        assert live.exists()
    assert not leftover.exists()


def test_cache_list_and_clear(tmp_path, capsys):
    root = tmp_path / "c"
    store = Store(root, 10 * MIB)
    put(store, "k1", 1)
    assert main(["cache", "list", "--cache-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "1 entries" in out and "k1" in out and "decoded" in out
    assert main(["cache", "--cache-dir", str(root)]) == 0  # list is the default
    assert "k1" in capsys.readouterr().out
    with ExitStack() as hold:
        store.open("decoded", "k1", hold)
        assert main(["cache", "clear", "--cache-dir", str(root)]) == 0
        assert "removed 0 entries" in capsys.readouterr().out and keys(store) == ["k1"]  # in use: kept
    assert main(["cache", "clear", "--cache-dir", str(root)]) == 0
    assert "removed 1 entries (1.0 MiB)" in capsys.readouterr().out
    assert keys(store) == []


def test_cache_clear_of_an_empty_folder(tmp_path, capsys):
    assert main(["cache", "clear", "--cache-dir", str(tmp_path / "none")]) == 0
    assert "removed 0 entries" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["-1", "inf"])
def test_invalid_disk_budget_is_named(tmp_path, capsys, value):
    assert main(["cache", "list", "--cache-dir", str(tmp_path), "--cache-disk-gib", value]) == 2
    assert "invalid cache_disk_gib" in capsys.readouterr().err
