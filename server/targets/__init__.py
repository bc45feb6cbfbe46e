"""Monthly sales targets (quotas) per rep, territory and region, and pace against them."""

from server.targets.pace import Pace, PaceStatus, Shape, assess, expected_share, learn_shape

__all__ = ["Pace", "PaceStatus", "Shape", "assess", "expected_share", "learn_shape"]
