"""The Neural Previs tab in the Sequencer's sidebar: the scene's takes, newest first, and what to do with each.

Drawing reads only the strips' recorded properties and checks that each take's folder exists; a
missing folder is marked on its row (never a popup while drawing).
"""

import bpy

from ..addon import takes
from ..addon.qc_summary import qc_line
from .panel import draw_set_references, region_lines


def _details(row: takes.TakeRow) -> str:
    parts = [row.model or "model unknown", f"seed {row.seed}" if row.seed else "seed unknown", row.quality]
    if row.seconds is not None:
        parts.append(f"{row.seconds:.0f} s" if row.seconds >= 10 else f"{row.seconds:.1f} s")
    return " · ".join(parts)


def _draw_quality_check(box, row: takes.TakeRow) -> None:
    """The take's consistency score (take.json `qc`): mean RGB change, 0-255, after reprojection."""
    line = qc_line(row.qc)
    if line is not None:
        text, flagged = line
        box.label(text=text, icon="ERROR" if flagged else "CHECKMARK")


def _draw_take(layout, context, row: takes.TakeRow, active: bool) -> None:
    box = layout.box()
    header = box.row(align=True)
    header.operator("neural_previs.take_select", text=row.strip_name, icon="SEQUENCE", depress=active).strip = row.strip_name
    if row.muted:
        header.label(text="", icon="HIDE_ON")
    if row.missing:
        box.label(text="Folder missing: the take was moved or deleted", icon="ERROR")
    column = box.column(align=True)
    for line in region_lines(context, row.prompt or "(no prompt recorded)")[:3]:
        column.label(text=line)
    column.label(text=_details(row))
    _draw_quality_check(box, row)
    grid = box.grid_flow(columns=2, align=True)
    grid.operator("neural_previs.take_apply_settings", icon="IMPORT").strip = row.strip_name
    grid.operator("neural_previs.take_use_as_plate", icon="IMAGE_BACKGROUND").strip = row.strip_name
    grid.operator("neural_previs.take_use_as_set_reference", icon="WORLD").strip = row.strip_name
    grid.operator("neural_previs.take_show_only", icon="SOLO_ON").strip = row.strip_name
    opener = grid.row()
    opener.enabled = not row.missing
    opener.operator("neural_previs.take_open_folder", icon="FILE_FOLDER").strip = row.strip_name


class NEURAL_PREVIS_PT_takes(bpy.types.Panel):
    bl_label = "Takes"
    bl_idname = "NEURAL_PREVIS_PT_takes"
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Neural Previs"

    @classmethod
    def poll(cls, context):
        return context.scene is not None

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        strips = takes.take_strips(scene)
        if not strips:
            layout.label(text="No takes yet: Generate one in the 3D View's sidebar", icon="INFO")
            return
        row = layout.row(align=True)
        row.operator("neural_previs.take_show_all", icon="HIDE_OFF")
        row.operator("neural_previs.keyframe_pin_frame", icon="PINNED")  # the take under the playhead, as a keyframe
        draw_set_references(layout, scene)
        active = scene.sequence_editor.active_strip if scene.sequence_editor else None
        for strip in strips:
            _draw_take(layout, context, takes.take_row(strip), active is not None and strip.name == active.name)


_CLASSES = (NEURAL_PREVIS_PT_takes,)


register, unregister = bpy.utils.register_classes_factory(_CLASSES)
