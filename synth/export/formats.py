"""Writing the splits: JSONL, Parquet (pyarrow) or a Hugging Face `datasets` DatasetDict.

Every row has the same columns (see `dialogs`), so all three formats share one schema:
`messages` (a list of {role, content}) and the metadata columns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

ExportFormat = Literal["jsonl", "parquet", "hf"]


def write_splits(splits: dict[str, list[dict]], out: Path, fmt: ExportFormat) -> list[str]:
    """Write each split into `out` (a directory that exists); returns the paths written."""
    if fmt == "jsonl":
        written = []
        for name, rows in splits.items():
            path = out / f"{name}.jsonl"
            with path.open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            written.append(path.name)
        return written
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.Table.from_pylist(next(rows for rows in splits.values() if rows)).schema
        written = []
        for name, rows in splits.items():
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), out / f"{name}.parquet")
            written.append(f"{name}.parquet")
        return written
    from datasets import Dataset, DatasetDict

    first = Dataset.from_list(next(rows for rows in splits.values() if rows))
    # An empty split keeps the columns (from_list([]) has none) and is written as one shard:
    # by default `datasets` writes no shard for it, and the dictionary then fails to load.
    DatasetDict(
        {
            name: Dataset.from_list(rows, features=first.features) if rows else first.select([])
            for name, rows in splits.items()
        }
    ).save_to_disk(str(out), num_shards={name: 1 for name, rows in splits.items() if not rows})
    return ["dataset_dict.json", *splits]


def read_split(export: Path, split: str = "train") -> list[dict]:
    """The rows of one split of an export directory, whatever its format."""
    if (export / f"{split}.jsonl").exists():
        lines = (
            (export / f"{split}.jsonl").read_text(encoding="utf-8").split("\n")
        )  # not splitlines: U+2028 is text
        return [json.loads(line) for line in lines if line.strip()]
    if (export / f"{split}.parquet").exists():
        import pyarrow.parquet as pq

        return pq.read_table(export / f"{split}.parquet").to_pylist()
    if (export / "dataset_dict.json").exists():
        from datasets import load_from_disk

        return load_from_disk(str(export))[split].to_list()
    raise FileNotFoundError(split)
