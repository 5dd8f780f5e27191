"""The PyTorch sampling operator against an independent NumPy loop reference."""
import numpy as np
import pytest
import torch

from edgecodec.codec.ops.deform_sampling import deform_sample


def numpy_reference(value, offset, mask, groups, ks, dil, scale):
    value, offset, mask = (a.astype(np.float64) for a in (value, offset, mask))
    n, c, h, w = value.shape
    k = ks * ks
    cg = c // groups
    out = np.zeros_like(value, dtype=np.float64)

    def pixel(img, yy, xx):
        if 0 <= yy < h and 0 <= xx < w:
            return img[:, yy, xx]
        return np.zeros(img.shape[0])

    for b in range(n):
        for g in range(groups):
            img = value[b, g * cg:(g + 1) * cg].astype(np.float64)
            for i in range(h):
                for j in range(w):
                    acc = np.zeros(cg)
                    for kk in range(k):
                        ky, kx = divmod(kk, ks)
                        base = (ks - 1) / 2
                        dx = offset[b, (g * k + kk) * 2, i, j]
                        dy = offset[b, (g * k + kk) * 2 + 1, i, j]
                        x = j + (kx - base) * dil + scale * dx
                        y = i + (ky - base) * dil + scale * dy
                        x0, y0 = int(np.floor(x)), int(np.floor(y))
                        fx, fy = x - x0, y - y0
                        v = ((1 - fx) * (1 - fy) * pixel(img, y0, x0) + fx * (1 - fy) * pixel(img, y0, x0 + 1)
                             + (1 - fx) * fy * pixel(img, y0 + 1, x0) + fx * fy * pixel(img, y0 + 1, x0 + 1))
                        acc += mask[b, g * k + kk, i, j] * v
                    out[b, g * cg:(g + 1) * cg, i, j] = acc
    return out


@pytest.mark.parametrize(
    "n,c,h,w,groups,ks,dil,scale,spread",
    [
        (1, 4, 5, 7, 1, 3, 1, 1.0, 1.5),
        (2, 6, 7, 3, 3, 3, 2, 0.5, 4.0),
        (1, 8, 1, 9, 2, 1, 1, 1.0, 2.0),
        (1, 4, 6, 6, 4, 5, 1, 1.0, 20.0),  # offsets far outside the image
    ],
)
def test_matches_numpy_reference(n, c, h, w, groups, ks, dil, scale, spread):
    rng = np.random.default_rng(c * h + w)
    k = ks * ks
    value = rng.standard_normal((n, c, h, w)).astype(np.float32)
    offset = (rng.standard_normal((n, groups * k * 2, h, w)) * spread).astype(np.float32)
    mask = rng.standard_normal((n, groups * k, h, w)).astype(np.float32)
    got = deform_sample(torch.from_numpy(value).double(), torch.from_numpy(offset).double(),
                        torch.from_numpy(mask).double(), groups, ks, dil, scale).numpy()
    ref = numpy_reference(value, offset, mask, groups, ks, dil, scale)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def test_zero_offsets_equal_depthwise_box_filter():
    """With zero offsets and uniform mask 1/K the operator is a zero-padded box filter."""
    x = torch.randn(1, 4, 6, 5, dtype=torch.float64)
    off = torch.zeros(1, 2 * 9 * 2, 6, 5, dtype=torch.float64)
    mask = torch.full((1, 2 * 9, 6, 5), 1 / 9, dtype=torch.float64)
    got = deform_sample(x, off, mask, groups=2)
    box = torch.nn.functional.conv2d(x, torch.full((4, 1, 3, 3), 1 / 9, dtype=torch.float64), padding=1, groups=4)
    torch.testing.assert_close(got, box)


def test_gradients_match_finite_differences():
    """Training backpropagates into value, offsets and mask through the operator."""
    torch.manual_seed(0)
    v = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    off = (torch.randn(1, 2 * 9 * 2, 5, 6, dtype=torch.float64) * 1.3).requires_grad_()
    mask = torch.randn(1, 2 * 9, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: deform_sample(a, b, c, 2), (v, off, mask))
