#!/usr/bin/python3
"""Deterministic benchmark data for bench/run (fixed seeds, no /dev/urandom).

    gen.py tree DIR FILES BYTES   a source-tree-like directory: FILES files,
                                  BYTES bytes in total, mixed sizes, depth 1-6
    gen.py blob FILE BYTES        one moderately compressible file

Content is a mix of "text" (words from a 4096-word vocabulary, gzip -6
ratio ~0.45) and incompressible bytes (random.Random.randbytes, ~280 MB/s).
Text comes from slices of a 16 MiB corpus taken at random offsets, so
writing it is a memory copy; gzip's 32 KiB window never sees the reuse.
The same arguments always give byte-identical output.
"""

import os
import random
import sys

CORPUS_SIZE = 16 << 20
CHUNK = 1 << 20

TEXT_EXT = ["rs", "go", "py", "js", "ts", "md", "json", "yaml", "txt", "html", "css", "c", "h", "toml"]
BIN_EXT = ["png", "jpg", "so", "a", "gz", "woff2", "bin", "pdf"]


def corpus(rng):
    letters = b"abcdefghijklmnopqrstuvwxyz_"
    words = []
    for _ in range(4096):
        n = rng.randint(2, 11)
        words.append(bytes(letters[b % len(letters)] for b in rng.randbytes(n)))
    seps = [b" ", b" ", b" ", b" ", b"(", b") ", b", ", b".", b";\n", b"\n    ", b" = ", b"{\n"]
    idx = rng.randbytes(3 * (CORPUS_SIZE // 5))
    out = []
    size = 0
    i = 0
    while size < CORPUS_SIZE:
        w = words[((idx[i] << 8) | idx[i + 1]) & 4095]
        s = seps[idx[i + 2] % len(seps)]
        out.append(w)
        out.append(s)
        size += len(w) + len(s)
        i += 3
    return b"".join(out)[:CORPUS_SIZE]


class Source:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.corpus = corpus(random.Random(seed ^ 0x5EED))

    def text(self, n):
        parts = []
        while n > 0:
            k = min(n, 64 << 10)
            off = self.rng.randrange(0, CORPUS_SIZE - k)
            parts.append(self.corpus[off:off + k])
            n -= k
        return b"".join(parts)

    def random(self, n):
        return self.rng.randbytes(n)

    def mixed(self, n, text_share):
        """n bytes in 1 MiB chunks, each text with probability text_share."""
        while n > 0:
            k = min(n, CHUNK)
            if self.rng.random() < text_share:
                yield self.text(k)
            else:
                yield self.random(k)
            n -= k


def gen_blob(path, total):
    src = Source(1)
    with open(path, "wb") as f:
        for chunk in src.mixed(total, 0.75):
            f.write(chunk)


def gen_tree(root, files, total):
    rng = random.Random(2)
    src = Source(3)
    # Directories: a handful of top-level trees, each 1-6 levels deep.
    ndirs = max(1, files // 14)
    dirs = []
    tops = ["src", "lib", "vendor", "assets", "docs", "tests", "tools", "web"]
    for i in range(ndirs):
        if dirs and rng.random() < 0.8:
            parent = rng.choice(dirs)
            if parent.count("/") >= 5:
                parent = parent.rsplit("/", 1)[0]
            d = f"{parent}/d{i:04d}"
        else:
            d = f"{rng.choice(tops)}/m{i:04d}"
        dirs.append(d)
    # Sizes: log-normal (many small files, a few large), scaled to `total`.
    raw = [rng.lognormvariate(8.5, 1.9) for _ in range(files)]
    scale = total / sum(raw)
    sizes = [int(r * scale) for r in raw]
    sizes[0] += total - sum(sizes)
    for i, size in enumerate(sizes):
        d = rng.choice(dirs)
        binary = rng.random() < 0.3 or size > (4 << 20)
        ext = rng.choice(BIN_EXT if binary else TEXT_EXT)
        path = os.path.join(root, d, f"f{i:05d}.{ext}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            if binary:
                for chunk in src.mixed(size, 0.2):
                    f.write(chunk)
            else:
                f.write(src.text(size))


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "tree":
        gen_tree(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "blob":
        gen_blob(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
