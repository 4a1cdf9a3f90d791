"""Probe settings the judging side needs too; kept free of torch so the grader need not import it."""

MLP_SHAPES = {"linear1": (256, 3072), "linear2": (128, 256), "linear3": (10, 128)}

# (kind, lmbd, batch_size) for the penalized_loss probe: λ and batch sizes that tell a missing 1/2,
# a missing division and a swapped kind apart; kind None: left to its default ("l2").
PENALIZED_CASES = (("l2", 0.3, 7), ("l1", 0.05, 16), ("l2", 0.0, 5), ("l1", 2.0, 3), (None, 0.7, 9))

# penalized_loss's kind is case-sensitive: anything but "l1" and "l2" raises ValueError.
UNKNOWN_KINDS = ("l3", "elastic", "L2")
