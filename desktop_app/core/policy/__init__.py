"""Machine-wide policy set by IT: what may be loaded, downloaded and changed."""

from .describe import deployment_warnings, format_policy, format_values
from .gate import HashCache, ModelGate
from .model import LOCKABLE_SETTINGS, POLICY_ENV, Policy
from .parse import load_policy, policy_file_for, read_policy_file

__all__ = ["HashCache", "LOCKABLE_SETTINGS", "ModelGate", "POLICY_ENV", "Policy",
           "deployment_warnings", "format_policy", "format_values", "load_policy",
           "policy_file_for", "read_policy_file"]
