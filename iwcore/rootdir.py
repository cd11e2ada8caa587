"""Keep pytest's rootdir and config file where they are when a path is given to a plugin option.

pytest finds the rootdir and the config file before it loads ``pytest11`` plugins, so it reads the value
of ``--data-dir PATH`` (and ``--cache-dir``, ``--report-dir``, ``--bert-model``, any plugin option written
with a space) as a test path: an existing PATH outside the project moves the rootdir to the common
ancestor, where no config file is found, and the project's ``[tool.pytest.ini_options]`` (addopts,
markers, testpaths) is silently not read. ``--data-dir=PATH`` is not affected.

``restore`` runs in ``pytest_load_initial_conftests`` (the first hook a plugin gets with the command line,
before conftests load and the command line is parsed for good): with the plugins' options known, it finds
the rootdir and config file again and, where they differ, redoes what pytest derived from them: the ini
values, the config file's ``addopts`` (and their ``-p`` plugin arguments), ``confcutdir`` and
``pythonpath``. It sets pytest's private attributes (pytest 9), for no public API sets the rootdir;
``tests/test_rootdir.py`` checks the result through the command line in both forms.
"""

from __future__ import annotations

import copy
import os
import shlex

from _pytest.config.findpaths import determine_setup


def restore(config, args: list[str], parser) -> None:
    """Find the rootdir and config file with every loaded plugin's options known, and where the first
    guess (made before plugins loaded) differs, make pytest use them; ``args`` is the command line pytest
    parses next, edited in place."""
    given = [*shlex.split(os.environ.get("PYTEST_ADDOPTS", "")), *config.invocation_params.args]
    known = parser.parse_known_args(given, namespace=copy.copy(config.option))
    rootpath, inipath, inicfg, ignored = determine_setup(
        inifile=known.inifilename, override_ini=known.override_ini, args=known.file_or_dir,
        rootdir_cmd_arg=known.rootdir or None, invocation_dir=config.invocation_params.dir)
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return
    config._rootpath, config._inipath, config._inicfg = rootpath, inipath, inicfg
    config._ignored_config_files = ignored
    config._inicache.clear()
    parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))
    args[:] = [*config._validate_args(config.getini("addopts"), "via addopts config"), *given]
    config.known_args_namespace = parser.parse_known_args(args, namespace=copy.copy(config.option))
    config._checkversion()
    config._configure_python_path()
    config.pluginmanager.consider_preparse(args, exclude_only=False)
    if config.known_args_namespace.confcutdir is None:
        config.known_args_namespace.confcutdir = str(inipath.parent if inipath is not None else rootpath)
