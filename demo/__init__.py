"""Developer-side scripts: the demo scene, a Blender session with the built extension installed, the contact sheet."""
