"""The Sequencer tab's buttons: act on one take (a strip Neural Previs made) of the current scene.

`take_apply_settings` copies a take's settings into the scene's, `take_use_as_plate` makes it the
selective-mode plate, `take_use_as_set_reference` makes the next takes keep its set (`set_reference_remove`
undoes it), `take_show_only` / `take_show_all` mute and unmute the other takes to compare
them one by one, `take_use_seed` fixes the seed a take used, `take_select` makes a take the active
strip, `take_open_folder` shows its files. Each names its take by strip name (`strip="Scene_take_003"`).
"""

import bpy
from bpy.props import IntProperty, StringProperty

from ..addon import takes
from ..addon.compat import sequencer_strips
from ..engine.formats.params import MAX_SEED


def _take(operator, context):
    """The named take strip, or None after reporting why (one line)."""
    strip = takes.find_take(context.scene, operator.strip)
    if strip is None:
        operator.report({"ERROR"}, f"'{operator.strip}' is not a Neural Previs take of scene '{context.scene.name}'")
    return strip


class _TakeOperator:
    strip: StringProperty(name="Take", description="The take's strip name, e.g. Scene_take_003", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return context.scene is not None


class NEURAL_PREVIS_OT_take_apply_settings(_TakeOperator, bpy.types.Operator):
    bl_idname = "neural_previs.take_apply_settings"
    bl_label = "Apply Settings"
    bl_description = "Copy this take's prompt, model, seed, steps, guidance, mode, objects, quality and strength into the scene's settings, so Generate makes it again"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        strip = _take(self, context)
        if strip is None:
            return {"CANCELLED"}
        for warning in takes.apply_settings(context.scene, strip):
            self.report({"WARNING"}, warning)
        self.report({"INFO"}, f"The settings of '{strip.name}' are now the scene's")
        return {"FINISHED"}


class NEURAL_PREVIS_OT_take_use_as_plate(_TakeOperator, bpy.types.Operator):
    bl_idname = "neural_previs.take_use_as_plate"
    bl_label = "Use as Plate"
    bl_description = "Keep this take's pixels outside the regenerated objects in Selective mode"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        strip = _take(self, context)
        if strip is None:
            return {"CANCELLED"}
        takes.use_as_plate(context.scene, strip)
        self.report({"INFO"}, f"'{strip.name}' is the plate of Selective mode")
        return {"FINISHED"}


class NEURAL_PREVIS_OT_take_use_as_set_reference(_TakeOperator, bpy.types.Operator):
    bl_idname = "neural_previs.take_use_as_set_reference"
    bl_label = "Use as Set Reference"
    bl_description = (
        "The next takes keep, exactly, the surfaces of the set this take shows (walls, floor, props that do not deform) "
        "and generate the rest to match: one look across shots of the same set"
    )
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        strip = _take(self, context)
        if strip is None:
            return {"CANCELLED"}
        if takes.use_as_set_reference(context.scene, strip):
            self.report({"INFO"}, f"The next takes keep the set as '{strip.name}' shows it")
        else:
            self.report({"INFO"}, f"'{strip.name}' is already a set reference")
        return {"FINISHED"}


class NEURAL_PREVIS_OT_set_reference_remove(bpy.types.Operator):
    bl_idname = "neural_previs.set_reference_remove"
    bl_label = "Remove Set Reference"
    bl_description = "The next takes no longer keep this take's set"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(name="Index", default=0, min=0, options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return context.scene is not None

    def execute(self, context):
        name = takes.remove_set_reference(context.scene, self.index)
        if name is None:
            self.report({"ERROR"}, f"There is no set reference number {self.index + 1}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"'{name}' is no longer a set reference")
        return {"FINISHED"}


class NEURAL_PREVIS_OT_take_show_only(_TakeOperator, bpy.types.Operator):
    bl_idname = "neural_previs.take_show_only"
    bl_label = "Show Only This Take"
    bl_description = "Mute the other takes over this take's frames (your own strips stay as they are), to compare takes one by one"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        strip = _take(self, context)
        if strip is None:
            return {"CANCELLED"}
        muted = takes.show_only(context.scene, strip)
        self.report({"INFO"}, f"Showing '{strip.name}'; {len(muted)} other take(s) muted")
        return {"FINISHED"}


class NEURAL_PREVIS_OT_take_show_all(bpy.types.Operator):
    bl_idname = "neural_previs.take_show_all"
    bl_label = "Show All"
    bl_description = "Unmute every take of this scene"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return context.scene is not None

    def execute(self, context):
        takes.show_all(context.scene)
        return {"FINISHED"}


class NEURAL_PREVIS_OT_take_use_seed(_TakeOperator, bpy.types.Operator):
    bl_idname = "neural_previs.take_use_seed"
    bl_label = "Use This Seed"
    bl_description = "Fix the scene's seed to the one this take used (Random Seed off)"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        strip = _take(self, context)
        if strip is None:
            return {"CANCELLED"}
        row = takes.take_row(strip)
        if not row.seed.isdigit() or int(row.seed) > MAX_SEED:
            self.report({"ERROR"}, f"'{strip.name}' has no seed that fits the Seed field ({row.seed or 'none recorded'})")
            return {"CANCELLED"}
        context.scene.neural_previs.seed = int(row.seed)
        context.scene.neural_previs.random_seed = False
        self.report({"INFO"}, f"Seed {row.seed} fixed")
        return {"FINISHED"}


class NEURAL_PREVIS_OT_take_select(_TakeOperator, bpy.types.Operator):
    bl_idname = "neural_previs.take_select"
    bl_label = "Select Take"
    bl_description = "Make this take the active strip"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        strip = _take(self, context)
        if strip is None:
            return {"CANCELLED"}
        for other in sequencer_strips(context.scene):
            other.select = False
        strip.select = True
        context.scene.sequence_editor.active_strip = strip
        return {"FINISHED"}


class NEURAL_PREVIS_OT_take_open_folder(_TakeOperator, bpy.types.Operator):
    bl_idname = "neural_previs.take_open_folder"
    bl_label = "Open Folder"
    bl_description = "Show the take's folder (frames, take.json, preview.mp4) in the system's file browser"

    def execute(self, context):
        strip = _take(self, context)
        if strip is None:
            return {"CANCELLED"}
        folder = takes.take_folder(strip)
        if folder is None or not folder.is_dir():
            self.report({"ERROR"}, f"The folder of '{strip.name}' is missing ({folder}); it was moved or deleted")
            return {"CANCELLED"}
        return bpy.ops.wm.path_open(filepath=str(folder))


_CLASSES = (
    NEURAL_PREVIS_OT_take_apply_settings,
    NEURAL_PREVIS_OT_take_use_as_plate,
    NEURAL_PREVIS_OT_take_use_as_set_reference,
    NEURAL_PREVIS_OT_set_reference_remove,
    NEURAL_PREVIS_OT_take_show_only,
    NEURAL_PREVIS_OT_take_show_all,
    NEURAL_PREVIS_OT_take_use_seed,
    NEURAL_PREVIS_OT_take_select,
    NEURAL_PREVIS_OT_take_open_folder,
)


register, unregister = bpy.utils.register_classes_factory(_CLASSES)
