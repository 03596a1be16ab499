"""Copier migration helper: carry a user-owned file over to the path a new template release uses.

`copier update` runs it from the project root in the *before* stage of a `_migrations` entry
(see copier.yml), only when the update crosses the entry's `version`:

    python move.py OLD NEW [OLD NEW ...]

Why a migration is needed: files in `_skip_if_exists` (job configs the user tunes) are never
merged on update. If a release renames one, copier would create the new path from the template
defaults and leave the user's tuned file orphaned at the old path: the jobs would silently run
with default settings. Moving the file before copier renders the new release keeps the user's
content at the new path; copier then skips it (it exists) and has nothing left to do at the old
path.

Only the work tree is changed, never the git index: copier builds the user's history diff from
the index, so the move stays visible in `git status` for review. The move is idempotent and
never overwrites: if NEW already exists, both files are kept and a warning says which to merge.
Standard library only: it runs with the interpreter that runs copier (`{{ _copier_python }}`).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def move(old: Path, new: Path) -> str:
    """Move OLD to NEW when only OLD exists; return what was done, for the update log."""
    if not old.exists():
        return f"{old.as_posix()} is absent: nothing to move"
    if new.exists():
        return (
            f"WARNING: both {old.as_posix()} and {new.as_posix()} exist: kept both; "
            f"merge your settings into {new.as_posix()} and delete {old.as_posix()}"
        )
    new.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(old, new)
    parent = old.parent
    while parent != Path() and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
    return f"moved {old.as_posix()} -> {new.as_posix()}"


def main(argv: list[str]) -> int:
    """Move each OLD NEW pair, relative to the working directory (the project root)."""
    if not argv or len(argv) % 2:
        print("usage: move.py OLD NEW [OLD NEW ...]", file=sys.stderr)
        return 2
    for old, new in zip(argv[::2], argv[1::2], strict=True):
        if (
            Path(old).is_absolute()
            or Path(new).is_absolute()
            or ".." in Path(old + "/" + new).parts
        ):
            print(f"refusing paths outside the project: {old} {new}", file=sys.stderr)
            return 2
        print(f"migration: {move(Path(old), Path(new))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
