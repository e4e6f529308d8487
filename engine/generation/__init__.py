"""The generation path, from a checked request to a take: ``generate`` (the numbered steps), the
warm ``session``, the shot's conditioning (``conditioning``, ``shot``), frame and size plans
(``snapping``), ``windows``, ``progress`` and the ``runtime`` (device, precision, memory profile)."""
