"""Blender-side logic of Neural Previs. Modules without bpy in their imports are pure and testable alone."""
