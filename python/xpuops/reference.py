"""Pure-NumPy references: the fp64 answers every precision and device is
measured against (DESIGN.md s3: SQNR, relative Frobenius, max abs error).
Written from the contract, independent of the C core."""

from __future__ import annotations

import numpy as np


def conv2d(
    x, w, bias=None, stride=(1, 1), pad=((0, 0), (0, 0)), dilation=(1, 1), groups=1
):
    """Direct convolution by sliding windows, in the dtype of x and w
    (float64 or int64). x [N, C, H, W], w [OC, C/g, KH, KW]."""
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), pad[0], pad[1]))
    eh, ew = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (eh, ew), axis=(2, 3))
    win = win[:, :, :: stride[0], :: stride[1], :: dilation[0], :: dilation[1]]
    ocg = oc // groups
    outs = []
    for g in range(groups):
        xg = win[:, g * cg : (g + 1) * cg]  # N, cg, OH, OW, KH, KW
        wg = w[g * ocg : (g + 1) * ocg]  # ocg, cg, KH, KW
        outs.append(np.einsum("ncpqij,ocij->nopq", xg, wg))
    out = np.concatenate(outs, axis=1)
    if bias is not None:
        out = out + np.asarray(bias).reshape(1, -1, 1, 1)
    return out


def conv1d(x, w, bias=None, stride=1, pad=(0, 0), dilation=1, groups=1):
    """Direct 1-D convolution, in the dtype of x and w: x [N, C, L], w [OC,
    C/g, KL], pad (begin, end) zeros along L; out[n, o, t] = sum over the
    group's channels c and taps i of x[n, c, t*stride + i*dilation - begin]
    * w[o, c, i], plus bias[o]."""
    n, c, length = x.shape
    oc, cg, kl = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), tuple(pad)))
    span = dilation * (kl - 1) + 1
    ol = (xp.shape[2] - span) // stride + 1
    ocg = oc // groups
    out = np.zeros((n, oc, max(ol, 0)), np.result_type(x, w))
    for i in range(kl):
        start = i * dilation
        taps = xp[:, :, start : start + stride * (ol - 1) + 1 : stride]  # N, C, OL
        for g in range(groups):
            xg = taps[:, g * cg : (g + 1) * cg]
            wg = w[g * ocg : (g + 1) * ocg, :, i]  # ocg, cg
            out[:, g * ocg : (g + 1) * ocg] += np.einsum("nct,oc->not", xg, wg)
    if bias is not None:
        out = out + np.asarray(bias).reshape(1, -1, 1)
    return out


def attention(
    q,
    k,
    v,
    causal=False,
    scale=None,
    mask=None,
    window=None,
    softcap=None,
    kv_lengths=None,
):
    """fp64 attention with a stable softmax and xo.attention's arguments
    (DESIGN.md s2); rows with no visible key give 0."""
    q, k, v = (np.asarray(t, np.float64) for t in (q, k, v))
    b, h, lq, d = q.shape
    hkv, lk = k.shape[1], k.shape[2]
    scale = 1 / np.sqrt(d) if scale is None else scale
    if lk == 0:  # no key at all: every row sees nothing and gives 0
        return np.zeros((b, h, lq, v.shape[3]))
    k = np.repeat(k, h // hkv, axis=1)
    v = np.repeat(v, h // hkv, axis=1)
    s = np.einsum("bhid,bhjd->bhij", q, k) * scale
    if softcap:
        s = softcap * np.tanh(s / softcap)
    if mask is not None:
        m = np.asarray(mask)
        s = s + (np.where(m, 0.0, -np.inf) if m.dtype == bool else m)
    i = np.arange(lq)[:, None]
    j = np.arange(lk)[None, :]
    pos = i if causal == "top-left" else i + (lk - lq)
    hide = np.zeros((lq, lk), bool)
    if causal:
        hide |= j > pos
    if window is not None:
        hide |= (j < pos - window[0]) if window[0] >= 0 else False
        hide |= (j > pos + window[1]) if window[1] >= 0 else False
    s = np.where(hide, -np.inf, s)
    if kv_lengths is not None:
        n = np.asarray(kv_lengths).reshape(b, 1, 1, 1)
        s = np.where(j >= n, -np.inf, s)
    m = s.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    e = np.exp(s - m)
    tot = e.sum(axis=-1, keepdims=True)
    p = np.divide(e, tot, out=np.zeros_like(e), where=tot > 0)
    return np.einsum("bhij,bhjd->bhid", p, v)


def sqnr_db(ref, x):
    """Signal-to-quantization-noise ratio of x against ref, in dB."""
    ref = np.asarray(ref, np.float64)
    noise = np.sum((np.asarray(x, np.float64) - ref) ** 2)
    signal = np.sum(ref**2)
    if noise == 0:
        return np.inf
    return 10 * np.log10(signal / noise)


def errors(ref, x) -> dict:
    """SQNR (dB), relative Frobenius error and max abs error of x vs ref."""
    ref = np.asarray(ref, np.float64)
    d = np.asarray(x, np.float64) - ref
    norm = float(np.linalg.norm(ref))
    return {
        "sqnr_db": float(sqnr_db(ref, x)),
        "rel_fro": float(np.linalg.norm(d) / norm)
        if norm
        else float(np.linalg.norm(d)),
        "max_abs": float(np.abs(d).max()) if d.size else 0.0,
    }
