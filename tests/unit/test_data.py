"""Data loading: both sources, pre-processing, and one clear error per kind of bad data."""

from __future__ import annotations

import os
import shutil
import time

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from freeze_study.data import (
    DataError,
    FileMemo,
    ImageDataset,
    from_hub_dataset,
    load_data,
    make_loader,
    worker_count,
)
from freeze_study.errors import is_expected, reason
from tests.helpers import CLASSES, make_image_folder


def test_folder_classes_splits_and_preprocessing(image_folder):
    data = load_data(str(image_folder))
    assert data.classes == CLASSES
    assert {s: len(split) for s, split in data.splits.items()} == {"train": 9, "validation": 9, "test": 9}
    ds = ImageDataset(data.splits["train"])
    for i in range(len(ds)):  # includes a grayscale JPEG and an RGBA PNG
        x, y = ds[i]
        assert x.shape == (3, 224, 224) and x.dtype.is_floating_point
        assert y == data.splits["train"].labels[i]
    image = Image.open(data.splits["train"].names[0]).convert("RGB").resize((224, 224), Image.BILINEAR)
    expected = (np.array(image, dtype=np.float32)[:, :, 0] / 255 - 0.485) / 0.229  # red channel by hand
    np.testing.assert_allclose(ds[0][0][0].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_hub_dataset_with_classlabel(tmp_path):
    images = [Image.fromarray(np.full((30, 20, 3), 40 * i, dtype=np.uint8)) for i in range(3)]
    features = datasets.Features({"image": datasets.Image(), "labels": datasets.ClassLabel(names=list(CLASSES))})
    split = datasets.Dataset.from_dict({"image": images, "labels": [0, 1, 2]}, features=features)
    dsd = datasets.DatasetDict({"train": split, "validation": split, "test": split})
    data = from_hub_dataset("AI-Lab-Makerere/beans", dsd)
    assert data.classes == CLASSES
    x, y = ImageDataset(data.splits["test"])[2]
    assert x.shape == (3, 224, 224) and y == 2
    with pytest.raises(DataError, match="has no 'validation' split"):
        from_hub_dataset("x/y", datasets.DatasetDict({"train": split, "test": split}))


def test_missing_split(image_folder):
    shutil.rmtree(image_folder / "validation")
    with pytest.raises(DataError, match=r"has no 'validation' split"):
        load_data(str(image_folder))


def test_class_in_one_split_only(tmp_path):
    root = make_image_folder(tmp_path / "d")
    shutil.rmtree(root / "test" / "healthy")
    with pytest.raises(DataError, match=r"class 'healthy' is in split 'train' but not in split 'test'"):
        load_data(str(root))


def test_empty_class(image_folder):
    for f in (image_folder / "validation" / "bean_rust").iterdir():
        f.unlink()
    with pytest.raises(DataError, match=r"class 'bean_rust' of split 'validation' has no images"):
        load_data(str(image_folder))


def test_undecodable_image_is_named(image_folder):
    bad = image_folder / "train" / "healthy" / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(DataError, match=r"cannot decode image .*broken\.jpg"):
        load_data(str(image_folder))


def test_truncated_image_is_found_before_training(image_folder):
    good = next((image_folder / "test" / "healthy").glob("*.jpg"))
    cut = image_folder / "test" / "healthy" / "cut.jpg"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # header intact, scan cut: verify() passes
    with Image.open(cut) as img:
        img.verify()
    with pytest.raises(DataError, match=r"^cannot decode image .*cut\.jpg: image file is truncated"):
        load_data(str(image_folder))


def test_non_images_are_skipped_with_a_count(image_folder):
    (image_folder / "train" / "healthy" / "notes.txt").write_text("x")
    (image_folder / "test" / "bean_rust" / "Thumbs.db").write_bytes(b"x")
    with pytest.warns(UserWarning, match=r"skipped 2 entries in .*: 2 not images by extension \(e\.g\. .*notes\.txt\)"):
        data = load_data(str(image_folder))
    assert len(data.splits["train"]) == 9


def test_missing_folder_is_not_taken_for_a_hub_id(tmp_path):
    with pytest.raises(DataError, match="data folder .* not found"):
        load_data(str(tmp_path / "nowhere"))


def test_digest_follows_content(tmp_path):
    a = load_data(str(make_image_folder(tmp_path / "a")))
    b = load_data(str(make_image_folder(tmp_path / "b")))
    assert a.digest == b.digest  # same bytes, same labels, other place
    Image.new("RGB", (9, 9)).save(tmp_path / "b" / "train" / "healthy" / "healthy_0.jpg")
    assert load_data(str(tmp_path / "b")).digest != a.digest


class _Index(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int) -> int:
        return i


def test_shuffled_order_depends_on_the_seed_alone():
    def order(workers: int, seed: int = 3) -> list[int]:
        loader = make_loader(_Index(), 4, True, workers, seed)
        return [int(i) for _ in range(3) for batch in loader for i in batch]  # three epochs

    assert order(0) == order(1)  # cached (no workers) and uncached (workers) see the same batches
    assert order(0)[:10] != order(0)[10:20]  # a new permutation each epoch
    assert order(0) != order(0, seed=4)


# Shared memory and CPUs: workers only where there is room for them, never a hang.
def test_workers_fit_the_cpus_and_the_shared_memory():
    batch = 16 * 3 * 224 * 224 * 4  # a training batch of float images, 9.6 MB
    assert worker_count(4, batch, cpus=2, shm=2**30) == 2  # one per CPU
    with pytest.warns(UserWarning, match=r"only 64 MB of shared memory free .*: 2 DataLoader workers instead"):
        assert worker_count(4, batch, cpus=8, shm=64 * 2**20) == 2  # Docker's default /dev/shm: 3 batches each
    with pytest.warns(UserWarning, match=r"only 16 MB of shared memory .*: loading in the main process instead"):
        assert worker_count(4, batch, cpus=8, shm=16 * 2**20) == 0
    assert worker_count(0, batch, cpus=8, shm=0) == 0


@pytest.mark.parametrize(
    ("files", "proc", "cpus"),
    [
        ({"cpu.max": "50000 100000"}, "0::/\n", 1),  # cgroup v2, half a CPU: one worker
        ({"cpu.max": "max 100000"}, "0::/\n", None),  # unlimited
        ({"kube/cpu.max": "150000 100000"}, "0::/kube\n", 2),  # the process's own cgroup, 1.5 CPUs
        ({"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}, "4:cpu:/\n", 1),  # cgroup v1
    ],
)
def test_the_cgroup_cpu_quota_caps_the_cpus(tmp_path, files, proc, cpus):
    import os

    from freeze_study.data.workers import available_cpus

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "self-cgroup").write_text(proc)
    affinity = len(os.sched_getaffinity(0))
    expected = affinity if cpus is None else min(cpus, affinity)
    assert available_cpus(str(tmp_path), str(tmp_path / "self-cgroup")) == expected


class _Stuck(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> int:
        import time

        time.sleep(60)  # a worker that never delivers (a dead or starved worker looks the same)
        return i


def test_a_silent_worker_fails_the_loader_instead_of_hanging_it():
    import time

    loader = make_loader(_Stuck(), 2, False, 1, 0, item_bytes=8, timeout=2)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="DataLoader timed out after 2 seconds") as caught:
        next(iter(loader))
    assert time.monotonic() - start < 30
    assert is_expected(caught.value) and reason(caught.value).endswith("docker run --shm-size=1g)")  # not "a bug"


def _age(root, seconds: float = 60.0) -> None:
    """Files older than the memo's racy window, as a data set's files usually are."""
    then = time.time() - seconds
    for p in root.rglob("*"):
        if p.is_file():
            os.utime(p, (then, then))


def _same_size_garbage(path) -> None:
    """Overwrite the file's bytes in place, keeping its size and modification time (its identity)."""
    st = path.stat()
    path.write_bytes(b"\0" * st.st_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_checks_and_digests_are_remembered_by_file_identity(image_folder, tmp_path):
    _age(image_folder)
    memo = FileMemo(tmp_path / "files.db")
    first = load_data(str(image_folder), memo)
    digest = first.digest
    victim = image_folder / "train" / "healthy" / "healthy_0.jpg"
    _same_size_garbage(victim)  # same path, size and mtime: the memo vouches for it (neither checked nor hashed)
    again = load_data(str(image_folder), FileMemo(tmp_path / "files.db"))
    assert again.digest == digest
    with pytest.raises(DataError, match=r"cannot decode image .*healthy_0\.jpg"):
        load_data(str(image_folder))  # without the memo, every file is checked
    os.utime(victim)  # a new modification time: a new identity, so checked again
    with pytest.raises(DataError, match=r"cannot decode image .*healthy_0\.jpg"):
        load_data(str(image_folder), FileMemo(tmp_path / "files.db"))


def test_a_changed_file_is_hashed_again(image_folder, tmp_path):
    _age(image_folder)
    digest = load_data(str(image_folder), FileMemo(tmp_path / "files.db")).digest
    Image.new("RGB", (9, 9)).save(image_folder / "test" / "healthy" / "healthy_1.jpg")
    _age(image_folder)
    changed = load_data(str(image_folder), FileMemo(tmp_path / "files.db")).digest
    assert changed != digest
    assert changed == load_data(str(image_folder)).digest  # the memo never changes the answer


def test_files_just_written_are_not_remembered(image_folder, tmp_path):
    memo = FileMemo(tmp_path / "files.db")
    load_data(str(image_folder), memo).digest  # noqa: B018 - hashes every file
    victim = image_folder / "validation" / "bean_rust" / "bean_rust_0.jpg"
    _same_size_garbage(victim)  # within the racy window a same-size rewrite could keep the timestamp
    with pytest.raises(DataError, match="bean_rust_0.jpg"):
        load_data(str(image_folder), FileMemo(tmp_path / "files.db"))


def test_an_unusable_memo_is_no_memo(image_folder, tmp_path):
    _age(image_folder)
    (tmp_path / "files.db").mkdir()  # not a database
    with pytest.warns(UserWarning, match="file memo .* unusable"):
        digest = load_data(str(image_folder), FileMemo(tmp_path / "files.db")).digest
    assert digest == load_data(str(image_folder)).digest
