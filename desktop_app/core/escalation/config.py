"""Where escalation to the organization's bigger model is configured, and who decided.

One JSON object, the same in the machine policy (key ``escalation``, which locks it) and in
the person's ``settings.json`` (used only when the policy does not set it)::

    {"mode": "ask", "endpoint": "https://llm.example/v1", "model": "qwen2.5-72b",
     "api_key_env": "SCALPEL_LLM_KEY", "tasks": ["code", "general"], "share_budget": 0.2,
     "thresholds": {"logprob_p10": -3.2, "repetition": 0.5}}

``EscalationConfig.from_dict`` checks every key and raises ``EscalationConfigError`` with a
sentence naming the key at fault; ``resolve_escalation`` picks the one that applies. A
policy with problems that does not set ``escalation`` turns it off and locks it: an admin's
typo elsewhere must not let chats leave the machine. ``remote_engine_for`` builds the
``RemoteEngine`` (the policy's proxy and CA bundle, the key from its variable or file) and
is the only place here that can lead to a connection: with mode "off", or no endpoint or
model, it returns None without importing any HTTP code.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlparse

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..engine.remote import RemoteEngine
    from ..policy import Policy
    from ..settings import Settings

MODES = ("off", "ask", "auto")
SOURCES = ("policy", "settings", "default")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_PRESET_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_KEYS = ("mode", "endpoint", "model", "api_key_env", "api_key_file", "tasks", "share_budget",
         "thresholds")
MAX_KEY_FILE_BYTES = 16 * 1024


class EscalationConfigError(ConfigError):
    """An ``escalation`` object that breaks its rules, or an API key that cannot be read."""


@dataclass(frozen=True)
class Thresholds:
    """When a finished local answer counts as weak (core/escalation/weak_answer.py).

    ``logprob_p10``: weak when the 10th percentile of the answer's token log-probabilities
    is below it (per-token quantiles, not the length-biased product; ``scalpel route
    calibrate`` finds the value that escalates a chosen share). ``logprob_mean`` and
    ``first_token_margin``: optional extra bars (None: not used). ``repetition``: weak when
    a repeated run covers at least this share of the answer's tail. Answers with fewer than
    ``min_scored_tokens`` scored tokens are not judged on log-probabilities."""
    logprob_p10: float | None = -3.0
    logprob_mean: float | None = None
    first_token_margin: float | None = None
    repetition: float = 0.5
    min_scored_tokens: int = 4

    _RULES = {"logprob_p10": ("a log-probability from -100 to 0, or null", -100.0, 0.0, True),
              "logprob_mean": ("a log-probability from -100 to 0, or null", -100.0, 0.0, True),
              "first_token_margin": ("a margin from 0 to 100, or null", 0.0, 100.0, True),
              "repetition": ("a share from 0.05 to 1", 0.05, 1.0, False),
              "min_scored_tokens": ("a whole number from 1 to 10000", 1, 10_000, False)}

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._RULES}

    @classmethod
    def from_dict(cls, data: Any) -> "Thresholds":
        if not isinstance(data, dict):
            raise _problem("thresholds", "must be an object like {\"logprob_p10\": -3.0}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            rule = cls._RULES.get(name)
            if rule is None:
                raise _problem("thresholds", f"'{name}' is not a threshold; known ones are "
                               + ", ".join(cls._RULES))
            meaning, low, high, optional = rule
            whole = name == "min_scored_tokens"
            if value is None and optional:
                values[name] = None
            elif (_is_number(value) and (not whole or isinstance(value, int))
                  and low <= value <= high):
                values[name] = int(value) if whole else float(value)
            else:
                raise _problem("thresholds", f"'{name}' must be {meaning}, not {value!r}")
        return cls(**values)


@dataclass(frozen=True)
class EscalationConfig:
    mode: str = "off"                      # "off" | "ask" | "auto"
    endpoint: str | None = None            # an OpenAI-compatible base URL (".../v1")
    model: str | None = None               # the model's id on that server
    api_key_env: str | None = None         # the name of an environment variable holding the key
    api_key_file: str | None = None        # or an absolute path to a file holding it
    tasks: tuple[str, ...] | None = None   # preset ids that may escalate; None: all
    share_budget: float = 0.2              # automatic escalations: at most this share (30 days)
    thresholds: Thresholds = field(default_factory=Thresholds)
    source: str = "default"                # "policy" | "settings" | "default"
    locked: bool = False                   # the policy set it: the person cannot change it

    @property
    def configured(self) -> bool:
        """On, with somewhere to send to: only then may anything open a connection."""
        return self.mode != "off" and bool(self.endpoint) and bool(self.model)

    def allows_task(self, preset_id: str | None) -> bool:
        return self.tasks is None or (preset_id is not None and preset_id in self.tasks)

    def to_dict(self) -> dict[str, Any]:
        """The object as it is written in policy.json or settings.json."""
        return {"mode": self.mode, "endpoint": self.endpoint, "model": self.model,
                "api_key_env": self.api_key_env, "api_key_file": self.api_key_file,
                "tasks": None if self.tasks is None else list(self.tasks),
                "share_budget": self.share_budget, "thresholds": self.thresholds.to_dict()}

    def describe(self) -> dict[str, Any]:
        """``to_dict`` plus where it came from (``--json`` output, Model details)."""
        return {**self.to_dict(), "source": self.source, "locked": self.locked,
                "configured": self.configured}

    def with_thresholds(self, **changes: Any) -> "EscalationConfig":
        return replace(self, thresholds=replace(self.thresholds, **changes))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "settings",
                  locked: bool = False) -> "EscalationConfig":
        """Check one ``escalation`` object; EscalationConfigError names the key at fault."""
        if not isinstance(data, dict):
            raise _problem(None, "must be an object like {\"mode\": \"ask\", \"endpoint\": "
                                 "\"https://llm.example/v1\", \"model\": \"...\"}")
        for key in data:
            if key not in _KEYS:
                raise _problem(key, "is not an escalation key; known keys are "
                               + ", ".join(_KEYS))
        mode = data.get("mode", "off")
        if mode not in MODES:
            raise _problem("mode", f"must be \"off\", \"ask\" or \"auto\", not {mode!r}")
        budget = data.get("share_budget", 0.2)
        if not (_is_number(budget) and 0.0 <= budget <= 1.0):
            raise _problem("share_budget", f"must be a share from 0 to 1 (0.2 is 20 %), "
                                           f"not {budget!r}")
        return cls(mode=mode, endpoint=_endpoint(data.get("endpoint")),
                   model=_text(data, "model", "the model's id on the server"),
                   api_key_env=_env_name(data.get("api_key_env")),
                   api_key_file=_key_file(data.get("api_key_file")),
                   tasks=_tasks(data.get("tasks")), share_budget=float(budget),
                   thresholds=Thresholds.from_dict(data.get("thresholds") or {}),
                   source=source, locked=locked)


OFF_BY_POLICY_PROBLEMS = EscalationConfig(source="policy", locked=True)


def policy_escalation(policy: "Policy") -> EscalationConfig | None:
    """The escalation the policy imposes (locked), or None when the person decides. A
    policy file with problems that does not set it turns escalation off."""
    config = getattr(policy, "escalation", None)
    if config is not None:
        return config
    return OFF_BY_POLICY_PROBLEMS if policy.managed and policy.problems else None


def resolve_escalation(policy: "Policy", settings: "Settings") -> EscalationConfig:
    """The policy's object if it sets one (locked), else the person's, else off."""
    imposed = policy_escalation(policy)
    if imposed is not None:
        return imposed
    own = getattr(settings, "escalation", None)
    if own is None:
        return EscalationConfig()
    try:
        return EscalationConfig.from_dict(own, source="settings")
    except EscalationConfigError:  # settings.py checked it on load; a hand edit since: off
        return EscalationConfig(source="settings")


def read_api_key(config: EscalationConfig,
                 environ: Mapping[str, str] | None = None) -> str | None:
    """The API key from the variable or the file the config names (None: none is named).
    EscalationConfigError when it is named but missing or unreadable."""
    environ = os.environ if environ is None else environ
    if config.api_key_env:
        value = environ.get(config.api_key_env, "").strip()
        if value:
            return value
        if not config.api_key_file:
            raise EscalationConfigError(
                f"the API key for {config.endpoint} should be in the environment variable "
                f"{config.api_key_env}, which is not set; set it, or ask your IT department")
    if config.api_key_file:
        path = Path(config.api_key_file)
        try:
            with path.open("rb") as handle:
                value = handle.read(MAX_KEY_FILE_BYTES + 1).decode("utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or "it is not text"
            raise EscalationConfigError(
                f"the API key file {path} for {config.endpoint} cannot be read ({why}); "
                "check the path and its permissions") from exc
        if not value or len(value) > MAX_KEY_FILE_BYTES or any(c.isspace() for c in value):
            raise EscalationConfigError(f"the API key file {path} does not hold one key "
                                        "(it is empty, too long or holds several words)")
        return value
    return None


def remote_engine_for(config: EscalationConfig, policy: "Policy", *,
                      environ: Mapping[str, str] | None = None, proxy: str | None = None,
                      ca_bundle: str | None = None) -> "RemoteEngine | None":
    """The bigger model as an engine, through the policy's proxy and CA bundle (as downloads
    go); None when escalation is off or has nowhere to go. Nothing connects until it is
    used. EscalationConfigError when the API key is named but missing."""
    if not config.configured:
        return None
    key = read_api_key(config, environ)
    from ..engine.remote import RemoteEngine

    return RemoteEngine(endpoint=str(config.endpoint), model=str(config.model), api_key=key,
                        proxy=policy.proxy or proxy, ca_bundle=policy.ca_bundle or ca_bundle)


def settings_rule_check(value: Any) -> bool:
    """settings.py's rule for the ``escalation`` setting: an object from_dict accepts."""
    try:
        EscalationConfig.from_dict(value)
    except EscalationConfigError:
        return False
    return True


