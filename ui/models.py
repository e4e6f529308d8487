"""The Models box of the preferences: every known model with its download size, the GPU it needs,
its licence and where it is installed, with Download and Delete; the diffusers folders of the Models
Folder; the running download's progress."""

from ..addon import engine_session, model_download, model_store
from ..engine.progress_bar import human_bytes

_PROFILE_NAMES = {"group": "Least Memory", "none": "Fastest"}


def gpu_text(row: dict) -> str:
    cards = row.get("gpu_card_gb") or {}
    if not cards:
        return "GPU memory: not counted yet"
    counted = row.get("gpu_memory_gb") or {}
    parts = [f"{cards[p]} GB GPU for {_PROFILE_NAMES.get(p, p)} ({counted[p]:.1f} GB counted)" for p in ("group", "none") if p in cards]
    return "Needs " + ", ".join(parts)


def state_text(row: dict) -> tuple[str, str]:
    """(text, icon) of what is on disk."""
    if row.get("installed"):
        if row.get("where"):
            return f"Installed: {row['where']}", "CHECKMARK"
        return "Built on this machine on first use", "CHECKMARK"
    if row.get("partial_bytes"):
        return f"Partly downloaded ({human_bytes(row['partial_bytes'])}): Download resumes it", "ERROR"
    return "Not downloaded", "CANCEL"


def draw_models(preferences, context, layout) -> None:
    box = layout.box()
    box.label(text="Models", icon="FILE_FOLDER")
    box.prop(preferences, "models_directory")
    folder = model_download.models_folder_of(preferences)
    box.label(text=f"Downloads go to {model_store.hub_cache_for(folder)}", icon="INFO")
    box.prop(preferences, "default_model")
    box.prop(preferences, "device")
    box.prop(preferences, "offload")
    job = model_download.active()
    if job is not None:
        row = box.row()
        row.progress(factor=job.state.fraction, text=f"Downloading {job.model}: {job.state.text()}")
        row.operator("neural_previs.model_download_cancel", text="", icon="CANCEL")
    for entry in model_store.model_rows(folder, engine_session.user_folder("cache")):
        _draw_model(box.box(), entry, job)


def _draw_model(box, entry: dict, job) -> None:
    header = box.row()
    header.label(text=f"{entry['title']}  ({entry['name'] if not entry.get('local') else 'local folder'})")
    text, icon = state_text(entry)
    column = box.column(align=True)
    if entry.get("description"):
        column.label(text=entry["description"])
    facts = []
    if entry.get("download_gb"):
        facts.append(f"Download about {entry['download_gb']:.1f} GB")
    if entry.get("licence"):
        facts.append(f"Licence {entry['licence']}")
    if facts:
        column.label(text=", ".join(facts))
    if not entry.get("local") and entry.get("repos"):
        column.label(text=gpu_text(entry))
    column.label(text=text, icon=icon)
    if entry.get("local") or not entry.get("repos"):
        return
    buttons = header.row(align=True)
    downloading = job is not None and job.model == entry["name"]
    if not entry.get("installed"):
        buttons.operator("neural_previs.model_download", text="Downloading" if downloading else "Download", icon="IMPORT").model = entry["name"]
    elif entry.get("draft_lora") and entry.get("draft_lora_installed") is False:
        # The Draft quality's step-distillation LoRA came later than the model: the same download fetches only it.
        column.label(text="Draft quality needs its LoRA: Download fetches only that file", icon="INFO")
        buttons.operator("neural_previs.model_download", text="Downloading" if downloading else "Download", icon="IMPORT").model = entry["name"]
    delete = buttons.row(align=True)
    delete.enabled = bool(entry.get("where") or entry.get("partial_bytes"))
    delete.operator("neural_previs.model_delete", text="Delete", icon="TRASH").model = entry["name"]
