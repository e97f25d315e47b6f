"""What the machine's policy allows of documents: on or off, and from which folders.

IT sets ``documents_enabled`` and ``documents_folders`` in the policy file
(core/policy). Each check returns None when allowed, else the sentence to show.
Paths are compared after resolving links, so a link inside an allowed folder that
points elsewhere is not a way out.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ScalpelError
from ..policy import Policy


class DocumentsNotAllowedError(ScalpelError):
    """The organization's policy turns documents off or keeps this path out."""


def documents_refusal(policy: Policy) -> str | None:
    if policy.documents_enabled:
        return None
    where = f" ({policy.file})" if policy.file else ""
    return ("your organization's policy turns off your own documents on this computer"
            f"{where}; ask your IT department")


def path_refusal(policy: Policy, path: str | Path) -> str | None:
    """None when ``path`` may be indexed, else why not."""
    refusal = documents_refusal(policy)
    if refusal or policy.documents_folders is None:
        return refusal
    target = _resolved(path)
    for folder in policy.documents_folders:
        base = _resolved(folder)
        if target == base or base in target.parents:
            return None
    allowed = ", ".join(str(f) for f in policy.documents_folders) or "none"
    return (f"{path} is outside the folders your organization's policy allows for documents "
            f"({allowed}); move the files into one of them")


def check_path(policy: Policy, path: str | Path) -> None:
    refusal = path_refusal(policy, path)
    if refusal:
        raise DocumentsNotAllowedError(refusal)


def _resolved(path: str | Path) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError):
        return Path(path).expanduser().absolute()
