"""An export's file on disk while it is written and sent: memory stays bounded whatever the slide's size.

`tempfile.TemporaryFile` has no name in the folder (Linux O_TMPFILE, or unlinked at once): the space comes
back when it is closed, or when the process ends, even if Orthanc is killed mid-answer.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import BinaryIO


class SpooledFile:
    def __init__(self, folder: str = "") -> None:
        # Closed by close(), which the adapter calls once the answer is sent (or the route on failure).
        self.file: BinaryIO = tempfile.TemporaryFile(prefix="wsi-export-", dir=folder or None)  # noqa: SIM115

    @property
    def length(self) -> int:
        return self.file.seek(0, 2)

    def chunks(self, size: int) -> Iterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(size):
            yield chunk

    def read_all(self) -> bytes:
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.file.close()
