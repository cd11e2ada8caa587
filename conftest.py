pytest_plugins = ["iwcore.plugin"]  # options, fixtures, report: see iwcore/plugin.py (also a pytest11 entry point)
