#!/usr/bin/python3
"""Tests tools/convert_manet.py on fake MA-Net state_dicts spelled as the authors' code spells them.

The PyTorch names and shapes are derived from tests/data/manet/names.txt by inverting the layout rules
(HWIO -> OIHW, (in, out) -> (out, in), gamma/beta/moving_* -> weight/bias/running_*), so the fixtures need no
copy of the authors' code. Run: /usr/bin/python3 tools/test_convert_manet.py (ctest: manet_convert).
"""

import os
import pathlib
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

TOOLS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))
import convert_manet  # noqa: E402
from golden_common import read_safetensors  # noqa: E402

IDENTITIES = 12666  # the MS-Celeb identity classifier of the authors' pre-trained checkpoint
TORCH_LEAVES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def authors_state_dict(classes, seed):
    """A state_dict named and shaped like the authors' MA-Net, with random values (OrderedDict, as torch saves)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in convert_manet.expected_shapes(classes).items():
        module, leaf = name.rsplit(".", 1)
        if leaf == "kernel" and len(shape) == 4:
            state[f"{module}.weight"] = torch.randn(shape[3], shape[2], shape[0], shape[1], generator=generator)
        elif leaf == "kernel":
            state[f"{module}.weight"] = torch.randn(shape[1], shape[0], generator=generator)
        elif leaf == "bias":
            state[f"{module}.bias"] = torch.randn(shape, generator=generator)
        else:
            state[f"{module}.{TORCH_LEAVES[leaf]}"] = torch.randn(shape, generator=generator)
            if leaf == "moving_variance":
                state[f"{module}.num_batches_tracked"] = torch.tensor(1234)
    return state


def expected_value(state, name):
    """What the converter must write for our `name`, computed from the PyTorch tensors independently."""
    module, leaf = name.rsplit(".", 1)
    if leaf == "kernel":
        weight = state[f"{module}.weight"].numpy()
        return weight.transpose(2, 3, 1, 0) if weight.ndim == 4 else weight.T
    return state[f"{module}.{'bias' if leaf == 'bias' else TORCH_LEAVES[leaf]}"].numpy()


def run_converter(*args):
    return subprocess.run([sys.executable, str(TOOLS / "convert_manet.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


class ConvertMANet(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = pathlib.Path(cls.tmp.name)
        cls.names = convert_manet.expected_shapes(7)
        cls.plain = authors_state_dict(7, seed=1)
        # The authors' MS-Celeb file: DataParallel names under 'state_dict', 12,666-way heads, other entries.
        cls.pretrained = {"module." + k: v for k, v in authors_state_dict(IDENTITIES, seed=2).items()}
        torch.save(cls.plain, cls.dir / "plain.pth")
        torch.save({"epoch": 40, "arch": "resnet18", "state_dict": cls.pretrained}, cls.dir / "pretrained.pth.tar")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_fixture_matches_published_layout(self):
        # The authors' state_dict (docs/models.md): 692 entries with 7 classes, 104 of them num_batches_tracked.
        self.assertEqual(len(self.names), 588)
        self.assertEqual(len(self.plain), 692)
        self.assertEqual(tuple(self.plain["conv1.weight"].shape), (64, 3, 7, 7))
        self.assertEqual(tuple(self.plain["layer3_1_p1.0.cbam.SpatialGate.spatial.conv.weight"].shape), (1, 2, 7, 7))
        self.assertEqual(tuple(self.plain["layer3_1_p1.0.cbam.ChannelGate.mlp.1.weight"].shape), (16, 256))
        self.assertEqual(tuple(self.plain["layer4_2.0.conv2_2_4.weight"].shape), (128, 128, 3, 3))
        self.assertEqual(tuple(self.plain["fc_1.weight"].shape), (7, 512))
        self.assertEqual(sum(v.numel() for k, v in self.plain.items()
                             if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))), 50547214)

    def test_plain_state_dict_converts_exactly(self):
        out = self.dir / "plain.safetensors"
        result = run_converter(self.dir / "plain.pth", out)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("re-initialised", result.stdout)
        tensors, metadata = read_safetensors(out)
        self.assertEqual({k: tuple(v.shape) for k, v in tensors.items()}, self.names)
        for name, value in tensors.items():
            self.assertEqual(value.dtype, np.float32, name)
            np.testing.assert_array_equal(value, expected_value(self.plain, name), err_msg=name)
        self.assertEqual(metadata, {"model": "manet", "classes": "7", "input_shape": "224x224x3",
                                    "source": "plain.pth"})
        # Transposes spelled out on single elements: conv OIHW[o, i, h, w] = HWIO[h, w, i, o], Linear [o, i] = [i, o].
        w = self.plain["layer2.0.downsample.0.weight"].numpy()
        self.assertEqual(tensors["layer2.0.downsample.0.kernel"][0, 0, 37, 101], w[101, 37, 0, 0])
        w = self.plain["conv1.weight"].numpy()
        self.assertEqual(tensors["conv1.kernel"][5, 2, 1, 60], w[60, 1, 5, 2])
        self.assertEqual(tensors["fc_2.kernel"][300, 4], self.plain["fc_2.weight"][4, 300].item())
        self.assertEqual(tensors["bn1.moving_variance"][9], self.plain["bn1.running_var"][9].item())
        self.assertEqual(tensors["layer1.1.bn2.beta"][3], self.plain["layer1.1.bn2.bias"][3].item())

    def test_pretrained_checkpoint_gets_new_heads(self):
        out = self.dir / "fer7.safetensors"
        result = run_converter(self.dir / "pretrained.pth.tar", out, "--classes", 7)
        self.assertEqual(result.returncode, 0, result.stderr)
        for head in ("fc_1", "fc_2"):
            self.assertIn(f"note: {head} has {IDENTITIES} outputs, not 7: re-initialised", result.stdout)
        tensors, metadata = read_safetensors(out)
        self.assertEqual({k: tuple(v.shape) for k, v in tensors.items()}, self.names)
        self.assertEqual(metadata["classes"], "7")
        self.assertEqual(metadata["source"], "pretrained.pth.tar")
        source = {k[len("module."):]: v for k, v in self.pretrained.items()}
        for name, value in tensors.items():
            if not name.startswith("fc_"):
                np.testing.assert_array_equal(value, expected_value(source, name), err_msg=name)
        # nn.Linear's init: uniform in +-1/sqrt(512) for weight and bias, filling the whole interval.
        bound = 1 / np.sqrt(512)
        for name in ("fc_1.kernel", "fc_1.bias", "fc_2.kernel", "fc_2.bias"):
            value = tensors[name]
            self.assertLessEqual(np.abs(value).max(), bound, name)
            self.assertGreater(np.abs(value).max(), 0.8 * bound, name)
        kernel = tensors["fc_1.kernel"]
        self.assertAlmostEqual(float(kernel.std()), bound / np.sqrt(3), delta=0.1 * bound)
        self.assertAlmostEqual(float(kernel.mean()), 0.0, delta=0.1 * bound)
        self.assertFalse(np.array_equal(tensors["fc_1.kernel"], tensors["fc_2.kernel"]))
        # Seeded: the same seed gives the same heads, another seed others.
        again, _ = convert_manet.convert(self.pretrained, classes=7, seed=0, log=lambda _: None)
        np.testing.assert_array_equal(again["fc_2.kernel"], tensors["fc_2.kernel"])
        other, _ = convert_manet.convert(self.pretrained, classes=7, seed=1, log=lambda _: None)
        self.assertFalse(np.array_equal(other["fc_2.kernel"], tensors["fc_2.kernel"]))

    def test_class_count_defaults_to_fc_1(self):
        notices = []
        tensors, classes = convert_manet.convert(self.pretrained, log=notices.append)
        self.assertEqual(classes, IDENTITIES)
        self.assertEqual(notices, [])
        self.assertEqual(tensors["fc_1.kernel"].shape, (512, IDENTITIES))
        np.testing.assert_array_equal(tensors["fc_1.kernel"], self.pretrained["module.fc_1.weight"].numpy().T)
        np.testing.assert_array_equal(tensors["fc_2.bias"], self.pretrained["module.fc_2.bias"].numpy())

    def assertRefused(self, state, *fragments):
        with self.assertRaises(convert_manet.ConversionError) as caught:
            convert_manet.convert(state, log=lambda _: None)
        for fragment in fragments:
            self.assertIn(fragment, str(caught.exception))

    def test_corrupted_state_dicts_are_refused(self):
        missing = dict(self.plain)
        del missing["layer3_1_p2.1.cbam.SpatialGate.spatial.bn.running_var"]
        self.assertRefused(missing, "missing: layer3_1_p2.1.cbam.SpatialGate.spatial.bn.moving_variance (1,)")

        wrong = dict(self.plain)
        wrong["layer4_2.1.conv1_2_3.weight"] = torch.zeros(128, 128, 3, 1)
        self.assertRefused(wrong, "shape: layer4_2.1.conv1_2_3.kernel is (3, 1, 128, 128) after conversion, "
                                  "expected (3, 3, 128, 128)")

        extra = dict(self.plain)
        extra["layer5.0.conv1.weight"] = torch.zeros(8, 8, 3, 3)
        extra["layer1.0.bn1.running_std"] = torch.zeros(64)
        self.assertRefused(extra, "unexpected: layer5.0.conv1.kernel (3, 3, 8, 8)",
                           "unexpected: layer1.0.bn1.running_std (64,)")

        # Every difference is listed at once.
        both = dict(missing)
        both["layer4_2.1.conv1_2_3.weight"] = wrong["layer4_2.1.conv1_2_3.weight"]
        self.assertRefused(both, "missing: layer3_1_p2", "shape: layer4_2.1.conv1_2_3")

    def test_command_line_refuses_without_writing(self):
        broken = dict(self.plain)
        del broken["fc_2.bias"]
        torch.save(broken, self.dir / "broken.pth")
        out = self.dir / "broken.safetensors"
        result = run_converter(self.dir / "broken.pth", out)
        self.assertEqual(result.returncode, 1)
        self.assertIn("broken.pth", result.stderr)
        self.assertIn("missing: fc_2.bias (7,)", result.stderr)
        self.assertFalse(out.exists())
        self.assertEqual([p.name for p in self.dir.iterdir() if p.name.startswith(".convert_manet")], [])

        result = run_converter(self.dir / "pretrained.pth.tar", out, "--key", "model")
        self.assertEqual(result.returncode, 1)
        self.assertIn("no key 'model'; top-level keys: epoch, arch, state_dict", result.stderr)
        self.assertFalse(out.exists())


if __name__ == "__main__":
    unittest.main(verbosity=2)
