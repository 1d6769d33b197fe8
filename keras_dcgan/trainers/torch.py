"""PyTorch plumbing: `torch.autograd.grad` per player, so no `.grad` leaks."""

import torch


class GANTrainer:
    def train_step(self, data):
        return self._gan_train_step(data)

    def test_step(self, data):
        with torch.no_grad():
            return self._gan_test_step(data)

    def _minimize(self, optimizer, variables, objective):
        loss, aux = objective()
        gradients = torch.autograd.grad(
            optimizer.scale_loss(loss), [v.value for v in variables]
        )
        with torch.no_grad():
            optimizer.apply(gradients, variables)
        return loss, aux

    def _no_grad(self):
        return torch.no_grad()
