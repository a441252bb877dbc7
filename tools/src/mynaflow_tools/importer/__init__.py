"""Reading J-LIS notice files for `mynaflow notices import` (pure: no Kafka, no database).

`read_notice_file(path)` turns a CSV (UTF-8 or Shift_JIS) or JSON Lines file into `ImportRow`s:
the bytes to publish on `jlis.notices.raw`, the Kafka key, and, for rows that could not be
parsed, the line number and why. Nothing in a file is dropped: an unparseable row is still
published as its raw line, so that notice-intake quarantines and receipts it.
"""

from mynaflow_tools.importer.reader import (
    FileFormat,
    ImportFileError,
    ImportRow,
    NoticeFile,
    read_notice_bytes,
    read_notice_file,
)

__all__ = [
    "FileFormat",
    "ImportFileError",
    "ImportRow",
    "NoticeFile",
    "read_notice_bytes",
    "read_notice_file",
]
