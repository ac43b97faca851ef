"""The split hash: which split a row goes to, defined by vtp and stable across library versions.

The definition (all arithmetic on unsigned 64-bit integers, wrapping):

    mix64(z):  z += 0x9E3779B97F4A7C15
               z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
               z = (z ^ (z >> 27)) * 0x94D049BB133111EB
               z ^= z >> 31                               (splitmix64's finaliser)
    x       =  the row's position in the source (0-based, files in sorted order), or the key
               value's hash (below) when a key column is given
    bucket  =  mix64(x ^ mix64(seed)) >> 11               (53 bits, uniform in [0, 2**53))
    split   =  train       if bucket <  floor(train_fraction * 2**53)
               validation  if bucket <  floor((train_fraction + validation_fraction) * 2**53)
               test        otherwise

Key values hash by their text form, so `123` and `"123"` land alike (a column whose inferred
type changes between integer and string keeps its rows' splits): integers as decimal digits,
booleans as `true`/`false`, dates as `YYYY-MM-DD`, strings as their UTF-8 bytes `b_0..b_{L-1}`:

    key(s)  =  mix64(L * P + sum_j (b_j + 1) * P**(L - 1 - j)),   P = 0x100000001B3
    key(null) = 0x6E756C6C6B657921

The row-index part runs as Polars expressions (native, streaming); the key's text hash runs in
numpy on each batch. Neither uses a library's own hash function, whose values change between
versions. `split_ids` is the plain numpy reference of the same definition (tests hold the two
equal).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
PRIME = 0x100000001B3
NULL_KEY = 0x6E756C6C6B657921
MASK = (1 << 64) - 1
BUCKET_BITS = 53
SPLITS = ("train", "validation", "test")


def thresholds(fractions: tuple[float, float, float]) -> tuple[int, int]:
    """The bucket bounds of train and train + validation (integers below 2**53 + 1)."""
    total = math.fsum(fractions)
    train, validation, _ = (f / total for f in fractions)
    scale = 1 << BUCKET_BITS
    first = min(math.floor(train * scale), scale)
    second = min(math.floor((train + validation) * scale), scale)
    if fractions[2] == 0:
        second = scale
    return first, second


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser of a uint64 array (a new array)."""
    import numpy as np

    u64 = np.uint64
    z = x.astype(u64) + u64(GOLDEN)
    z ^= z >> u64(30)
    z *= u64(MIX1)
    z ^= z >> u64(27)
    z *= u64(MIX2)
    z ^= z >> u64(31)
    return z


def mix64_int(z: int) -> int:
    """`mix64` of one integer (Python ints, masked to 64 bits)."""
    z = (z + GOLDEN) & MASK
    z = ((z ^ (z >> 30)) * MIX1) & MASK
    z = ((z ^ (z >> 27)) * MIX2) & MASK
    return z ^ (z >> 31)


def mixed_seed(seed: int) -> int:
    """mix64(seed mod 2**64) as a Python int."""
    return mix64_int(int(seed) & MASK)


def mix64_expr(z: pl.Expr) -> pl.Expr:
    """`mix64` as a Polars expression on UInt64 (shifts as divisions: the same for unsigned)."""
    import polars as pl

    z = z + pl.lit(GOLDEN, pl.UInt64)
    z = (z ^ (z // (1 << 30))) * pl.lit(MIX1, pl.UInt64)
    z = (z ^ (z // (1 << 27))) * pl.lit(MIX2, pl.UInt64)
    return z ^ (z // (1 << 31))


def split_id_expr(x: pl.Expr, seed: int, fractions: tuple[float, float, float]) -> pl.Expr:
    """0 (train), 1 (validation) or 2 (test) as a UInt8 expression of the UInt64 `x`."""
    import polars as pl

    first, second = thresholds(fractions)
    bucket = mix64_expr(x ^ pl.lit(mixed_seed(seed), pl.UInt64)) // (1 << (64 - BUCKET_BITS))
    return (
        pl.when(bucket < first)
        .then(pl.lit(0, pl.UInt8))
        .when(bucket < second)
        .then(pl.lit(1, pl.UInt8))
        .otherwise(pl.lit(2, pl.UInt8))
    )


def split_ids(x: np.ndarray, seed: int, fractions: tuple[float, float, float]) -> np.ndarray:
    """The numpy reference of `split_id_expr`: split ids (uint8) of the uint64 array `x`."""
    import numpy as np

    u64 = np.uint64
    first, second = thresholds(fractions)
    bucket = mix64(x.astype(u64) ^ u64(mixed_seed(seed))) >> u64(64 - BUCKET_BITS)
    bounds = np.array([first, second], dtype=u64)
    return np.searchsorted(bounds, bucket, side="right").astype(np.uint8)


_powers: np.ndarray | None = None


def _powers_upto(n: int) -> np.ndarray:
    import numpy as np

    global _powers
    if _powers is None or len(_powers) < n:
        size = max(n, 2 * (0 if _powers is None else len(_powers)), 64)
        powers = np.cumprod(np.full(size, PRIME, dtype=np.uint64))
        _powers = np.concatenate([np.ones(1, dtype=np.uint64), powers[:-1]])
    return _powers


def text_hash(offsets: np.ndarray, data: np.ndarray, nulls: np.ndarray | None) -> np.ndarray:
    """`key(s)` of each string given Arrow-style int64 `offsets` (n + 1) and uint8 `data`."""
    import numpy as np

    u64 = np.uint64
    lengths = np.diff(offsets)
    h = lengths.astype(u64) * u64(PRIME)
    start, end = int(offsets[0]), int(offsets[-1])
    if end > start:
        values = data[start:end].astype(u64) + u64(1)
        pos = np.repeat(offsets[1:], lengths) - np.arange(start + 1, end + 1)
        values *= _powers_upto(int(lengths.max()))[pos]
        nonempty = lengths > 0
        h[nonempty] += np.add.reduceat(values, offsets[:-1][nonempty] - start)
    h = mix64(h)
    if nulls is not None:
        h[nulls] = u64(NULL_KEY)
    return h


def key_hash_series(values: pl.Series) -> pl.Series:
    """`key(s)` of a String Series (one batch), as a UInt64 Series."""
    import numpy as np
    import polars as pl
    import pyarrow as pa

    arr = values.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_string())
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    data_buffer = arr.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0)
    nulls = arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else None
    return pl.Series(values.name, text_hash(offsets, data.astype(np.uint8), nulls), pl.UInt64)


def key_text_expr(column: str, dtype: pl.DataType) -> pl.Expr:
    """The key column's text form (see the module docstring), or ValueError for other types."""
    import polars as pl

    col = pl.col(column)
    if dtype == pl.String:
        return col
    if dtype.is_integer():
        return col.cast(pl.String)
    if dtype == pl.Boolean:
        return pl.when(col).then(pl.lit("true")).when(~col).then(pl.lit("false"))
    if dtype == pl.Date:
        return col.dt.strftime("%Y-%m-%d")
    if dtype == pl.Categorical or dtype == pl.Enum:
        return col.cast(pl.String)
    raise ValueError(dtype)


def key_hash_expr(column: str, dtype: pl.DataType) -> pl.Expr:
    """`key(value)` of a key column as a UInt64 expression, batch by batch."""
    import polars as pl

    return key_text_expr(column, dtype).map_batches(
        key_hash_series, return_dtype=pl.UInt64, is_elementwise=True
    )
