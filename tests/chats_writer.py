"""Streams an answer into a chat store until killed (the kill test's child process).

    python tests/chats_writer.py DB_PATH
prints "committed N" after each partial save.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desktop_app.core.chats import ChatStore  # noqa: E402

CHUNK = "word{n} "


def main() -> None:
    store = ChatStore(Path(sys.argv[1]))
    chat = store.create_chat(title="Killed mid-answer")
    question = store.add_message(chat.id, parent_id=None, role="user", content="Count for me")
    answer = store.add_message(chat.id, parent_id=question.id, role="assistant",
                               content="Counting.", model="m")
    again = store.add_message(chat.id, parent_id=answer.id, role="user", content="Go on")
    partial = store.add_message(chat.id, parent_id=again.id, role="assistant", content="",
                                model="m", status="partial")
    text, n = "", 0
    while True:
        n += 1
        text += CHUNK.format(n=n)
        store.update_message(partial.id, content=text, status="partial")
        print(f"committed {n}", flush=True)


if __name__ == "__main__":
    main()
