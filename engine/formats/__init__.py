"""The public formats the engine reads and writes, and what they carry: the conditioning bundle
(``bundle``), generation parameters (``params``), the take (``take``, ``take_record``,
``preview``) and the shot list (``shotlist``). Pure: no torch, no bpy (the add-on imports them)."""
