"""iwclaims core: data -> models -> stacked training -> metrics -> statistics -> verdicts -> report."""

__version__ = "0.1.0"
