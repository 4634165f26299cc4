"""Gradients on the torch backend: autograd on the variables' `.value` parameters."""

import torch


def make_gradient_function(model, losses_fn, grad_transform=None, training=False):
    def fn(x, y):
        variables = model.trainable_variables
        params = [v.value for v in variables]
        with torch.enable_grad():
            y_pred = model(x, training=training)
            y_t = torch.as_tensor(y, device=y_pred.device) if y is not None else None
            losses = list(losses_fn(y_t, y_pred))
            results = []
            for i, loss in enumerate(losses):
                grads = torch.autograd.grad(
                    loss, params, retain_graph=i < len(losses) - 1, allow_unused=True)
                grads = [torch.zeros_like(p) if g is None else g.detach()
                         for g, p in zip(grads, params)]
                results.append(grad_transform(grads) if grad_transform else grads)
        return [loss.detach() for loss in losses], results

    return fn
