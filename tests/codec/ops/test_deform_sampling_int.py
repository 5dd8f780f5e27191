"""The integer sampler equals the float reference on dyadic inputs."""
import torch

from edgecodec.codec.ops.deform_sampling import deform_sample
from edgecodec.codec.ops.deform_sampling_int import deform_sample_int


def test_integer_sampler_matches_float_reference():
    g, ks, subpel, unit = 3, 3, 8, 64
    torch.manual_seed(0)
    v = torch.randint(-1000, 1000, (2, 6, 5, 7))
    off = torch.randint(-40, 40, (2, g * 9 * 2, 5, 7))  # up to 5 px, many outside
    m = torch.randint(-64, 65, (2, g * 9, 5, 7))
    got = deform_sample_int(v, off, m, g, ks, 1, subpel)
    ref = deform_sample(v.double(), off.double() / subpel, m.double() / unit, g, ks, 1)
    torch.testing.assert_close(got.double(), ref * subpel * subpel * unit, rtol=0, atol=1e-6)
