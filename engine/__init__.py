"""The Neural Previs engine: turns conditioning bundles into takes.

Never imports bpy. Importing this package (or engine.protocol / engine.bundle) must not import torch.
"""
