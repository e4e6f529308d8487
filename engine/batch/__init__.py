"""Batch: a shot list rendered and generated on Ray (a local Ray by default, a cluster when given one).

Bundles and takes are the contract between stages: any node that sees the shared output folder can do
any stage. Conditioning runs in a Blender process (the `bpy` module or a Blender binary); generation in
the engine's Python. Nothing here imports bpy; Ray and OpenTimelineIO are imported only when a batch runs.
"""
