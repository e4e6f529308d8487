"""The warm worker and its clients: the JSON-lines ``protocol``, ``serve`` (``python -m engine
serve``), the ``client`` the add-on uses, and ``stdio`` (stdout reserved for protocol lines)."""
