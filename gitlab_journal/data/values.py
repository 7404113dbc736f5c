"""In-memory data hashed by value: numpy arrays, pandas DataFrames and Series, scipy sparse
matrices, each by dtype, shape and bytes, so the same data is the same input in any process.

A numpy array (or a tuple or list of them) hashes as it always has in the journal: dtype string,
shape, then its C-ordered bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from gitlab_journal.errors import JournalError


@dataclass(frozen=True)
class Digest:
    """Data already hashed: its md5 stands for it (so large data is hashed once)."""

    md5: str


def value_md5(value: Any) -> str:
    """The md5 of in-memory data: an array-like, or a tuple or list of them."""
    if isinstance(value, Digest):
        return value.md5
    digest = hashlib.md5()
    for item in value if isinstance(value, tuple | list) else (value,):
        _update(digest, item)
    return digest.hexdigest()


def _update(digest: Any, item: Any) -> None:
    module = type(item).__module__
    if module == "pandas" or module.startswith("pandas."):
        _pandas(digest, item)
        return
    if module.startswith("scipy.sparse"):
        _sparse(digest, item)
        return
    import numpy as np

    array = np.ascontiguousarray(np.asarray(item))
    if array.dtype.kind == "O":
        raise JournalError("data: arrays of Python objects cannot be hashed; pass numbers")
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())


def _column(digest: Any, column: Any) -> None:
    """One pandas column: its dtype, then its values' bytes (or pandas' own per-row hash for
    text and other object columns, which have no fixed-width bytes)."""
    import numpy as np
    import pandas as pd

    digest.update(f"{column.dtype}|".encode())
    values = column.to_numpy()
    if isinstance(values, np.ndarray) and values.dtype.kind in "biufcmMS":
        digest.update(np.ascontiguousarray(values).tobytes())
    else:
        hashed = pd.util.hash_pandas_object(column, index=False).to_numpy()
        digest.update(np.ascontiguousarray(hashed).tobytes())


def _pandas(digest: Any, item: Any) -> None:
    import pandas as pd

    if isinstance(item, pd.DataFrame):
        digest.update(f"DataFrame{item.shape}".encode())
        for name in item.columns:
            digest.update(f"{name!s}\0".encode())
            _column(digest, item[name])
    elif isinstance(item, pd.Series):
        digest.update(f"Series{item.shape}{item.name!s}\0".encode())
        _column(digest, item)
    else:
        raise JournalError(f"data: cannot hash a {type(item).__qualname__}")


def _sparse(digest: Any, item: Any) -> None:
    import numpy as np
    import scipy.sparse

    if not scipy.sparse.issparse(item):
        raise JournalError(f"data: cannot hash a {type(item).__qualname__}")
    csr = scipy.sparse.csr_matrix(item, copy=True)
    csr.sum_duplicates()
    csr.sort_indices()
    digest.update(f"sparse{csr.dtype.str}{csr.shape}".encode())
    for part in (csr.data, csr.indices, csr.indptr):
        digest.update(np.ascontiguousarray(part).tobytes())
