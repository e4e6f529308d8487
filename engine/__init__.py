"""The Neural Previs engine: turns conditioning bundles into takes.

Never imports bpy. Importing this package (or ``engine.worker.protocol``, ``engine.formats.params``, ``engine.formats.bundle``)
must not import torch: the Blender add-on imports those modules to share the protocol and the bundle
format, and Blender's Python has no torch. Heavy imports live inside the functions that need them.

Entry points: ``python -m engine generate ...`` and ``python -m engine serve`` (see docs/engine.md).

Folders: ``formats/`` (bundle, params, take, shot list), ``generation/`` (the path from a request to a
take), ``backends/`` (one module per video model), ``models/`` (known models, weights on disk),
``speed/`` (speed and memory switches), ``worker/`` (protocol, serve, client), ``batch/`` (shot
lists on Ray); ``cli.py`` is the command line, ``environment_check.py`` its ``check``.
"""

__version__ = "0.1.0"
