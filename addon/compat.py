"""Differences between the Blender versions Neural Previs supports (4.2 LTS to 5.0), in one place."""

import bpy

BLENDER_VERSION = bpy.app.version


def set_multilayer_exr(image_settings: bpy.types.ImageFormatSettings) -> None:
    """Multilayer OpenEXR output: 5.0 chooses it through media_type, earlier versions through file_format."""
    if hasattr(image_settings, "media_type"):
        image_settings.media_type = "MULTI_LAYER_IMAGE"
    image_settings.file_format = "OPEN_EXR_MULTILAYER"


def sequencer_strips(scene: bpy.types.Scene):
    """The top-level VSE strip collection: `sequences` up to 4.3, `strips` from 4.4 (the only name in 5.0)."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def _blend_relative_path_options() -> set:
    """Newer Blenders warn about '//' in path properties unless they declare support; 4.2 lacks the option."""
    if "is_path_supports_blend_relative" in bpy.types.Property.bl_rna.properties:
        return {"PATH_SUPPORTS_BLEND_RELATIVE"}
    return set()


BLEND_RELATIVE_PATH_OPTIONS = _blend_relative_path_options()


def all_strips(scene: bpy.types.Scene):
    """Every strip, inside meta strips too: `sequences_all` up to 4.3, `strips_all` from 4.4."""
    editor = scene.sequence_editor
    if editor is None:
        return []
    return editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all


def all_strips_property(editor) -> str:
    """The name of `all_strips`' collection on a sequence editor, for UI lists and searches."""
    return "strips_all" if hasattr(editor, "strips_all") else "sequences_all"
