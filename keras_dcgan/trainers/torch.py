"""PyTorch plumbing: `torch.autograd.grad` per player, so no `.grad` leaks.

Under `torch.distributed` (one process per device, e.g. launched by
`torchrun`), each rank trains on its own shard of the data: gradients are
averaged across ranks before each update and BatchNorm moving statistics
(the EMA generator's too) after each step, so every rank keeps identical
weights; metrics gather every rank's per-example values, so the logs are
global means.
"""

import torch
import torch.distributed as dist

from keras_dcgan.trainers.base import GANTrainerBase


def _world_size():
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


class GANTrainer(GANTrainerBase):
    # Averaging across ranks can be switched off to show what it prevents.
    _sync_replicas = True

    def train_step(self, data):
        logs = self._gan_train_step(data)
        if self._distributed() and self._sync_replicas:
            with torch.no_grad():
                self._average([v.value for v in self._moving_statistics()])
        return logs

    def test_step(self, data):
        with torch.no_grad():
            return self._gan_test_step(data)

    def _minimize(self, optimizer, variables, objective):
        loss, aux = objective()
        gradients = torch.autograd.grad(
            optimizer.scale_loss(loss), [v.value for v in variables]
        )
        self._apply(optimizer, variables, gradients)
        return loss, aux

    def _forward_with_vjp(self, fn, variables):
        outputs = fn()

        def vjp(cotangent):
            return torch.autograd.grad(
                outputs, [v.value for v in variables], grad_outputs=cotangent
            )

        return outputs, vjp

    def _input_gradient(self, optimizer, objective, inputs):
        inputs = inputs.detach().requires_grad_(True)
        loss, aux = objective(inputs)
        (gradient,) = torch.autograd.grad(optimizer.scale_loss(loss), inputs)
        return loss, aux, gradient

    def _apply(self, optimizer, variables, gradients):
        with torch.no_grad():
            if self._distributed() and self._sync_replicas:
                self._average(gradients)
            optimizer.apply(gradients, variables)

    def _replica(self):
        if not self._distributed():
            return 0, 1
        return dist.get_rank(), dist.get_world_size()

    def _all_replicas(self, values):
        if not self._distributed():
            return values
        gathered = []
        for value in values:
            parts = [torch.empty_like(value) for _ in range(_world_size())]
            dist.all_gather(parts, value.detach().contiguous())
            gathered.append(torch.cat(parts))
        return gathered

    def _distributed(self):
        return _world_size() > 1

    def _moving_statistics(self):
        # The EMA generator averages synchronised weights: the same on every
        # rank (its statistics are recomputed when sampling).
        return [
            v
            for network in (self.generator, self.discriminator)
            for v in network.non_trainable_variables
            if v.dtype.startswith("float")
        ]

    def _average(self, tensors):
        """Replaces each tensor in place by its mean over all ranks."""
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        flat /= dist.get_world_size()
        offset = 0
        for tensor in tensors:
            tensor.copy_(flat[offset : offset + tensor.numel()].view_as(tensor))
            offset += tensor.numel()
