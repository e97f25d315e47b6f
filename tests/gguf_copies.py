"""Copies of a real GGUF with changed metadata, for tests (after gguf's gguf_new_metadata.py).

The tensors are copied unchanged; metadata keys can be dropped, set to strings, or set
to integers (an existing key keeps its integer type; a new one is (U)INT32, or (U)INT64 if
it does not fit).
"""

from __future__ import annotations

from pathlib import Path


def write_gguf_copy(src: Path, dst: Path, *, drop_keys: tuple[str, ...] = (),
                    set_strings: dict[str, str] | None = None,
                    set_ints: dict[str, int] | None = None) -> Path:
    """Write ``src`` to ``dst`` without ``drop_keys`` and with ``set_strings``/``set_ints`` set."""
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
    pending_ints = dict(set_ints or {})
    t = gguf.GGUFValueType
    int_types = (t.UINT8, t.INT8, t.UINT16, t.INT16, t.UINT32, t.INT32, t.UINT64, t.INT64)
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
        if field.name in pending_ints:
            number = pending_ints.pop(field.name)
            int_type = value_type if value_type in int_types else _int_type(number)
            writer.add_key_value(field.name, number, int_type)
            continue
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
    for key, value in pending.items():
        writer.add_string(key, value)
    for key, number in pending_ints.items():
        writer.add_key_value(key, number, _int_type(number))

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


def _int_type(number: int):
    import gguf

    t = gguf.GGUFValueType
    if number < 0:
        return t.INT32 if number >= -2**31 else t.INT64
    return t.UINT32 if number < 2**32 else t.UINT64
