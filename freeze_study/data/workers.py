"""How many DataLoader workers this machine has room for: the CPUs this process may use and the shared memory.

CPUs: the process's CPU affinity (`os.sched_getaffinity`: `taskset`, `docker --cpuset-cpus`)
and its cgroup's CPU quota (`docker --cpus`, Kubernetes limits: cgroup v2 `cpu.max`, v1
`cpu.cfs_quota_us`), the smaller of the two. Shared memory: DataLoader workers hand every
batch over through `/dev/shm` (Docker's default is 64 MB), each worker holding up to
`prefetch_factor` (2) batches; too little and a worker dies of a bus error or hangs.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

SHM = "/dev/shm"
CGROUP = "/sys/fs/cgroup"
PREFETCH = 2  # torch's default prefetch_factor: batches in flight per worker


def available_cpus(cgroup_root: str = CGROUP, proc_cgroup: str = "/proc/self/cgroup") -> int:
    """CPUs this process may use: its affinity, capped by its cgroup's CPU quota (rounded up), at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root, proc_cgroup)
    return max(1, min(cpus, math.ceil(quota)) if quota else cpus)


def cgroup_cpu_quota(cgroup_root: str = CGROUP, proc_cgroup: str = "/proc/self/cgroup") -> float | None:
    """The CPU quota (in CPUs) of this process's cgroup and its parents, the smallest; None when unlimited."""
    quotas = []
    for folder in _cgroup_dirs(Path(cgroup_root), proc_cgroup):
        try:
            if (folder / "cpu.max").is_file():  # v2: "max 100000" or "200000 100000"
                quota, period = (folder / "cpu.max").read_text().split()[:2]
            elif (folder / "cpu.cfs_quota_us").is_file():  # v1: -1 when unlimited
                quota, period = ((folder / f).read_text().strip() for f in ("cpu.cfs_quota_us", "cpu.cfs_period_us"))
            else:
                continue
            if quota not in ("max", "-1") and int(period) > 0:
                quotas.append(int(quota) / int(period))
        except (OSError, ValueError):
            continue
    return min(quotas) if quotas else None


def _cgroup_dirs(root: Path, proc_cgroup: str) -> list[Path]:
    """The cgroup folders that limit this process's CPU: its own and each parent, v2 and v1 hierarchies."""
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        lines = []
    tops = [root]  # inside a container the process's cgroup is the mount's root
    for line in lines:  # "0::/user.slice/…" (v2) or "4:cpu,cpuacct:/docker/…" (v1)
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            base = root / "unified" if (root / "unified").is_dir() else root
        elif "cpu" in controllers.split(","):
            base = root / controllers
        else:
            continue
        tops.append(base)
        parts = [p for p in path.split("/") if p]
        tops += [base.joinpath(*parts[:i]) for i in range(len(parts), 0, -1)]
    if (root / "cpu").is_dir():
        tops.append(root / "cpu")
    return list(dict.fromkeys(tops))


def free_shared_memory(path: str = SHM) -> int | None:
    """Bytes free in the shared-memory file system (`/dev/shm`), or None where there is none to read."""
    try:
        st = os.statvfs(path)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def worker_count(requested: int, batch_bytes: int = 0, cpus: int | None = None, shm: int | None = -1) -> int:
    """DataLoader workers: as requested, at most one per available CPU, and only as many as the free shared
    memory holds (`PREFETCH` + 1 batches of `batch_bytes` each); warns when shared memory lowers the count.

    `cpus` and `shm` (bytes; -1 reads /dev/shm, None means unknown) are for callers that know better.
    """
    cpus = available_cpus() if cpus is None else cpus
    workers = max(0, min(requested, cpus))
    shm = free_shared_memory() if shm == -1 else shm
    if workers == 0 or not batch_bytes or shm is None:
        return workers
    per_worker = (PREFETCH + 1) * batch_bytes
    fit = int(shm // per_worker)
    if fit >= workers:
        return workers
    instead = f"{fit} DataLoader workers" if fit else "loading in the main process"
    warnings.warn(
        f"only {shm / 2**20:.0f} MB of shared memory free ({SHM}); {workers} DataLoader workers need about "
        f"{workers * per_worker / 2**20:.0f} MB: {instead} instead (give the container more, e.g. "
        "docker run --shm-size=1g)",
        stacklevel=2,
    )
    return fit
