"""Auto routing: which task preset should answer a message (no Qt, no engine needed
except for the optional model step). See router.py for the steps."""

from .decision import STEPS, RouteCandidate, RouteDecision, candidates_from
from .examples import Embedder, LexicalEmbedder
from .model_choice import choice_grammar, choice_messages
from .router import Router

__all__ = ["STEPS", "Embedder", "LexicalEmbedder", "RouteCandidate", "RouteDecision", "Router",
           "candidates_from", "choice_grammar", "choice_messages"]
