"""The generation path, from a checked request to a take: ``generate`` (the numbered steps), the
warm ``session``, the shot's conditioning (``conditioning``, ``shot``), frame and size plans
(``snapping``), ``windows``, ``progress``, the ``runtime`` (device, precision, memory profile) and
the ``host`` (memory and CPU facts, per OS)."""
