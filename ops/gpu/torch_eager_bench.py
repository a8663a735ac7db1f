#!/usr/bin/env python3
"""PyTorch eager reference for the GPU benchmark (issue 7): the Llama 3 8B shape with seeded random bf16 weights
drawn on the GPU, a contiguous KV cache, SDPA attention with grouped-query heads. What a user would write
without a serving engine. Prints one JSON object: time to first token per prompt length, single-stream decode
tokens/s, batched decode tokens/s per batch size, peak GPU memory.
Written without a GPU at hand (no torch on the development machines): first run happens on the GPU host."""
import argparse, json, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--lens", type=int, nargs="+", default=[128, 2048, 8000])
p.add_argument("--batches", type=int, nargs="+", default=[16, 64])
p.add_argument("--gen", type=int, default=128)
p.add_argument("--layers", type=int, default=32)
a = p.parse_args()

H, NH, NKV, D, FF, V, THETA, EPS = 4096, 32, 8, 128, 14336, 128256, 500000.0, 1e-5
L, dev, dt = a.layers, "cuda", torch.bfloat16
torch.manual_seed(0)

def rnd(*shape, std):
    return (torch.randn(*shape, device=dev, dtype=dt) * std)

emb = rnd(V, H, std=1.0)
layers = [dict(n1=1 + rnd(H, std=0.1), qkv=rnd(H, (NH + 2 * NKV) * D, std=0.02), o=rnd(NH * D, H, std=0.02),
               n2=1 + rnd(H, std=0.1), gu=rnd(H, 2 * FF, std=0.02), down=rnd(FF, H, std=0.02)) for _ in range(L)]
norm, head = 1 + rnd(H, std=0.1), rnd(H, V, std=0.02)
inv = 1.0 / (THETA ** (torch.arange(0, D, 2, device=dev, dtype=torch.float32) / D))
MAXPOS = max(a.lens) + a.gen + 8
freqs = torch.outer(torch.arange(MAXPOS, device=dev, dtype=torch.float32), inv)
COS, SIN = torch.cat([freqs, freqs], -1).cos().to(dt), torch.cat([freqs, freqs], -1).sin().to(dt)

def rms(x, w):
    xf = x.float()
    return w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS)).to(dt)

def rope(x, pos0):  # x [B, heads, T, D]
    T = x.shape[2]
    c, s = COS[pos0:pos0 + T], SIN[pos0:pos0 + T]
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * c + torch.cat([-x2, x1], -1) * s

@torch.inference_mode()
def forward(ids, pos0, kc, vc):  # ids [B, T]; kc, vc [L, B, NKV, MAX, D]
    B, T = ids.shape
    h = emb[ids]
    for i, w in enumerate(layers):
        qkv = rms(h, w["n1"]) @ w["qkv"]
        q, k, v = qkv.split([NH * D, NKV * D, NKV * D], -1)
        q = rope(q.view(B, T, NH, D).transpose(1, 2), pos0)
        k = rope(k.view(B, T, NKV, D).transpose(1, 2), pos0)
        kc[i, :, :, pos0:pos0 + T] = k
        vc[i, :, :, pos0:pos0 + T] = v.view(B, T, NKV, D).transpose(1, 2)
        K, Vv = kc[i, :, :, :pos0 + T], vc[i, :, :, :pos0 + T]
        att = F.scaled_dot_product_attention(q, K, Vv, is_causal=T > 1, enable_gqa=True)
        h = h + att.transpose(1, 2).reshape(B, T, NH * D) @ w["o"]
        g, u = (rms(h, w["n2"]) @ w["gu"]).chunk(2, -1)
        h = h + (F.silu(g) * u) @ w["down"]
    return (rms(h[:, -1], norm) @ head).float().argmax(-1)

def cache(B, T):
    return (torch.zeros(L, B, NKV, T, D, device=dev, dtype=dt), torch.zeros(L, B, NKV, T, D, device=dev, dtype=dt))

def timed(fn):
    torch.cuda.synchronize(); t = time.perf_counter(); r = fn(); torch.cuda.synchronize()
    return time.perf_counter() - t, r

out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "dtype": "bf16", "layers": L}
ttft = {}
for n in a.lens:
    kc, vc = cache(1, n + 1)
    ids = torch.randint(1000, 100000, (1, n), device=dev)
    forward(ids, 0, kc, vc)  # warm-up
    ttft[str(n)] = round(min(timed(lambda: forward(ids, 0, kc, vc))[0] for _ in range(3)) * 1000, 2)
    del kc, vc
out["ttft_ms"] = ttft

def decode(B, prompt=128):
    kc, vc = cache(B, prompt + a.gen + 1)
    ids = torch.randint(1000, 100000, (B, prompt), device=dev)
    nxt = forward(ids, 0, kc, vc)
    def steps():
        t = nxt
        for s in range(a.gen):
            t = forward(t.view(B, 1), prompt + s, kc, vc)
        return t
    steps()  # warm-up (allocator, kernels)
    secs, _ = timed(steps)
    return B * a.gen / secs

out["single_stream_decode_tok_s"] = round(decode(1), 1)
out["batched_decode_tok_s"] = {str(b): round(decode(b), 1) for b in a.batches}
out["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
print(json.dumps(out))
