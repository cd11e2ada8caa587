"""iwclaims core: data -> models -> stacked training -> metrics -> statistics -> verdicts -> report.

``iwcore.check``, ``iwcore.Subject`` and ``iwcore.parametrize_with_claims`` are the claim battery's entry
points (``iwcore.battery``); they are imported on first use, so that importing the package stays light (the
pytest plugin's controller never needs torch).
"""

__version__ = "0.1.0"
_BATTERY = {"check": "iwcore.battery.check", "Subject": "iwcore.battery.subject",
            "parametrize_with_claims": "iwcore.battery.testing"}


def __getattr__(name: str):
    if name in _BATTERY:
        import importlib

        return getattr(importlib.import_module(_BATTERY[name]), name)
    raise AttributeError(f"module 'iwcore' has no attribute {name!r}")
