"""Models: which ones the engine knows (``catalog``), where weights live (``locations``), and how a
``--model`` becomes a checked local folder (``weights``). Pure until a function needs
``huggingface_hub``."""
