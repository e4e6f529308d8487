"""What the panels draw exists in this Blender: every icon, operator and setting the ui/ code names.

The `bpy` module runs in background mode, where no panel is ever drawn; so the names the drawing code
uses are read from its source and checked against the running Blender's own lists.
"""

import ast
import importlib

import bpy

from demo.blender_session import EXTENSION_MODULE, REPO

UI_FILES = sorted((REPO / "ui").glob("*.py"))
OPTIONAL_OPERATORS = {"neural_previs.model_download"}  # drawn only where the model download operator is installed


def keyword_strings(name: str) -> set[str]:
    found = set()
    for path in UI_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == name and isinstance(node.value, ast.Constant):
                found.add(node.value.value)
    return found


def call_strings(method: str, position: int) -> set[str]:
    found = set()
    for path in UI_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method:
                if len(node.args) > position and isinstance(node.args[position], ast.Constant):
                    found.add(node.args[position].value)
    return found


def test_every_icon_exists(installed_extension):
    icons = {item.identifier for item in bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items}
    assert keyword_strings("icon") - {"NONE"} <= icons


def test_every_operator_exists(installed_extension):
    named = call_strings("operator", 0) - OPTIONAL_OPERATORS
    assert named
    for idname in named:
        category, name = idname.split(".")
        getattr(getattr(bpy.ops, category), name).get_rna_type()  # raises KeyError for an unknown operator


def test_every_scene_setting_drawn_exists(installed_extension):
    settings = bpy.types.Scene.bl_rna.properties["neural_previs"].fixed_type.properties.keys()
    preferences = importlib.import_module(f"{EXTENSION_MODULE}.addon.preferences").NeuralPrevisPreferences.bl_rna.properties.keys()
    strip_or_editor = {"strips_all", "sequences_all"}
    properties = importlib.import_module(f"{EXTENSION_MODULE}.addon.properties")
    lora_row = properties.NeuralPrevisLora.bl_rna.properties.keys()
    keyframe_row = properties.NeuralPrevisKeyframe.bl_rna.properties.keys()
    object_control = {"neural_previs_control"} & set(bpy.types.Object.bl_rna.properties.keys())
    drawn = call_strings("prop", 1) | call_strings("prop_search", 1)
    assert drawn and drawn <= set(settings) | set(preferences) | strip_or_editor | set(lora_row) | set(keyframe_row) | object_control
