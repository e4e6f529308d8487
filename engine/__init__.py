"""The Neural Previs engine: turns conditioning bundles into takes.

Never imports bpy. Importing this package (or ``engine.protocol``, ``engine.params``, ``engine.bundle``)
must not import torch: the Blender add-on imports those modules to share the protocol and the bundle
format, and Blender's Python has no torch. Heavy imports live inside the functions that need them.

Entry points: ``python -m engine generate ...`` and ``python -m engine serve`` (see docs/engine.md).
"""

__version__ = "0.1.0"
