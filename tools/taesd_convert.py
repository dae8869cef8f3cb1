#!/usr/bin/env python3
"""taesd_convert.py — converts TAESD's PyTorch checkpoints (taesd_decoder.pth, taesd_encoder.pth,
taesdxl_decoder.pth, taesdxl_encoder.pth from github.com/madebyollin/taesd, MIT) to .safetensors for
imagine's --fast-decoder, with neither torch nor numpy.

    python3 tools/taesd_convert.py taesd_decoder.pth taesd_decoder.safetensors

Keys are kept as the .pth has them ("1.weight", "3.conv.0.weight", ...): imagine's loader
(src/models/taesd.h) tells a decoder from an encoder by them. A diffusers AutoencoderTiny folder
(madebyollin/taesd on the Hub: config.json + diffusion_pytorch_model.safetensors) needs no
conversion.

How a .pth is read. torch.save writes a zip whose entries sit under one folder (the file's stem,
or "archive"): <folder>/data.pkl is a pickle of the state dict (a collections.OrderedDict) in
which every tensor is a call to torch._utils._rebuild_tensor_v2(storage, storage_offset, size,
stride, requires_grad, backward_hooks[, metadata]), and every storage a persistent id
("storage", <torch.FloatStorage or another typed storage class>, key, location, numel) whose
little-endian bytes are the entry <folder>/data/<key>. We unpickle with a find_class that admits
only those few names (nothing else in the file can run), gather each tensor's elements by its
offset and strides, and write the safetensors format: an 8-byte little-endian header length, a
JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the data.

Tested on synthetic files only (tests/unit/taesd_pth.py writes them in torch.save's layout, and
tests/unit/test_taesd.c converts and loads them): the real .pth files could not be downloaded where
this was written.
"""
import collections
import json
import pickle
import struct
import sys
import zipfile

# torch's typed storage classes -> (safetensors dtype, bytes per element)
STORAGES = {
    "FloatStorage": ("F32", 4),
    "HalfStorage": ("F16", 2),
    "BFloat16Storage": ("BF16", 2),
}


class StorageType:
    def __init__(self, name):
        self.dtype, self.size = STORAGES[name]


class Storage:
    def __init__(self, dtype, size, data):
        self.dtype, self.size, self.data = dtype, size, data


class Tensor:
    def __init__(self, dtype, shape, data):
        self.dtype, self.shape, self.data = dtype, shape, data


def rebuild_tensor(storage, offset, size, stride, *_rest):
    """torch._utils._rebuild_tensor_v2: the elements of storage at offset + sum(i_d * stride_d)."""
    es, shape, stride = storage.size, tuple(size), tuple(stride)
    n = 1
    for d in shape:
        n *= d
    contiguous, step = [], 1
    for d in reversed(shape):
        contiguous.insert(0, step)
        step *= d
    if n == 0:
        data = b""
    elif tuple(s for s, d in zip(stride, shape) if d > 1) == tuple(c for c, d in zip(contiguous, shape) if d > 1):
        data = storage.data[offset * es:(offset + n) * es]
    else:  # a view with other strides: gather element by element, in C order
        out, idx = bytearray(), [0] * len(shape)
        for _ in range(n):
            o = offset + sum(i * s for i, s in zip(idx, stride))
            out += storage.data[o * es:(o + 1) * es]
            for d in reversed(range(len(shape))):
                idx[d] += 1
                if idx[d] < shape[d]:
                    break
                idx[d] = 0
        data = bytes(out)
    if len(data) != n * es:
        raise ValueError("a tensor reaches past the end of its storage")
    return Tensor(storage.dtype, list(shape), data)


def rebuild_parameter(tensor, *_rest):
    return tensor


class Unpickler(pickle.Unpickler):
    def __init__(self, f, zf, folder):
        super().__init__(f)
        self.zf, self.folder, self.cache = zf, folder, {}

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return rebuild_parameter
        if module == "torch" and name in STORAGES:
            return StorageType(name)
        raise pickle.UnpicklingError(f"{module}.{name} is not something a TAESD state dict holds")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        stype, key = pid[1], str(pid[2])
        if not isinstance(stype, StorageType):
            raise pickle.UnpicklingError(f"unexpected storage type {stype!r}")
        if key not in self.cache:
            self.cache[key] = Storage(stype.dtype, stype.size, self.zf.read(f"{self.folder}/data/{key}"))
        return self.cache[key]


def load_pth(path):
    with zipfile.ZipFile(path) as zf:
        pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise ValueError(f"{path}: not a torch.save zip (no single <folder>/data.pkl)")
        folder = pkls[0][: -len("/data.pkl")]
        with zf.open(pkls[0]) as f:
            sd = Unpickler(f, zf, folder).load()
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ValueError(f"{path}: the pickle is not a state dict")
    out = collections.OrderedDict()
    for k, v in sd.items():
        if not isinstance(v, Tensor):
            raise ValueError(f"{path}: {k} is not a tensor")
        out[str(k)] = v
    return out


def write_safetensors(path, tensors, metadata):
    header, offset = {}, 0
    for k in sorted(tensors):
        t = tensors[k]
        header[k] = {"dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + len(t.data)]}
        offset += len(t.data)
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the data block starts 8-aligned: every tensor stays aligned to its element
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for k in sorted(tensors):
            f.write(tensors[k].data)


def main(argv):
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        print("usage: taesd_convert.py IN.pth OUT.safetensors", file=sys.stderr)
        return 2
    try:
        tensors = load_pth(argv[1])
        write_safetensors(argv[2], tensors, {"format": "pt", "source": argv[1].rsplit("/", 1)[-1]})
    except (OSError, ValueError, KeyError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        print(f"taesd_convert: {e}", file=sys.stderr)
        return 1
    print(f"{argv[2]}: {len(tensors)} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
