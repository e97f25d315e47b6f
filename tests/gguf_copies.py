"""Copies of a real GGUF with changed metadata, for tests (after gguf's gguf_new_metadata.py).

The tensors are copied unchanged; metadata keys can be dropped or set to strings.
"""

from __future__ import annotations

from pathlib import Path


def write_gguf_copy(src: Path, dst: Path, *, drop_keys: tuple[str, ...] = (),
                    set_strings: dict[str, str] | None = None) -> Path:
    """Write ``src`` to ``dst`` without ``drop_keys`` and with ``set_strings`` set."""
    import gguf

    reader = gguf.GGUFReader(src, "r")
    arch_field = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    if arch_field is None:
        raise ValueError(f"{src} has no general.architecture")
    writer = gguf.GGUFWriter(dst, arch=arch_field.contents(), endianess=reader.endianess)
    alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = alignment.contents()

    pending = dict(set_strings or {})
    for field in reader.fields.values():
        # GGUF.* are the reader's virtual fields; the writer adds the architecture itself.
        if field.name.startswith("GGUF.") or field.name == gguf.Keys.General.ARCHITECTURE:
            continue
        if field.name in drop_keys:
            continue
        if field.name in pending:
            writer.add_string(field.name, pending.pop(field.name))
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
    for key, value in pending.items():
        writer.add_string(key, value)

    for tensor in reader.tensors:
        writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype,
                               tensor.data.nbytes, tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
    writer.close()
    return dst
