"""Writing objects straight into a pack: the ``.pack`` and its version 2 ``.idx``, as git's own
``pack-objects --window=0`` writes them (every object whole, zlib-compressed, no deltas).

A batch of records (see :mod:`gitlab_journal.journal.batch`) ends here instead of in a file per
object. The pack is written under a temporary name and renamed into place before its index (git's
own order), so a reader that finds the index finds the whole pack; ``git fsck`` and ``git
verify-pack`` read them like any other pack, and ``git gc`` compresses them when it merges packs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path

PACK_SIGNATURE = b"PACK"
IDX_SIGNATURE = b"\377tOc"
_LARGE = 0x80000000  # offsets from here on go to the index's table of 8-byte offsets


def _entry_header(kind: int, size: int) -> bytes:
    """A pack entry's header: the type and the inflated size, 7 bits a byte after the first 4."""
    out = bytearray()
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def pack_bytes(objects: Mapping[bytes, tuple[int, bytes]]) -> tuple[bytes, bytes]:
    """The pack and its index for ``objects`` (raw 20-byte id -> (git type 1-4, content))."""
    body = bytearray(PACK_SIGNATURE + struct.pack(">II", 2, len(objects)))
    where: dict[bytes, tuple[int, int]] = {}  # id -> (offset, crc32 of the packed entry)
    for raw, (kind, data) in objects.items():
        entry = _entry_header(kind, len(data)) + zlib.compress(data)
        where[raw] = (len(body), zlib.crc32(entry))
        body += entry
    pack_id = hashlib.sha1(body).digest()
    body += pack_id

    names = sorted(where)
    fanout = [0] * 256
    for raw in names:
        fanout[raw[0]] += 1
    total = 0
    for i in range(256):
        total += fanout[i]
        fanout[i] = total
    small: list[int] = []
    large: list[int] = []
    for raw in names:
        offset = where[raw][0]
        if offset < _LARGE:
            small.append(offset)
        else:
            small.append(_LARGE | len(large))
            large.append(offset)
    index = bytearray(IDX_SIGNATURE + struct.pack(">I", 2))
    index += struct.pack(">256I", *fanout)
    index += b"".join(names)
    index += struct.pack(f">{len(names)}I", *(where[raw][1] for raw in names))
    index += struct.pack(f">{len(small)}I", *small)
    index += struct.pack(f">{len(large)}Q", *large)
    index += pack_id
    index += hashlib.sha1(index).digest()
    return bytes(body), bytes(index)


def write_pack(pack_dir: Path, objects: Mapping[bytes, tuple[int, bytes]]) -> Path:
    """Write ``objects`` as one pack in ``pack_dir`` (``.git/objects/pack``): the ``.pack``
    path. An ``OSError`` (a full disk) leaves nothing behind."""
    body, index = pack_bytes(objects)
    name = f"pack-{body[-20:].hex()}"
    pack, idx = pack_dir / f"{name}.pack", pack_dir / f"{name}.idx"
    # git's own prefix for temporary files: `git gc` removes any a killed writer left
    pack_tmp, idx_tmp = pack_dir / f"tmp_pack_{name}", pack_dir / f"tmp_idx_{name}"
    try:
        for path, data in ((pack_tmp, body), (idx_tmp, index)):
            with open(path, "wb") as handle:
                handle.write(data)
            os.chmod(path, 0o444)  # as git leaves its packs
        os.replace(pack_tmp, pack)
        os.replace(idx_tmp, idx)  # last: a reader looks for packs by their index
    except OSError:
        for path in (pack_tmp, idx_tmp):
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    return pack
