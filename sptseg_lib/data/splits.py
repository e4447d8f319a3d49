"""Zero-shot class splits as data: class names (as the text encoder sees them) and seen/unseen indices."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ZeroShotSplit:
    """A data set's classes and its seen/unseen partition.

    ``class_names[i]`` is the raw name of label ``i`` (the string the text embeddings are made from);
    ``seen`` and ``unseen`` are sorted label indices that partition ``range(len(class_names))``.
    """

    name: str
    class_names: tuple[str, ...]
    unseen: tuple[int, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def seen(self) -> tuple[int, ...]:
        unseen = set(self.unseen)
        return tuple(i for i in range(self.num_classes) if i not in unseen)

    def __post_init__(self) -> None:
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"split {self.name!r}: class names are not unique")
        bad = [i for i in self.unseen if not 0 <= i < len(self.class_names)]
        if bad:
            raise ValueError(f"split {self.name!r}: unseen indices {bad} out of range")
