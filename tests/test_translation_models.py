"""The translation models (SliceNet, its regular-conv twin, the Transformer baseline) and
decoding: parameter counts by closed form, causality, the padding mask, incremental decoding
equal to recomputation, beam search, and a tiny model learning 8 pairs."""

import math

import pytest
import torch
import torch.nn.functional as F

import dsconv
from dsconv.blocks import ConvStep
from dsconv.blocks.sequence import reorder_state
from dsconv.cost import profile
from dsconv.models import SliceNetConfig, model_info
from dsconv.models.decode import beam_search, beam_search_nbest, gnmt_penalty, greedy
from dsconv.models.seq2seq import BOS, EOS, PAD, Seq2Seq

V = 50  # tiny vocabulary
TOKEN_MODELS = [n for n in dsconv.list_models() if model_info(n).tokens]
TINY = {"slicenet_small": dict(hidden=32, enc_layers=2, dec_layers=2),
        "slicenet_standard": dict(hidden=16, enc_layers=1, dec_layers=1),
        "slicenet": dict(hidden=32, enc_layers=1, dec_layers=1),
        "transformer": dict(hidden=32, ff=64)}
SCHEMES = [dict(kernels=(3, 7, 15, 31), dilations=(1, 1, 1, 1)),
           dict(kernels=(3, 7, 15, 31), dilations=(1, 2, 4, 8)),
           dict(kernels=(3, 5, 5), dilations=(1, 4, 2), separability="super", groups=4),
           dict(kernels=(2, 3, 4), dilations=(3, 1, 2), separability="standard", heads=4)]
CASES = [("slicenet_small", s) for s in SCHEMES] + [("transformer", {})]


def tiny(name, **kw):
    torch.manual_seed(0)
    return dsconv.create_model(name, vocab_size=V, **{**TINY[name], **kw}).eval()


def batch(b=3, s=9, t=8, seed=1):
    """Sources ending in EOS, the first one padded after 5 tokens; targets from BOS."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, V, (b, s), generator=g)
    src[:, -1] = EOS
    src[0, 4], src[0, 5:] = EOS, PAD
    tgt = torch.randint(4, V, (b, t), generator=g)
    tgt[:, 0] = BOS
    return src, tgt


def slicenet_params(cfg: SliceNetConfig) -> int:
    """Closed form: shared embedding; per ConvModule its convs (k*c + c^2/g separable,
    k*c^2 regular, no bias) and LayerNorms; per attention 4 projections and a LayerNorm; the
    IO mixer's 2c -> c step and attention; the LayerNorm ending each stack."""
    c, g = cfg.hidden, cfg.groups if cfg.separability == "super" else 1

    def conv(k, cin):
        return k * cin * c if cfg.separability == "standard" else k * cin + cin * c // g

    module = sum(conv(k, c) + 2 * c for k in cfg.kernels)
    attn = 4 * c * c + 2 * c
    mixer = conv(cfg.kernels[0], 2 * c) + 2 * c + attn
    stacks = cfg.enc_layers * module + cfg.dec_layers * (module + attn) + 2 * 2 * c  # + norms
    return cfg.vocab_size * c + stacks + mixer


def transformer_params(d=256, layers=(3, 3), ff=1024, vocab=8000) -> int:
    attn, ffn, norm = 4 * d * d + 4 * d, 2 * d * ff + ff + d, 2 * d
    enc = layers[0] * (attn + ffn + 2 * norm) + norm
    dec = layers[1] * (2 * attn + ffn + 3 * norm) + norm
    return vocab * d + enc + dec


