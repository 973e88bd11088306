"""Writing the splits as rows stream in: JSONL, Parquet (pyarrow) or a Hugging Face
`datasets` DatasetDict.

Every row has the same columns (see `dialogs`, `preferences`), so all three formats share
one schema: `messages` (a list of {role, content}) and the metadata columns. Memory is
bounded whatever the export's size: JSONL is written a line a row; Parquet through
`pyarrow.parquet.ParquetWriter`, one row group every `ROW_GROUP_ROWS` rows (the schema is
the first row's, with the known columns' types fixed, so a later row can never meet a
column typed from nulls); a DatasetDict from Arrow stream files written the same way,
which `Dataset.from_file` memory-maps (no copy in memory or in a cache) for `save_to_disk`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Literal

ExportFormat = Literal["jsonl", "parquet", "hf"]
SPLITS = ("train", "validation")
ROW_GROUP_ROWS = 4096
_ENDINGS = {"jsonl": "jsonl", "parquet": "parquet", "hf": "arrow"}


def _known_types() -> dict:
    import pyarrow as pa

    messages = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    return {
        **dict.fromkeys(("messages", "prompt", "chosen", "rejected"), messages),
        **dict.fromkeys(("skills", "verdict_ids"), pa.list_(pa.string())),
        **dict.fromkeys(("rounds", "seed"), pa.int64()),
        "corrected": pa.bool_(),
    }


def schema_of(row: dict):
    """The Parquet schema of rows like `row`: known columns typed, any other string
    (or, when it holds no string, what pyarrow infers from the value)."""
    import pyarrow as pa

    known = _known_types()
    fields = []
    for name, value in row.items():
        if name in known:
            fields.append((name, known[name]))
        elif isinstance(value, str) or value is None:
            fields.append((name, pa.string()))
        else:
            fields.append((name, pa.infer_type([value])))
    return pa.schema(fields)


def jsonl_line(row: dict) -> str:
    """A row as a line of a JSONL split (non-ASCII kept as it is)."""
    return json.dumps(row, ensure_ascii=False) + "\n"


class _JsonlFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = path.open("w", encoding="utf-8")

    def write(self, row: dict) -> None:
        self._handle.write(jsonl_line(row))

    def write_line(self, line: str) -> None:
        self._handle.write(line)

    def copy(self, lines) -> None:
        """Append a text file of lines, as it is."""
        shutil.copyfileobj(lines, self._handle)

    def close(self) -> None:
        self._handle.close()


class _TableFile:
    """Rows written as Arrow tables of `row_group_rows` rows: Parquet row groups, or record
    batches of an Arrow stream (`arrow=True`)."""

    def __init__(self, path: Path, files: SplitFiles, arrow: bool = False) -> None:
        self.path = path
        self._files = files  # holds the schema, fixed by the first row of either split
        self._rows: list[dict] = []
        self._writer = None
        self._arrow = arrow

    def write(self, row: dict) -> None:
        self._rows.append(row)
        if len(self._rows) >= self._files.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = self._files.schema
        if self._writer is None and self._arrow:
            self._writer = pa.ipc.new_stream(str(self.path), schema)
        elif self._writer is None:
            self._writer = pq.ParquetWriter(self.path, schema)
        self._writer.write_table(pa.Table.from_pylist(self._rows, schema=schema))
        self._rows = []

    def close(self) -> None:
        if self._rows or self._writer is None:  # an empty split: a file of no rows
            self._flush()
        self._writer.close()
        self._writer = None


class SplitFiles:
    """The files of the splits of one export, in the directory `out`, written as rows come:
    `write(split, row)`, then `close()`, then `finish()`."""

    def __init__(self, out: Path, fmt: ExportFormat, row_group_rows: int = 0) -> None:
        self.out = out
        self.fmt = fmt
        self.row_group_rows = row_group_rows or ROW_GROUP_ROWS
        self.schema = None
        self._dir = out / ".arrow" if fmt == "hf" else out
        self._dir.mkdir(exist_ok=True)
        self._files = {name: self._open(name) for name in SPLITS}

    def _path(self, name: str) -> Path:
        return self._dir / f"{name}.{_ENDINGS[self.fmt]}"

    def _open(self, name: str) -> _JsonlFile | _TableFile:
        if self.fmt == "jsonl":
            return _JsonlFile(self._path(name))
        return _TableFile(self._path(name), self, arrow=self.fmt == "hf")

    def write(self, split: str, row: dict) -> None:
        self.begin(row)
        self._files[split].write(row)

    def begin(self, row: dict) -> None:
        """Take the schema from `row`, the export's first row, when rows come by `append`
        in another order than the run's (the first row written fixes it otherwise)."""
        if self.schema is None and self.fmt != "jsonl":
            self.schema = schema_of(row)

    def append(self, split: str, part: Path) -> None:
        """Write the rows of `part` (a file of `jsonl_line`s, as UTF-8), in order, to
        `split`: a JSONL split gets its bytes as they are, the others its rows."""
        file = self._files[split]
        with part.open(encoding="utf-8", newline="\n") as lines:
            if isinstance(file, _JsonlFile):
                file.copy(lines)
                return
            for line in lines:
                self.write(split, json.loads(line))

    def close(self) -> None:
        for file in self._files.values():
            file.close()

    def move_problem(self, problem_id: str, from_side: str, to_side: str) -> int:
        """After `close`: move the rows of one problem from one split into the other, which
        must be empty (what synth.export.split asks for); returns how many moved. Both files
        are streamed again, in order."""
        source = self._path(from_side)
        moving = source.with_name(f".moving-{source.name}")
        os.replace(source, moving)
        self._files = {name: self._open(name) for name in SPLITS}
        moved = 0
        for line, row in _stream(moving, self.fmt):
            side = to_side if row["problem_id"] == problem_id else from_side
            moved += side == to_side
            file = self._files[side]
            if isinstance(file, _JsonlFile):
                file.write_line(line)  # the same bytes as written the first time
            else:
                file.write(row)
        self.close()
        moving.unlink()
        return moved

    def finish(self) -> list[str]:
        """After `close`: the names written in `out` (a DatasetDict is made now)."""
        if self.fmt != "hf":
            return [self._path(name).name for name in SPLITS]
        from datasets import Dataset, DatasetDict

        splits = {name: Dataset.from_file(str(self._path(name))) for name in SPLITS}
        # An empty split is written as one shard: by default `datasets` writes no shard
        # for it, and the dictionary then fails to load.
        empty = {name: 1 for name, split in splits.items() if len(split) == 0}
        DatasetDict(splits).save_to_disk(str(self.out), num_shards=empty)
        del splits
        shutil.rmtree(self._dir, ignore_errors=True)
        return ["dataset_dict.json", *SPLITS]


def _stream(path: Path, fmt: ExportFormat):
    """(the JSONL line or "", row) of each row of a split file, in order."""
    if fmt == "jsonl":
        with path.open(encoding="utf-8", newline="\n") as handle:
            for line in handle:
                yield line, json.loads(line)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    if fmt == "hf":
        batches = pa.ipc.open_stream(pa.memory_map(str(path)))
    else:
        batches = pq.ParquetFile(path).iter_batches(batch_size=ROW_GROUP_ROWS)
    for batch in batches:
        for row in batch.to_pylist():
            yield "", row


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
