"""``scalpel chat`` as a face of the chat session: saved chats, and llama.cpp kept in the
engine process, so a broken model ends in one line, never a crash of the command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.model

GREEDY = ("--temperature", "0", "--max-tokens", "24")


def one_line_failure(result, *expected: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith("scalpel: "), result.stderr
    for words in expected:
        assert words in lines[0]
    return lines[0]


def test_a_terminal_chat_is_saved_and_the_window_lists_it(scalpel, services, qtbot):
    result = scalpel("chat", *GREEDY, "Name a colour of the sky.")
    assert result.returncode == 0 and result.stdout.strip(), result.stderr
    chats = services.chat_store.list_chats()
    assert [c.title for c in chats] == ["Name a colour of the sky."]
    user, answer = services.chat_store.path(chats[0].id)
    assert (user.content, answer.role, answer.status) == (
        "Name a colour of the sky.", "assistant", "complete")
    assert answer.content.strip() == result.stdout.strip()

    from desktop_app.app import create_window

    window = create_window(services)  # the window's next start
    qtbot.addWidget(window)
    titles = [window.panel.sidebar.chats.item(i).text()
              for i in range(window.panel.sidebar.chats.count())]
    assert any("Name a colour of the sky." in title for title in titles)
    window.close()


def test_no_save_leaves_no_chat(scalpel, services):
    result = scalpel("chat", "--no-save", "--json", *GREEDY, "Say hi.")
    assert result.returncode == 0, result.stderr
    assert services.chat_store.list_chats() == []
    assert '"chat_id": null' in result.stdout


def test_too_many_threads_are_capped_with_a_note(scalpel):
    started = time.monotonic()
    result = scalpel("chat", "--no-save", "--threads", "512", *GREEDY, "Hi")
    assert result.returncode == 0, result.stderr
    assert "--threads 512 is more than the" in result.stderr
    assert time.monotonic() - started < 60


def test_a_fifo_or_a_symlink_loop_says_what_it_is(scalpel, tmp_path):
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    one_line_failure(scalpel("chat", "--model", str(fifo), "Hi", timeout=60),
                     "is a named pipe (FIFO), not a model file")
    loop = tmp_path / "loop.gguf"
    loop.symlink_to(loop)
    one_line_failure(scalpel("chat", "--model", str(loop), "Hi", timeout=60),
                     "symbolic link that loops back on itself")


def test_a_model_with_a_broken_vocabulary_fails_in_one_line(scalpel, smollm2_path, tmp_path):
    """Two tokens with the same text trip llama.cpp's GGML_ASSERT(id_to_token.size() ==
    token_to_id.size()): an abort that used to take the command down with a backtrace."""
    data = bytearray(smollm2_path.read_bytes())
    length = (1).to_bytes(8, "little")
    pair = length + b"a" + length + b"b"
    at = data.find(pair)
    assert at > 0
    data[at + len(pair) - 1:at + len(pair)] = b"a"  # token "b" now reads "a"
    broken = tmp_path / "broken-vocab.gguf"
    broken.write_bytes(bytes(data))
    result = scalpel("chat", "--no-save", "--model", str(broken), *GREEDY, "Hi", timeout=120)
    line = one_line_failure(result, "engine stopped while loading the model")
    assert "GGML_ASSERT" not in result.stderr and "Traceback" not in result.stderr, line


def test_a_model_truncated_while_it_answers_fails_in_one_line(smollm2_path, tmp_path,
                                                               scalpel_home):
    model = tmp_path / "own.gguf"
    shutil.copyfile(smollm2_path, model)
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "chat", "--no-save", "--model", str(model),
         "--temperature", "0", "--max-tokens", "2000", "Write a very long story."],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.read(20)  # it is answering
    os.truncate(model, 1_000_000)
    out, err = process.communicate(timeout=120)
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert process.returncode == 1, err
    assert len(lines) == 1 and "engine stopped while answering" in lines[0], err
