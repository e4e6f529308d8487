"""The consistency score of a take (``python -m engine qc TAKE_DIR``, and at the end of every generation).

``score`` measures it with the reprojection (``engine.generation.reprojection``): for each pair of consecutive
frames, how much frame t differs from frame t-1 carried into t through depth, cameras and object motion, and how much
its brightness jumps; ``report`` writes ``qc.json`` and the plot ``qc.png`` (``plot``) into the take; ``cli`` is the
command. Pure numpy and PIL: no torch.
"""
