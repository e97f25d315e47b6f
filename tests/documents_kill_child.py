"""Child process for the kill-and-resume test: indexes a folder slowly (each file read
takes a moment) and prints one line per file read, until the parent kills it."""

import sys
import time

from desktop_app.core.documents import IndexStore, Indexer
from desktop_app.core.documents import readers


def main(index_path: str, folder: str) -> None:
    store = IndexStore(index_path)
    collection = store.ensure_collection("notes")
    store.add_folder(collection, folder)

    def slow_load(path: str) -> bytes:
        data = readers.load_bytes(path)
        print("read", path, flush=True)
        time.sleep(0.01)
        return data

    Indexer(store, load=slow_load).run()
    print("finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
