"""What the cache folder holds, for `freeze-study cache list`, and emptying it, for `freeze-study cache clear`."""

from __future__ import annotations

import time
from dataclasses import dataclass

from freeze_study.cache.features import FILE_MEMO
from freeze_study.cache.store import Store
from freeze_study.data import forget_all


def describe(store: Store) -> str:
    """A table of the store's entries, next to be evicted first, with the total against the budget."""
    entries = store.entries()
    used = sum(e.bytes for e in entries)
    lines = [
        f"cache folder {store.root}: {used / 2**30:.2f} GiB in {len(entries)} entries, "
        f"budget {store.budget / 2**30:.2f} GiB (least recently used first out)"
    ]
    if not entries:
        return lines[0]
    head = f"{'kind':<8} {'key':<36} {'level':>5} {'split':<10} {'MiB':>8} {'last used':<19}  data"
    lines += [head, "-" * len(head)]
    for e in entries:
        level = e.meta.get("level", "-")
        used_at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.last_used))
        lines.append(
            f"{e.kind:<8} {e.key:<36} {level!s:>5} {e.meta.get('split', '?'):<10} {e.bytes / 2**20:>8.1f} "
            f"{used_at:<19}  {e.meta.get('data', '?')}"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Cleared:
    """What `clear` did: entries and bytes removed, entries kept because a run uses them, files forgotten."""

    removed: int
    freed_bytes: int
    in_use: int
    forgotten_files: int

    def __str__(self) -> str:
        kept = f"; {self.in_use} in use by a running process, kept" if self.in_use else ""
        return (
            f"removed {self.removed} entries ({self.freed_bytes / 2**20:.1f} MiB){kept}; "
            f"forgot the checks and digests of {self.forgotten_files} files"
        )


def clear(store: Store) -> Cleared:
    """Remove every entry no process is using, and forget every remembered file check and digest."""
    removed, freed, in_use = store.clear()
    return Cleared(removed, freed, in_use, forget_all(store.root / FILE_MEMO))