# -- helpers ------------------------------------------------------------------------------------
def _problem(key: str | None, message: str) -> EscalationConfigError:
    where = f"'escalation.{key}'" if key else "'escalation'"
    return EscalationConfigError(f"{where} {message}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _text(data: dict, key: str, meaning: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 512:
        raise _problem(key, f"must be {meaning} (text), not {value!r}")
    return value.strip()


def _endpoint(value: Any) -> str | None:
    if value is None:
        return None
    parsed = urlparse(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc \
            or any(c.isspace() for c in value):
        raise _problem("endpoint", f"must be an http(s) address like "
                                   f"\"https://llm.example/v1\", not {value!r}")
    return value.rstrip("/")


def _env_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
        raise _problem("api_key_env", f"must be the name of an environment variable "
                                      f"(like \"SCALPEL_LLM_KEY\"), not {value!r}")
    return value


def _key_file(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not (value.startswith("/") or value.startswith("\\\\")
                                          or re.match(r"^[A-Za-z]:[\\/]", value)):
        raise _problem("api_key_file", f"must be an absolute path to a file holding the "
                                       f"key, not {value!r}")
    return value


def _tasks(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and _PRESET_ID.fullmatch(v)
                                              for v in value):
        raise _problem("tasks", "must be a list of preset ids like [\"code\", \"general\"], "
                                "or null for every task")
    return tuple(dict.fromkeys(value))
