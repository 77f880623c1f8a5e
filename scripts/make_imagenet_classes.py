"""Generate src/dsconv/data/imagenet_classes.json: the 1000 ImageNet-1k classes, in index order.

Source: the WordNet synset list and lemmas that timm ships offline in its wheel
(timm/data/_info/imagenet_synsets.txt, imagenet_synset_to_lemma.txt). ImageNet-1k's class
index is the sorted synset ids, the order Keras's imagenet_class_index.json uses; the short
name is the first lemma with spaces as underscores, as in Keras.

Usage:
    pip download --no-deps timm -d /tmp/timm
    python scripts/make_imagenet_classes.py /tmp/timm/timm-*.whl
"""

import json
import sys
import zipfile
from pathlib import Path

wheel = zipfile.ZipFile(sys.argv[1])
read = lambda name: wheel.read(f"timm/data/_info/{name}").decode("utf8")  # noqa: E731
synsets = read("imagenet_synsets.txt").split()
lemmas = dict(line.split("\t", 1) for line in read("imagenet_synset_to_lemma.txt").splitlines()
              if "\t" in line)
assert len(synsets) == 1000 and synsets == sorted(synsets), "expected the 1000 sorted synsets"
classes = [[wnid, lemmas[wnid].split(",")[0].strip().replace(" ", "_")] for wnid in synsets]
out = Path(__file__).resolve().parents[1] / "src/dsconv/data/imagenet_classes.json"
out.write_text("[\n" + ",\n".join(json.dumps(c) for c in classes) + "\n]\n")
print(f"wrote {len(classes)} classes to {out}")
