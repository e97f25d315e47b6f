"""A problem report: one zip a person can send to support, never their chats or documents.

What goes in, and only this: Scalpel's log files (``scalpel.log`` and its rotated
copies), the ``scalpel doctor --json`` report, the build's versions and backends
(``build_info``), the settings file with secrets blanked, and a README saying what is
and is not inside. The files are named one by one; nothing is collected by walking a
folder, so the chat store (``chats.sqlite3`` and its WAL), presets and models can never
slip in.

The doctor report is made by running ``scalpel doctor --json`` as its own process: it
loads llama.cpp to describe the build, and the window's process must never load
libllama. The zip is written to a temporary file beside the target and moved into
place (``os.replace``), so a half-written report is never left under the chosen name.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .build_info import llama_build, versions
from .errors import ScalpelError
from .logs import LOG_FILE_NAME
from .paths import Paths

log = logging.getLogger(__name__)

DOCTOR_TIMEOUT_S = 90
SECRET_WORDS = ("token", "secret", "password", "api_key")
REDACTED = "(removed from the report)"


class ProblemReportError(ScalpelError):
    """The report could not be written; str() says where and why."""


@dataclass(frozen=True)
class DoctorOutput:
    """What ``scalpel doctor --json`` gave: its JSON text, or why there is none."""

    text: str | None
    problem: str | None = None


@dataclass(frozen=True)
class ProblemReport:
    path: Path
    members: tuple[str, ...] = field(default_factory=tuple)
    doctor_problem: str | None = None   # the doctor report is missing, and why

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "members": list(self.members),
                "doctor_problem": self.doctor_problem}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProblemReport":
        return cls(path=Path(data["path"]), members=tuple(data.get("members") or ()),
                   doctor_problem=data.get("doctor_problem"))


def doctor_command() -> list[str]:
    """``scalpel doctor --json``: from source, or the frozen console executable."""
    if not getattr(sys, "frozen", False):
        return [sys.executable, "-m", "desktop_app", "doctor", "--json"]
    console = Path(sys.executable).with_name("scalpel.exe" if sys.platform == "win32"
                                             else "scalpel")
    return [str(console if console.is_file() else sys.executable), "doctor", "--json"]


def run_doctor(*, command: list[str] | None = None,
               timeout: float = DOCTOR_TIMEOUT_S) -> DoctorOutput:
    """Run the doctor in its own process (same environment, so the same folders)."""
    argv = command or doctor_command()
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL,  # no console window flashes up:
                              creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
    except subprocess.TimeoutExpired:
        return DoctorOutput(None, f"scalpel doctor did not finish within {timeout:.0f} s")
    except OSError as exc:
        return DoctorOutput(None, f"scalpel doctor could not start ({exc.strerror or exc})")
    text = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0 or not text.strip():
        tail = done.stderr.decode("utf-8", "replace").strip()[-400:]
        return DoctorOutput(None, f"scalpel doctor ended with code {done.returncode}"
                                  + (f": {tail}" if tail else ""))
    return DoctorOutput(text)


def log_files(paths: Paths) -> list[Path]:
    """scalpel.log and its rotated copies (scalpel.log.1, .2, ...), oldest last."""
    base = paths.log_dir / LOG_FILE_NAME
    found = [base] if base.is_file() else []
    index = 1
    while (rotated := base.with_name(f"{LOG_FILE_NAME}.{index}")).is_file():
        found.append(rotated)
        index += 1
    return found


def redacted(value: Any) -> Any:
    """``value`` with the values of secret-looking keys replaced (nested objects too).

    A key that only names where a secret lives (``api_key_env``) is kept."""
    if isinstance(value, dict):
        return {key: (REDACTED if _is_secret(key) and item not in (None, "") else
                      redacted(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


def _is_secret(key: str) -> bool:
    lowered = key.lower()
    return (any(word in lowered for word in SECRET_WORDS)
            and not lowered.endswith(("_env", "_env_var", "_variable")))


def _settings_text(paths: Paths) -> str | None:
    try:
        raw = json.loads(paths.settings_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return json.dumps({"unreadable": f"{type(exc).__name__}: {exc}"}, indent=2)
    return json.dumps(redacted(raw), indent=2, ensure_ascii=False)


def _readme(doctor: DoctorOutput, logs: list[Path]) -> str:
    lines = [
        "Scalpel problem report",
        f"Made {time.strftime('%Y-%m-%d %H:%M:%S %z')}.",
        "",
        "Inside: Scalpel's log files, the `scalpel doctor` report (versions, folders, CPU,",
        "memory, llama.cpp build, models found, the organization's policy), the build's",
        "backends, and the settings file with tokens and keys removed.",
        "Not inside: chats, documents, presets, models, the API token.",
        "",
        f"Log files: {', '.join(p.name for p in logs) or 'none yet'}.",
    ]
    if doctor.problem:
        lines.append(f"The doctor report is missing: {doctor.problem}.")
    return "\n".join(lines) + "\n"


def save_problem_report(paths: Paths, target: Path, *,
                        doctor: Callable[[], DoctorOutput] = run_doctor) -> ProblemReport:
    """Write the report to ``target`` (a .zip); raises ProblemReportError."""
    target = Path(target)
    logs = log_files(paths)
    report = doctor()
    members: dict[str, Path | str] = {"README.txt": _readme(report, logs)}
    if report.text is not None:
        members["doctor.json"] = report.text
    else:
        members["doctor-problem.txt"] = (report.problem or "unknown") + "\n"
    members["build.json"] = json.dumps({"versions": versions(),
                                        "llama_cpp": llama_build().to_dict()}, indent=2)
    settings = _settings_text(paths)
    if settings is not None:
        members["settings.json"] = settings
    for path in logs:
        members[f"logs/{path.name}"] = path
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, content in members.items():
                if isinstance(content, Path):
                    archive.write(content, name)
                else:
                    archive.writestr(name, content)
        os.replace(tmp, target)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # its folder is the problem: there is nothing to remove
        raise ProblemReportError(f"could not save the problem report to {target} "
                                 f"({exc.strerror or exc}); choose another folder") from exc
    log.info("problem report saved to %s", target)
    return ProblemReport(path=target, members=tuple(members), doctor_problem=report.problem)


def default_report_name(now: float | None = None) -> str:
    return time.strftime("scalpel-problem-report-%Y%m%d-%H%M.zip", time.localtime(now))
