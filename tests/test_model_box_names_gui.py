"""The window's model box names a model as the model manager's Installed tab does (issue 19,
part 2): the catalog's name, else the GGUF's own ``general.name``, not its file name."""

from __future__ import annotations

from gui_helpers import open_fake_window, settle_documents


def _item_text(combo, path: str) -> str | None:
    index = combo.findData(path)
    return combo.itemText(index) if index >= 0 else None


def test_the_model_box_names_a_file_by_its_ggufs_own_name(qtbot, services, smollm2_copy):
    services.paths.models_dir.mkdir(parents=True, exist_ok=True)
    file = services.paths.models_dir / "downloaded-file-7.gguf"   # its name says little
    file.symlink_to(smollm2_copy)
    services.models.refresh()
    window = open_fake_window(qtbot, services)
    settle_documents(qtbot, window)
    try:
        combo = window.model_combo
        listed = next(ref for ref in services.models.models() if ref.path.name == file.name)
        qtbot.waitUntil(lambda: _item_text(combo, str(listed.path)) is not None, timeout=10_000)
        qtbot.waitUntil(lambda: _item_text(combo, str(listed.path)) == "SmolLM2 no template",
                        timeout=10_000)   # general.name, read off the GUI thread
        action = window.models_menu.model_actions[str(listed.path)]
        assert action.text() == "SmolLM2 no template"          # the Model menu too
        starter = next(ref for ref in services.models.models() if ref.source == "starter")
        assert _item_text(combo, str(starter.path)) == "SmolLM2 135M Instruct (starter)"
    finally:
        window.close()


def test_the_model_box_and_the_installed_tab_share_one_naming(qtbot, services, smollm2_copy):
    """The same names for the same models: the box's names are the Installed tab's."""
    from desktop_app.ui.model_manager.names import (ModelNames, catalog_names, merged_names,
                                                    read_gguf_names)

    services.paths.models_dir.mkdir(parents=True, exist_ok=True)
    (services.paths.models_dir / "x.gguf").symlink_to(smollm2_copy)
    services.models.refresh()
    models = services.models.models()
    names = ModelNames(services)
    with qtbot.waitSignal(names.changed, timeout=10_000):
        names.read(models)
    tab_names, _kinds = merged_names(read_gguf_names(models, {}), catalog_names(services, models))
    for ref in models:
        assert names.name_of(ref) == tab_names.get(str(ref.path), ref.name)
