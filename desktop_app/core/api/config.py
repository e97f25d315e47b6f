"""How the local API runs: address, limits, origins; the policy's word first.

``ApiOptions`` is plain data. ``options_for`` lays the machine policy over what the
person asked for (command-line flags, or ``<config>/api.json``) and raises
``ApiNotAllowedError`` with a sentence when the policy forbids it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..json_files import MAX_BYTES_SETTINGS, JsonFileError, read_json_file
from ..policy import Policy
from .origins import interface_problem, is_loopback, normalize_origin

DEFAULT_PORT = 8477
SETTINGS_FILE = "api.json"


class ApiNotAllowedError(ConfigError):
    """The organization's policy does not let the API run this way."""


@dataclass(frozen=True)
class ApiOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    ports_to_try: int = 20             # the port in use: the next free one, up to this many
    allowed_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1_000_000    # a request body larger than this: 413
    max_tokens_cap: int = 8192         # max_tokens above this: 400
    queue_size: int = 4                # generation requests running or waiting; more: 429
    recent_calls: int = 50             # callers remembered for the window

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ApiOptions":
        names = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in names}
        if "allowed_origins" in values:
            values["allowed_origins"] = tuple(values["allowed_origins"])
        return cls(**values)


def read_person_settings(config_dir: Path) -> dict[str, Any]:
    """``<config>/api.json``: ``{"port": 8477, "allowed_origins": ["https://..."]}``
    (optional). Raises ConfigError naming the file and the key."""
    path = Path(config_dir) / SETTINGS_FILE
    if not path.exists():
        return {}
    try:
        raw = read_json_file(path, max_bytes=MAX_BYTES_SETTINGS)
    except JsonFileError as exc:
        raise ConfigError(str(exc)) from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a JSON object like {{\"port\": {DEFAULT_PORT}}}")
    values: dict[str, Any] = {}
    port = raw.get("port")
    if port is not None:
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise ConfigError(f"{path}, key 'port': must be a port number from 1 to 65535")
        values["port"] = port
    origins = raw.get("allowed_origins", [])
    if not isinstance(origins, list) or any(normalize_origin(o) is None for o in origins):
        raise ConfigError(f"{path}, key 'allowed_origins': must be a list of origins such "
                          "as \"https://notes.example\" (no \"*\", no paths)")
    values["allowed_origins"] = tuple(normalize_origin(o) for o in origins)
    return values


def options_for(policy: Policy, *, host: str | None = None, port: int | None = None,
                origins: tuple[str, ...] = (), person: dict[str, Any] | None = None,
                base: ApiOptions = ApiOptions()) -> ApiOptions:
    """The options to run with: the person's choices within what the policy allows."""
    if not policy.api_enabled:
        raise ApiNotAllowedError(
            f"the local API is turned off by your organization's policy ({policy.file}); "
            "ask your IT department if you need it")
    person = person or {}
    host = (host or "127.0.0.1").strip()
    if (problem := interface_problem(host)) is not None:
        raise ConfigError(f"cannot listen on {host}: {problem}")
    if not is_loopback(host) and policy.api_interfaces is not None \
            and host not in policy.api_interfaces:
        allowed = ", ".join(policy.api_interfaces) or "none besides loopback"
        raise ApiNotAllowedError(
            f"your organization's policy ({policy.file}) lets the local API listen only on "
            f"loopback (127.0.0.1) and: {allowed}; {host} is not one of them")
    wanted = []
    for origin in (*person.get("allowed_origins", ()), *origins):
        normal = normalize_origin(origin)
        if normal is None:
            raise ConfigError(f"{origin!r} is not a web origin such as "
                              "\"https://notes.example\" (no \"*\", no paths)")
        wanted.append(normal)
    if policy.api_origins is not None:  # the organization's list is the list
        refused = [o for o in wanted if o not in policy.api_origins]
        if refused:
            raise ApiNotAllowedError(
                f"your organization's policy ({policy.file}) sets the web origins the local "
                f"API answers; {', '.join(refused)} is not one of them")
        chosen = tuple(policy.api_origins)
    else:
        chosen = tuple(dict.fromkeys(wanted))
    return replace(base, host=host, port=port or person.get("port") or base.port,
                   allowed_origins=chosen)
