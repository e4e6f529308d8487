"""Reading pip's progress from its real output (tests/pure/fixtures/pip/, captured on this project's
machine: pip 26.3 with --progress-bar raw and pip 23.2.1 (what ensurepip gives a fresh venv) without,
from PyPI and from the tests' local index, completed, cancelled mid-download and resumed from cache)."""

from pathlib import Path

from neural_previs.addon.pip_progress import RAW_PROGRESS_PIP, PipProgress, package_of, pip_version

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pip"


def read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def replay(name: str, until=None):
    """Feed a capture line by line; with ``until``, stop after the first line containing it."""
    progress = PipProgress()
    states = []
    for line in read(name).splitlines(keepends=True):
        progress.feed(line)
        states.append((progress.phase, progress.package, progress.done_bytes, progress.total_bytes))
        if until and until in line:
            break
    return progress, states


def test_raw_progress_gives_the_file_and_its_bytes_done_of_total():
    progress, states = replay("pip-26.3-raw-install-from-pypi.txt", until="Progress 262144 of 13549890")
    assert (progress.phase, progress.package) == ("downloading", "transformers 5.24.0")
    assert (progress.done_bytes, progress.total_bytes) == (262144, 13549890)
    assert progress.describe() == "Downloading transformers 5.24.0: 0 of 14 MB"
    assert ("downloading", "diffusers 0.42.1", 6355908, 6355908) in states
    assert progress.fetched_bytes == 6355908  # diffusers, complete


def test_a_whole_install_from_pypi_ends_installed_with_every_package():
    progress, states = replay("pip-26.3-raw-install-from-pypi.txt")
    assert progress.phase == "done" and not progress.error
    assert "torch-2.15.0" in progress.installed and "diffusers-0.42.1" in progress.installed
    assert len(progress.installing) == len(progress.installed) == 74
    torch_totals = [total for _, package, _, total in states if package == "torch 2.15.0"]
    assert torch_totals[0] == 539_100_000 and torch_totals[-1] != 539_100_000  # "(539.1 MB)" first, then pip's exact count
    assert progress.fetched_bytes > 3_000_000_000  # the CUDA build's three gigabytes, counted


def test_a_cancel_mid_download_leaves_the_last_reported_bytes():
    progress, _ = replay("pip-26.3-raw-cancelled-mid-download.txt")
    assert (progress.phase, progress.package) == ("downloading", "np_setup_big 1.0")
    assert 0 < progress.done_bytes < progress.total_bytes == 25167042
    assert 0.4 < progress.file_fraction < 0.6
    assert progress.describe() == "Downloading np_setup_big 1.0: 12 of 25 MB"


def test_a_resumed_run_takes_what_it_had_from_the_cache():
    progress, _ = replay("pip-26.3-raw-resumed-from-cache.txt")
    assert progress.cached == 1 and progress.phase == "done"
    assert progress.installed == ["np-setup-big-1.0", "np-setup-small-1.0"]
    assert progress.fetched_bytes == 25167042  # only the file the cancel interrupted was fetched again


def test_an_old_pip_without_raw_progress_still_names_the_file_and_its_size():
    progress, states = replay("pip-23.2.1-install-no-raw.txt")
    assert ("downloading", "np_setup_big 1.0", 0, 25_200_000) in states  # from the URL in "Downloading <url> (25.2 MB)"
    assert ("downloading", "np_setup_big 1.0", 25_200_000, 25_200_000) in states  # its drawn bar, once complete
    assert progress.phase == "done"
    old, old_states = replay("pip-23.2.1-download-from-pypi.txt")
    assert ("downloading", "diffusers 0.42.1", 6_400_000, 6_400_000) in old_states


def test_pips_error_line_is_kept():
    progress, _ = replay("pip-26.3-no-matching-version.txt")
    assert progress.error == "Could not find a version that satisfies the requirement np-setup-small==9.9 (from versions: 1.0)"


def test_the_pip_version_after_the_upgrade_step():
    assert pip_version(read("pip-23.2.1-upgrade-to-26.3-from-pypi.txt")) == (26, 3)
    assert pip_version(read("pip-26.3-upgrade-already-newest.txt")) == (26, 3)
    assert pip_version("Requirement already satisfied: pip in ./env/lib/python3.11/site-packages (23.2.1)\n") == (23, 2)
    assert (23, 2) < RAW_PROGRESS_PIP <= (26, 3)
    assert pip_version("ERROR: Could not install packages due to an OSError\n") is None


def test_package_names_from_wheel_and_sdist_files():
    assert package_of("torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl") == "torch 2.13.0"
    assert package_of("http://127.0.0.1:40973/np_setup_big-1.0-py3-none-any.whl") == "np_setup_big 1.0"
    assert package_of("sentencepiece-0.2.3.tar.gz") == "sentencepiece 0.2.3"