@pytest.mark.parametrize("separability,groups,k,formula", [
    ("separable", 1, 3, lambda k, c, g: k * c + c * c),
    ("separable", 1, 31, lambda k, c, g: k * c + c * c),
    ("super", 2, 15, lambda k, c, g: k * c + c * c // g),
    ("super", 4, 7, lambda k, c, g: k * c + c * c // g),
    ("standard", 1, 7, lambda k, c, g: k * c * c),
])
def test_conv_step_parameters_equal_the_closed_forms(separability, groups, k, formula):
    c = 32
    style = SliceNetConfig(separability=separability, groups=groups).style()
    step = ConvStep(c, c, k, 2, style, causal=True)
    p = profile(step.conv, (20,), in_chans=c)
    assert p.trainable_params == formula(k, c, groups)
    assert p.macs == 20 * formula(k, c, groups)  # one multiply-add per weight per position


@pytest.mark.parametrize("name", TOKEN_MODELS)
def test_registered_parameter_counts_equal_expected_and_closed_form(name):
    model = dsconv.create_model(name)
    p = profile(model, (6,))
    assert p.trainable_params == model_info(name).expected["params"]
    closed = slicenet_params(model.cfg) if name.startswith("slicenet") else transformer_params()
    assert p.trainable_params == closed
    assert p.tokens == 6 and p.macs_per_token == p.macs // 6 > 0


def test_registered_sizes():
    counts = {n: model_info(n).expected["params"] for n in TOKEN_MODELS}
    assert counts["transformer"] == 7_578_624
    assert 7e6 <= counts["slicenet_small"] <= 8e6  # the transformer's size, for a CPU
    assert counts["slicenet_standard"] > 6 * counts["slicenet_small"]
    assert dsconv.create_model("slicenet").cfg.hidden == 768


def test_profile_counts_transformer_attention_and_tied_softmax():
    d, ff, vocab, n = 32, 64, V, 10
    model = tiny("transformer")
    mha = lambda t, s: 4 * t * d * d + 2 * t * s * d  # noqa: E731  (projections, products)
    enc = 3 * (mha(n, n) + 2 * n * d * ff)
    dec = 3 * (2 * mha(n, n) + 2 * n * d * ff)
    p = profile(model, (n,))
    assert p.macs == enc + dec + n * d * vocab
    assert sum(r.params for r in p.rows) == p.trainable_params  # the tied matrix counted once


def test_profile_counts_slicenet_convs_attention_and_softmax():
    # The convs run channels-last inside ConvStep; the profiler must still see every one.
    kw = dict(kernels=(3, 5, 7), dilations=(1, 2, 4), separability="super", groups=2, heads=2)
    model = tiny("slicenet_small", **kw)
    c, n, cfg = 32, 10, model.cfg
    module = n * sum(k * c + c * c // 2 for k in cfg.kernels)
    attn = 4 * n * c * c + 2 * n * n * c
    mixer = n * (3 * 2 * c + 2 * c * c // 2) + attn
    want = cfg.enc_layers * module + cfg.dec_layers * (module + attn) + mixer + n * c * V
    p = profile(model, (n,))
    assert p.macs == want and p.macs_per_token == want // n
    assert sum(r.params for r in p.rows) == p.trainable_params == slicenet_params(cfg)


@pytest.mark.parametrize("name,kw", CASES)
def test_decoder_is_causal(name, kw):
    model = tiny(name, **kw)
    src, tgt = batch()
    with torch.no_grad():
        a = model(src, tgt)
        for t in (0, 3):
            changed = tgt.clone()
            changed[:, t + 1:] = torch.randint(4, V, changed[:, t + 1:].shape)
            b = model(src, changed)
            torch.testing.assert_close(b[:, :t + 1], a[:, :t + 1], atol=1e-5, rtol=0)
            assert not torch.allclose(b[:, t + 1:], a[:, t + 1:])


@pytest.mark.parametrize("name,kw", CASES)
def test_source_padding_does_not_change_the_outputs(name, kw):
    model = tiny(name, **kw)
    src, tgt = batch()
    short = src[:1, :5]  # sentence 0 without its padding
    with torch.no_grad():
        alone = model(short, tgt[:1])
        padded = model(src, tgt)[:1]
        more = model(F.pad(src, (0, 7), value=PAD), tgt)[:1]
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(more, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name,kw", CASES)
def test_incremental_decoding_equals_recomputation(name, kw):
    model = tiny(name, **kw)
    src, tgt = batch(t=12)
    with torch.no_grad():
        memory = model.encode(src)
        full = model.decode(memory, tgt).log_softmax(-1)
        state = model.start(memory)
        steps = torch.stack([model.step(state, tgt[:, t]) for t in range(tgt.shape[1])], 1)
    torch.testing.assert_close(steps.log_softmax(-1), full, atol=1e-5, rtol=0)
    tokens, logp = greedy(model, src, max_len=15)
    again, logp_again = greedy(model, src, max_len=15, recompute=True)
    assert tokens == again and all(len(t) == 15 for t in tokens)  # untrained: no EOS
    torch.testing.assert_close(logp, logp_again, atol=1e-5, rtol=0)


def test_a_super_separable_slicenet_keeps_its_groups():
    model = tiny("slicenet_small", separability="super", groups=4)
    convs = [m for m in model.modules() if isinstance(m, dsconv.layers.SeparableConv)]
    assert convs and all(c.groups == 4 and c.pointwise.groups == 4 for c in convs)
    twin = tiny("slicenet_small", separability="standard")
    assert not any(isinstance(m, dsconv.layers.SeparableConv) for m in twin.modules())


@pytest.mark.parametrize("name,kw", CASES[::2])
def test_beam_one_is_greedy_and_nbest_is_sorted(name, kw):
    model = tiny(name, **kw)
    src, _ = batch(b=4)
    tokens, _ = greedy(model, src, max_len=10)
    one, _ = beam_search(model, src, beam=1, max_len=10)
    assert one == tokens
    for hyps in beam_search_nbest(model, src, beam=3, max_len=10):
        scores = [s for _, s in hyps]
        assert len(hyps) == 3 and scores == sorted(scores, reverse=True)


class Markov(Seq2Seq):
    """A toy model: the next token's probabilities depend on the last token only."""

    def __init__(self, table: dict[int, dict[int, float]], vocab: int = 8):
        super().__init__()
        probs = torch.full((vocab, vocab), 1e-9)
        for last, nxt in table.items():
            for tok, p in nxt.items():
                probs[last, tok] = p
        self.logits = probs.log()

    def encode(self, src):
        return src

    def decode(self, memory, tgt_in):
        return self.logits[tgt_in]

    def start(self, memory):
        return {"rows": torch.arange(memory.shape[0])}

    def step(self, state, tokens):
        return self.logits[tokens]

    def reorder(self, state, index):
        return reorder_state(state, index)


def test_beam_search_finds_what_greedy_misses():
    # From BOS: 4 (0.5) or 5 (0.4). After 4 nothing is likely (EOS 0.4); after 5, EOS 0.9.
    model = Markov({BOS: {4: 0.5, 5: 0.4, 6: 0.1}, 4: {EOS: 0.4, 6: 0.3, 7: 0.3},
                    5: {EOS: 0.9, 6: 0.1}, 6: {EOS: 1.0}, 7: {EOS: 1.0}})
    src = torch.tensor([[4, EOS], [5, EOS]])
    tokens, logp = greedy(model, src)
    assert tokens == [[4], [4]]
    torch.testing.assert_close(logp.sum(1), torch.full((2,), math.log(0.5 * 0.4)))
    best, scores = beam_search(model, src, beam=2, length_penalty=0.6)
    assert best == [[5], [5]]
    want = math.log(0.4 * 0.9) / gnmt_penalty(2, 0.6)  # two tokens with EOS
    torch.testing.assert_close(scores, torch.full((2,), want))
    hyps = beam_search_nbest(model, src[:1], beam=2, length_penalty=0.6)[0]
    assert [h[0] for h in hyps] == [[5], [4]]


def test_decoding_stops_at_the_length_limit():
    loop = Markov({BOS: {4: 1.0}, 4: {4: 1.0}})  # never ends
    src = torch.tensor([[4, 4, EOS], [4, EOS, PAD]])
    tokens, _ = greedy(loop, src, max_len=7)
    assert tokens == [[4] * 7, [4] * 7]
    tokens, _ = greedy(loop, src)  # default: source length + 50
    assert [len(t) for t in tokens] == [53, 52]
    best, _ = beam_search(loop, src, beam=3, max_len=5)
    assert best == [[4] * 5, [4] * 5]


def test_default_length_is_capped_by_the_model():
    model = tiny("slicenet_small", max_len=12)
    src, _ = batch()
    tokens, _ = greedy(model, src)
    assert max(len(t) for t in tokens) == 12


@pytest.mark.parametrize("name", ["slicenet_small", "transformer"])
def test_a_tiny_model_learns_eight_pairs(name):
    model = tiny(name, drop_rate=0.0, enc_layers=1, dec_layers=1).train()
    src, tgt = batch(b=8, s=7, t=7, seed=3)
    out = torch.cat([tgt[:, 1:], torch.full((8, 1), EOS)], 1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        loss = F.cross_entropy(model(src, tgt).flatten(0, 1), out.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])


@pytest.mark.parametrize("name", ["slicenet_small", "transformer"])
def test_a_bf16_autocast_step_reaches_every_parameter(name):
    model = tiny(name, enc_layers=1, dec_layers=1).train()
    src, tgt = batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(src, tgt)
    assert logits.dtype == torch.bfloat16
    F.cross_entropy(logits.float().flatten(0, 1), tgt.flatten()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_bad_token_inputs_name_the_problem():
    model = tiny("slicenet_small")
    src, tgt = batch()
    with pytest.raises(ValueError, match=r"source ids must lie in \[0, 50\) \(the model's "
                                         r"vocab_size\), got 0\.\.50"):
        model(torch.cat([src, torch.full((3, 1), V)], 1), tgt)
    with pytest.raises(ValueError, match=r"target as a \(batch, length\) tensor of integer"):
        model(src, tgt.float())
    with pytest.raises(ValueError, match=r"shape \(9,\); add a batch axis"):
        greedy(model, src[0])
    with pytest.raises(ValueError, match=r"separability='depthwise': expected one of"):
        dsconv.create_model("slicenet_small", separability="depthwise")
    with pytest.raises(ValueError, match=r"heads=3: must be a positive divisor"):
        dsconv.create_model("transformer", heads=3)
