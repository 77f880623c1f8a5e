"""What kind of weight file is this? Decided once, from the first bytes, never the name."""

from __future__ import annotations

from pathlib import Path

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")


def sniff_format(path: str | Path) -> str:
    """'safetensors', 'keras' (HDF5 or .keras zip), 'onnx' or 'torch-pickle'; else ValueError.

    The errors name the problem and the fix (a pickled .pt file, an empty or unknown file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        raise ValueError(f"{path}: the file is empty (an interrupted download or copy?)")
    if head[:8] == HDF5_MAGIC:
        return "keras"
    if head.startswith(ZIP_MAGIC):
        import zipfile

        try:
            names = zipfile.ZipFile(path).namelist()
        except zipfile.BadZipFile as err:
            raise ValueError(f"{path}: a truncated or corrupt zip file ({err})") from err
        if "model.weights.h5" in names:
            return "keras"
        if any(n.endswith("data.pkl") for n in names):
            return "torch-pickle"
        raise ValueError(f"{path}: a zip file that is neither a Keras 3 .keras archive nor a "
                         "PyTorch checkpoint")
    n = int.from_bytes(head[:8], "little")  # safetensors: header length, then a JSON object
    if head[8:9] == b"{" and 0 < n < 100_000_000:
        return "safetensors"
    if head[:1] == b"\x80" or path.suffix in (".pt", ".pth", ".ckpt", ".bin"):
        return "torch-pickle"
    if path.suffix == ".onnx" or head[:1] == b"\x08":  # protobuf: field 1 (ir_version)
        return "onnx"
    raise ValueError(f"{path}: not a readable safetensors, Keras (.h5, .weights.h5, .keras) "
                     f"or ONNX file (starts with {head[:8]!r})")


def refuse_pickle(path: str | Path) -> ValueError:
    """The error for a pickled PyTorch file: dsconv never unpickles (it can run code)."""
    return ValueError(
        f"{path}: a pickled PyTorch file (torch.save). dsconv reads safetensors, which cannot "
        "run code when loaded; convert it once where you trust the file: "
        "`from safetensors.torch import save_file; save_file(torch.load(p), 'model.safetensors')`"
    )
