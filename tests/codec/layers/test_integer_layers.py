"""Each integer layer's frozen (int64) output equals its fake-quantised training output."""
import copy

import pytest
import torch

from edgecodec.codec.layers.int_dynamic_kernel import IntConvBlock, IntDynamicKernelBlock
from edgecodec.codec.layers.quant import IntConv2d, IntRequant, QTensor


def frozen_and_fake(block, q: QTensor):
    torch.manual_seed(0)
    block.train()
    for _ in range(3):  # observers see the data
        block(q)
    fake = copy.deepcopy(block).eval()
    for m in block.modules():
        if isinstance(m, (IntConv2d, IntRequant)):
            m.freeze()
    block.eval()
    with torch.no_grad():
        return block(QTensor(q.values.double(), q.scale.double())), fake(q)


@pytest.mark.parametrize("cls", [IntDynamicKernelBlock, IntConvBlock])
def test_block_frozen_equals_fake(cls):
    torch.manual_seed(1)
    block = cls(16, 2)
    with torch.no_grad():  # a trained-looking kernel: real offsets and modulation
        for p in block.parameters():
            p.normal_(0, 0.3)
    x = QTensor(torch.randint(0, 4096, (1, 16, 9, 11)).float(), torch.full((16,), 1 / 256))
    got, ref = frozen_and_fake(block, x)
    diff = (got.values - ref.values.double()).abs()
    assert torch.allclose(got.scale.double(), ref.scale.double())
    assert diff.max() <= 4 and (diff == 0).double().mean() > 0.9, f"max {diff.max()}, equal {(diff == 0).double().mean()}"
