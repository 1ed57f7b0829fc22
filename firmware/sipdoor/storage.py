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
    rename_over(tmp, path)


def rename_over(src, dst):
    """Rename src to dst, replacing dst: FAT on a board refuses to rename
    over a file, so dst goes first there (the one moment with neither)."""
    try:
        os.rename(src, dst)
    except OSError:
        try:
            os.remove(dst)
        except OSError:
            pass
        os.rename(src, dst)


def os_reason(e):
    """A short reason for a failed file operation, for one-line errors."""
    code = e.args[0] if e.args else None
    return {2: "file not found", 13: "permission denied", 21: "is a directory"}.get(code, "cannot read file")
