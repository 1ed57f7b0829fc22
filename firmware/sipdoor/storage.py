"""Files that must survive a power cut: write aside, flush, then rename."""

import os


def write_atomic(path, text):
    """Replace path with text; a crash leaves either the old or the new file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        if hasattr(os, "fsync"):
            os.fsync(f.fileno())
    try:
        os.rename(tmp, path)
    except OSError:
        # Some filesystems (FAT on a board) refuse to rename over a file.
        try:
            os.remove(path)
        except OSError:
            pass
        os.rename(tmp, path)


def os_reason(e):
    """A short reason for a failed file operation, for one-line errors."""
    code = e.args[0] if e.args else None
    return {2: "file not found", 13: "permission denied", 21: "is a directory"}.get(code, "cannot read file")
