"""The warm worker and its clients: the JSON-lines ``protocol``, ``serve`` (``python -m engine
serve``), the ``client`` the add-on uses, ``lifetime`` (a worker never outlives its client, on every OS),
``log_file`` (its stderr kept across sessions) and ``stdio`` (stdout reserved for protocol lines)."""
