"""The package's shape: parts import only the parts below them, functions stay short, and the
model base and head serve any number of spatial dims."""

import ast
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

SRC = Path(__file__).parents[1] / "src" / "dsconv"
# Bottom to top: a part may import only the parts before it (and itself).
PARTS = ["utils", "layers", "blocks", "models", "data", "cost", "weights", "deploy", "train",
         "experiments", "cli"]


def part_of(path: Path) -> str | None:
    rel = path.relative_to(SRC).parts
    return rel[0].removesuffix(".py") if len(rel) > 1 or rel[0] not in (
        "__init__.py", "__main__.py") else None


def imported_parts(path: Path, text: str | None = None) -> set[tuple[str, int]]:
    """(part, line) of every dsconv import in the file, inside functions too."""
    tree = ast.parse(path.read_text() if text is None else text)
    pkg = path.relative_to(SRC).parent.parts
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = list(pkg[:len(pkg) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # `from .. import x` at the top: x is the part
                    target = [node.names[0].name]
            elif node.module and node.module.split(".")[0] == "dsconv":
                target = node.module.split(".")[1:] or [node.names[0].name]
            else:
                continue
            found.add((target[0], node.lineno))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("dsconv."):
                    found.add((a.name.split(".")[1], node.lineno))
    return found


def test_parts_import_only_parts_below_them():
    bad = []
    for path in SRC.rglob("*.py"):
        me = part_of(path)
        if me is None:
            continue
        assert me in PARTS, f"{path}: part {me!r} is not in the declared order"
        for other, line in imported_parts(path):
            if other in PARTS and PARTS.index(other) > PARTS.index(me):
                bad.append(f"{path.relative_to(SRC)}:{line} ({me}) imports {other}")
    assert not bad, "imports that climb up the stack:\n" + "\n".join(sorted(bad))


def test_the_checker_sees_imports_inside_functions():
    probe = SRC / "layers" / "probe.py"  # not written: only its place in the package counts
    text = "def f():\n    from ..train import train\n    import dsconv.cli\n"
    assert imported_parts(probe, text) == {("train", 2), ("cli", 3)}


def test_no_function_over_70_lines():
    long = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > 70:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "\n".join(long)


class Tiny1d(nn.Module):
    """A 1-D classifier from the shared blocks: stem conv, two Xception modules, the head."""

    def __init__(self):
        from dsconv.blocks import ClassifierHead, ConvStyle, XceptionBlock, conv_norm_act
        from dsconv.layers import Conv1d

        super().__init__()
        style = ConvStyle(dims=1)
        self.blocks = nn.Sequential(OrderedDict(
            stem=conv_norm_act(Conv1d(6, 16, 5), 16, style.norm, style.act),
            b1=XceptionBlock(16, (32, 32), 2, False, style, kernel_size=9),
            b2=XceptionBlock(32, (32, 32, 32), 1, True, style, kernel_size=9)))
        self.head = ClassifierHead(32, 4, "avg", True)

    def forward(self, x):
        return self.head(self.blocks(x))


def test_a_1d_classifier_from_the_shared_blocks_trains():
    torch.manual_seed(0)
    model = Tiny1d()
    x, y = torch.randn(8, 6, 100), torch.randint(0, 4, (8,))
    out = model(x)
    assert out.shape == (8, 4)
    # 'same' padding and the strided pool: 100 -> 50 in block 1.
    assert model.blocks[:2](x).shape == (8, 32, 50)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(20):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]  # it learns the 8 samples


def test_model_base_runs_1d_xception_with_features_and_classifier_reset():
    import dsconv

    m = dsconv.create_model("xception", dims=1, in_chans=6, num_classes=4, kernel_size=9,
                            middle_repeats=1, entry_widths=(16, 32, 48), middle_width=48,
                            exit_widths=(48, 64), head_widths=(64, 96), stem_widths=(8, 16),
                            min_input_size=16).eval()
    x = torch.randn(2, 6, 128)
    with torch.no_grad():
        assert m(x).shape == (2, 4)
        final, feats = m.forward_intermediates(x)
        assert [f.shape[1] for f in feats] == [i["num_chs"] for i in m.feature_info]
        assert final.shape == (2, 96, feats[-1].shape[-1])
        assert len(m.forward_intermediates(x, indices=2, intermediates_only=True)) == 2
        m.reset_classifier(0)
        assert m(x).shape == (2, 96)  # timm's convention: pooled features
    with pytest.raises(ValueError, match=r"shaped \(N, 6, L\)"):
        m(torch.randn(6, 128))


# Kinds of data, and the spec prefixes that name them: only the modalities (and each kind's own
# readers in data/) may test them; everything else asks `dsconv.data.modality_of`.
KIND_WORDS = {"image", "images", "series", "text", "kind", "aeon:", "synthetic:", "digits"}
KIND_OWNERS = ("data/modalities/", "data/series.py", "data/series_io.py", "data/synthetic.py",
               "data/ts_file.py", "data/images.py", "data/digits.py")


def kind_tests(tree: ast.AST) -> list[int]:
    """Lines that compare with, look up or prefix-test a kind word or a spec prefix."""
    lines = []
    for node in ast.walk(tree):
        consts = []
        if isinstance(node, ast.Compare):
            consts = [node.left, *node.comparators]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("startswith", "get", "endswith"):
            consts = node.args[:1]
        elif isinstance(node, ast.Subscript):
            consts = [node.slice]
        if any(isinstance(c, ast.Constant) and c.value in KIND_WORDS for c in consts):
            lines.append(node.lineno)
    return lines


def test_only_the_modalities_test_a_kind_of_data_by_string():
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(KIND_OWNERS):
            continue
        bad += [f"{rel}:{n}" for n in kind_tests(ast.parse(path.read_text()))]
    assert not bad, "ask the modality instead of testing a kind by string:\n" + "\n".join(bad)


def test_the_kind_checker_sees_the_forms_it_forbids():
    text = ('a = pre.get("kind") == "series"\nb = spec.startswith("aeon:")\n'
            'c = d["kind"]\nd = unit == "images"\ne = x == "other"\n')
    assert sorted(kind_tests(ast.parse(text))) == [1, 1, 2, 3, 4]
