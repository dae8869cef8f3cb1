#!/usr/bin/env python3
"""taesd_pth.py — writes a synthetic PyTorch checkpoint in torch.save's zip layout, without torch,
from the F32 tensors of a .safetensors file, for test_taesd.c to run tools/taesd_convert.py on.

    python3 tests/unit/taesd_pth.py IN.safetensors OUT.pth

The layout written (what torch.save does, from its documented format): a zip whose entries sit in
one folder named after the file's stem; <stem>/data.pkl is a protocol-2 pickle of a
collections.OrderedDict (with its _metadata attribute) whose values reduce to
torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
OrderedDict()); each storage pickles as the persistent id ("storage", torch.FloatStorage, key,
"cpu", numel) and its bytes are the entry <stem>/data/<key>; <stem>/version holds "3" and
<stem>/byteorder "little". torch is not installed here, so the names torch.FloatStorage and
torch._utils._rebuild_tensor_v2 are stand-ins registered in sys.modules for the pickler to name.

Beyond the plain case, so that the converter's gathering is exercised: the first two tensors
(in key order) share one storage (the second at an offset), and every 2-D or larger bias-free
tensor whose first dim is 3 (the decoder's last conv) is stored transposed
(a view with non-C strides), as a state dict holding views would be.
"""
import collections
import json
import os
import pickle
import struct
import sys
import types
import zipfile


def install_stand_ins():
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"

    def _rebuild_tensor_v2(*args):
        raise RuntimeError("stand-in only")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage, torch._utils, utils._rebuild_tensor_v2 = FloatStorage, utils, _rebuild_tensor_v2
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    return FloatStorage, _rebuild_tensor_v2


FloatStorage, rebuild = install_stand_ins()


class StorageRef:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        return (rebuild, (self.storage, self.offset, tuple(self.size), tuple(self.stride), False,
                          collections.OrderedDict()))


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            return ("storage", FloatStorage, obj.key, "cpu", obj.numel)
        return None


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = collections.OrderedDict()
    for k in sorted(header):
        if k == "__metadata__":
            continue
        h = header[k]
        if h["dtype"] != "F32":
            raise SystemExit(f"{path}: {k} is {h['dtype']}, only F32 is written here")
        b, e = h["data_offsets"]
        out[k] = (h["shape"], data[b:e])
    return out


def main(argv):
    src, dst = argv[1], argv[2]
    tensors = read_safetensors(src)
    stem = os.path.splitext(os.path.basename(dst))[0]
    storages = {}  # key -> bytes
    sd = collections.OrderedDict()
    keys = list(tensors)
    for i, k in enumerate(keys):
        shape, data = tensors[k]
        n = len(data) // 4
        contiguous, step = [], 1
        for d in reversed(shape):
            contiguous.insert(0, step)
            step *= d
        if i == 1:  # shares storage "0" with the first tensor, after it
            first = storages["0"]
            storages["0"] = first + data
            sd[k] = TensorRef(StorageRef("0", (len(first) + len(data)) // 4), len(first) // 4, shape, contiguous)
            continue
        key = str(len(storages))
        if len(shape) >= 2 and shape[0] == 3:
            # stored as the transpose of dims 0 and 1: element (a, b, ...) at b * (s0 * rest) + a * rest + ...
            rest = n // (shape[0] * shape[1])
            buf = bytearray(len(data))
            for a in range(shape[0]):
                for b in range(shape[1]):
                    src_o = (a * shape[1] + b) * rest
                    dst_o = (b * shape[0] + a) * rest
                    buf[dst_o * 4:(dst_o + rest) * 4] = data[src_o * 4:(src_o + rest) * 4]
            storages[key] = bytes(buf)
            stride = [rest, shape[0] * rest] + contiguous[2:]
            sd[k] = TensorRef(StorageRef(key, n), 0, shape, stride)
        else:
            storages[key] = data
            sd[k] = TensorRef(StorageRef(key, n), 0, shape, contiguous)
    sd._metadata = collections.OrderedDict({"": {"version": 1}})
    refs = {}  # one StorageRef object per key, as torch pickles one storage once
    for t in sd.values():
        refs.setdefault(t.storage.key, t.storage)
        t.storage = refs[t.storage.key]
    for key, ref in refs.items():
        ref.numel = len(storages[key]) // 4
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zf:
        import io
        buf = io.BytesIO()
        Pickler(buf, protocol=2).dump(sd)
        zf.writestr(f"{stem}/data.pkl", buf.getvalue())
        zf.writestr(f"{stem}/byteorder", "little")
        for key in sorted(storages, key=int):
            zf.writestr(f"{stem}/data/{key}", storages[key])
        zf.writestr(f"{stem}/version", "3\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
