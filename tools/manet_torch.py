"""MA-Net (Zhao, Liu and Wang, IEEE TIP 2021) in plain PyTorch, written from the architecture in docs/models.md as the
authors' code is structured, as the independent reference of tools/make_golden_manet.py.

Module names are the authors' so that state_dict() names are theirs (docs/models.md; conv1, layer3_1_p2.0.cbam.
ChannelGate.mlp.1, layer4_2.1.conv2_2_3, fc_1, ...). forward() returns (fc_1 logits, fc_2 logits). Nothing here
imports lanmsff code: the shared part with the C++ library is only the parameter names.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def downsample(in_planes, planes, stride):
    """torchvision's projection shortcut: Conv1x1(stride) + BN, only where the shape changes."""
    if stride == 1 and in_planes == planes:
        return None
    return nn.Sequential(nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(planes))


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample(in_planes, planes, stride)

    def residual_body(self, x):
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(self.residual_body(x) + identity)


class ChannelGate(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, channels // reduction), nn.ReLU(),
                                 nn.Linear(channels // reduction, channels))

    def forward(self, x):
        # Global pooling written as adaptive pooling to 1x1 (the same values): a kernel taken from x.size()
        # does not export to ONNX.
        avg = self.mlp(F.adaptive_avg_pool2d(x, 1))
        mx = self.mlp(F.adaptive_max_pool2d(x, 1))
        return x * torch.sigmoid(avg + mx)[:, :, None, None]


class BasicConv(nn.Module):
    """CBAM's spatial convolution: Conv7x7 pad 3 without bias, then BN with PyTorch momentum 0.01, no ReLU."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size=7, stride=1, padding=3, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)

    def forward(self, x):
        return self.bn(self.conv(x))


class SpatialGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.spatial = BasicConv()

    def forward(self, x):
        pooled = torch.cat((x.max(dim=1, keepdim=True)[0], x.mean(dim=1, keepdim=True)), dim=1)  # ChannelPool
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.ChannelGate = ChannelGate(channels, reduction)
        self.SpatialGate = SpatialGate()

    def forward(self, x):
        return self.SpatialGate(self.ChannelGate(x))


class AttentionBlock(BasicBlock):
    """A BasicBlock whose second BN output passes through CBAM before the residual add."""

    def __init__(self, in_planes, planes, stride=1):
        super().__init__(in_planes, planes, stride)
        self.cbam = CBAM(planes, 16)

    def residual_body(self, x):
        return self.cbam(super().residual_body(x))


class MulScaleBlock(nn.Module):
    """Conv3x3 BN ReLU, then two hierarchical chains over the four channel groups x_1..x_4 (chain 1: groups
    1->4 with conv1_2_i/bn1_2_i, chain 2: groups 4->1 with conv2_2_i/bn2_2_i; y_i = bn(conv(x_i + relu(y_prev)))),
    each concatenated in group order, the two summed, plus the shortcut, ReLU."""

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.width = planes // 4
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        for chain in (1, 2):
            for group in range(1, 5):
                setattr(self, f"conv{chain}_2_{group}", conv3x3(self.width, self.width))
                setattr(self, f"bn{chain}_2_{group}", nn.BatchNorm2d(self.width))
        self.downsample = downsample(in_planes, planes, stride)

    def chain(self, number, groups, order):
        outputs = [None] * 4
        previous = None
        for group in order:
            x = groups[group] if previous is None else groups[group] + F.relu(previous)
            conv, bn = getattr(self, f"conv{number}_2_{group + 1}"), getattr(self, f"bn{number}_2_{group + 1}")
            outputs[group] = previous = bn(conv(x))
        return torch.cat(outputs, dim=1)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        groups = torch.split(out, self.width, dim=1)
        out = self.chain(1, groups, (0, 1, 2, 3)) + self.chain(2, groups, (3, 2, 1, 0))
        return F.relu(out + identity)


def stage(block, in_planes, planes, stride):
    return nn.Sequential(block(in_planes, planes, stride), block(planes, planes, 1))


class MANet(nn.Module):
    def __init__(self, num_classes=7):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = stage(BasicBlock, 64, 64, 1)
        self.layer2 = stage(BasicBlock, 64, 128, 2)
        for p in range(1, 5):
            setattr(self, f"layer3_1_p{p}", stage(AttentionBlock, 128, 256, 2))
            setattr(self, f"layer4_1_p{p}", stage(AttentionBlock, 256, 512, 1))
        self.layer3_2 = stage(MulScaleBlock, 128, 256, 2)
        self.layer4_2 = stage(MulScaleBlock, 256, 512, 2)
        self.fc_1 = nn.Linear(512, num_classes)
        self.fc_2 = nn.Linear(512, num_classes)

    def trunk(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        return self.layer2(self.layer1(x))

    def local_branch(self, x):
        h, w = x.size(2), x.size(3)
        patches = (x[:, :, : h // 2, : w // 2], x[:, :, : h // 2, w // 2 :],
                   x[:, :, h // 2 :, : w // 2], x[:, :, h // 2 :, w // 2 :])
        p1, p2, p3, p4 = (getattr(self, f"layer4_1_p{i}")(getattr(self, f"layer3_1_p{i}")(patch))
                          for i, patch in enumerate(patches, 1))
        tiled = torch.cat((torch.cat((p1, p2), dim=3), torch.cat((p3, p4), dim=3)), dim=2)
        return self.fc_1(torch.flatten(F.adaptive_avg_pool2d(tiled, 1), 1))

    def global_branch(self, x):
        x = self.layer4_2(self.layer3_2(x))
        return self.fc_2(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def forward(self, x):
        x = self.trunk(x)
        return self.local_branch(x), self.global_branch(x)
