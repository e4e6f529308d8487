"""Neural Previs: conditioning from Blender layouts, takes from a local video-diffusion engine.

This file only registers the sub-packages; behaviour lives in addon/, operators/ and ui/.
"""

_MODULE_NAMES = ("addon.properties", "addon.preferences", "addon.engine_session", "addon.model_download", "operators", "ui", "addon.cli")


def _modules():
    import importlib

    return [importlib.import_module(f".{name}", __package__) for name in _MODULE_NAMES]


def register():
    for module in _modules():
        module.register()


def unregister():
    for module in reversed(_modules()):
        module.unregister()
