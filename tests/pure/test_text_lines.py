"""Long messages in the sidebar are wrapped, never cut: every word survives, no line is wider than the region."""

from neural_previs.addon.text_lines import wrap

MESSAGE = (
    "The model 'wan-vace-1.3b' is not installed on this machine; download it (Download, next to Model) or pick an installed "
    "model, e.g. /a/very/long/path/without/any/spaces/in/it/at/all/that/must/still/be/shown/whole"
)


def test_every_character_is_kept_and_lines_fit():
    for width, scale in ((200, 1.0), (320, 1.0), (320, 2.0), (900, 1.25)):
        lines = wrap(MESSAGE, width, scale)
        assert "".join(lines).replace(" ", "") == MESSAGE.replace(" ", "")
        limit = max(12, int((width - 40) / (7.0 * scale)))
        assert all(len(line) <= limit for line in lines)
    assert len(wrap(MESSAGE, 200)) > len(wrap(MESSAGE, 900))


def test_paragraphs_stay_apart():
    assert wrap("one\ntwo", 500) == ["one", "two"]
