"""A plain-PyTorch DCGAN: the reference `train_throughput.py` measures against.

The chapter's architecture and training step written directly in PyTorch,
as its readers would: `ConvTranspose2d` / `BatchNorm2d` / `ReLU` blocks for
the generator, `Conv2d` / `BatchNorm2d` / `LeakyReLU(0.2)` blocks for the
discriminator, no biases, weights drawn from N(0, 0.02), BatchNorm momentum
0.1 and epsilon 1e-5 (PyTorch's defaults, Keras's 0.9 and 1e-5). One step
updates the discriminator on a real batch (label 1) and the generator's
detached images (label 0), then the generator with D(G(z)) labelled 1; both
losses are `BCEWithLogitsLoss` and both optimizers `Adam(lr=0.005,
betas=(0.5, 0.999))`.

Options: `channels_last` memory format, `torch.compile` of the two networks,
and bfloat16 autocast (no loss scaling needed). It runs on the GPU when
PyTorch sees one, else on the CPU.

    python benchmarks/torch_reference.py --batch-size 64 --steps 5
"""

import argparse
import contextlib
import time

import torch
from torch import nn


def generator(latent_dim=100, filters=64, channels=3, image_size=64):
    """The chapter's generator: 1x1 noise to `image_size` square images."""
    blocks = int(image_size).bit_length() - 4  # 64 -> 3 stride-2 blocks
    width = filters * 2**blocks
    layers = [
        nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
    ]
    for _ in range(blocks):
        layers += [
            nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width // 2),
            nn.ReLU(),
        ]
        width //= 2
    layers += [
        nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False),
        nn.Tanh(),
    ]
    return nn.Sequential(*layers)


def discriminator(filters=64, channels=3, image_size=64):
    """The chapter's discriminator (BatchNorm in every block): one logit."""
    blocks = int(image_size).bit_length() - 3  # 64 -> 4 stride-2 blocks
    layers, width_in, width = [], channels, filters
    for _ in range(blocks):
        layers += [
            nn.Conv2d(width_in, width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2),
        ]
        width_in, width = width, width * 2
    layers.append(nn.Conv2d(width_in, 1, 4, 1, 0, bias=False))
    return nn.Sequential(*layers)


def default_device():
    """`cuda` when PyTorch sees a GPU, else `cpu`."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def synchronize(device):
    """Waits for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def init_weights(module):
    """N(0, 0.02) kernels; BatchNorm scale 1 and offset 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class Trainer:
    """The two networks, their optimizers and one chapter training step.

    Args:
        latent_dim: size of the noise vector.
        filters: channels of G's last and D's first block.
        image_size: side of the square images.
        channels_last: use the `channels_last` memory format.
        compile: wrap both networks in `torch.compile`.
        bfloat16: run the networks under bfloat16 autocast.
        seed: seed of the weights.
        device: a `torch.device`. Defaults to `default_device()`.
    """

    def __init__(
        self,
        latent_dim=100,
        filters=64,
        image_size=64,
        channels_last=False,
        compile=False,
        bfloat16=False,
        seed=0,
        device=None,
    ):
        torch.manual_seed(seed)
        self.device = device or default_device()
        self.latent_dim = latent_dim
        self.memory_format = (
            torch.channels_last if channels_last else torch.contiguous_format
        )
        self.bfloat16 = bfloat16
        self.net_g = generator(latent_dim, filters, 3, image_size)
        self.net_d = discriminator(filters, 3, image_size)
        for net in (self.net_g, self.net_d):
            net.apply(init_weights)
            net.to(self.device, memory_format=self.memory_format).train()
        self.g, self.d = self.net_g, self.net_d
        if compile:
            self.g, self.d = torch.compile(self.g), torch.compile(self.d)
        self.loss = nn.BCEWithLogitsLoss()
        self.opt_g = torch.optim.Adam(
            self.net_g.parameters(), lr=0.005, betas=(0.5, 0.999)
        )
        self.opt_d = torch.optim.Adam(
            self.net_d.parameters(), lr=0.005, betas=(0.5, 0.999)
        )

    def _autocast(self):
        if not self.bfloat16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _bce(self, logits, label):
        logits = logits.float().reshape(-1)
        return self.loss(logits, torch.full_like(logits, label))

    def images(self, images):
        """Converts NHWC float32 NumPy images to a tensor in this layout."""
        images = torch.as_tensor(images).to(self.device).permute(0, 3, 1, 2)
        return images.contiguous(memory_format=self.memory_format)

    def noise(self, batch_size):
        noise = torch.randn(
            batch_size, self.latent_dim, 1, 1, device=self.device
        )
        return noise.contiguous(memory_format=self.memory_format)

    def train_step(self, real):
        """One D update and one G update; returns `(loss_d, loss_g)`."""
        noise = self.noise(real.shape[0])
        with self._autocast():
            fake = self.g(noise)
            loss_d = (
                self._bce(self.d(real), 1.0)
                + self._bce(self.d(fake.detach()), 0.0)
            ) / 2
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        with self._autocast():
            loss_g = self._bce(self.d(fake), 1.0)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return loss_d.detach(), loss_g.detach()

    @torch.no_grad()
    def generate(self, num_images, batch_size=256):
        """Images from noise with batch statistics frozen, NHWC float32."""
        self.g.eval()
        outputs = []
        with self._autocast():
            for start in range(0, num_images, batch_size):
                count = min(batch_size, num_images - start)
                outputs.append(self.g(self.noise(count)).float())
        self.g.train()
        return torch.cat(outputs).permute(0, 2, 3, 1).cpu().numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--bfloat16", action="store_true")
    args = parser.parse_args()
    trainer = Trainer(
        channels_last=args.channels_last,
        compile=args.compile,
        bfloat16=args.bfloat16,
    )
    real = trainer.images(
        torch.rand(args.batch_size, 64, 64, 3).mul(2).sub(1).numpy()
    )
    trainer.train_step(real)  # warm-up
    for _ in range(args.steps):
        start = time.perf_counter()
        loss_d, loss_g = trainer.train_step(real)
        float(loss_d)
        elapsed = time.perf_counter() - start
        print(
            f"loss_d {float(loss_d):.3f}  loss_g {float(loss_g):.3f}  "
            f"{args.batch_size / elapsed:.1f} images/s"
        )


if __name__ == "__main__":
    main()
