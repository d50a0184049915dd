"""Derivative registry: activations and losses (see each module's docstring)."""

from symbackprop.rules.activations import ACTIVATIONS, EXPRESSION_FUNCTIONS, Activation, activation
from symbackprop.rules.losses import LOSSES, Loss, loss_rule

__all__ = ["ACTIVATIONS", "EXPRESSION_FUNCTIONS", "LOSSES", "Activation", "Loss", "activation", "loss_rule"]
