"""torch: a chunked `keras_trt.Remat` block (conv -> tdBN -> LIF recomputed a few
timesteps at a time) with tdBN's backward pass written out; `keras_trt.backend.torch`
exposes it as the "chunked_block" fast kernel."""

import torch


class _ChunkedBlock(torch.autograd.Function):
    """per-frame head -> tdBN -> tail (LIF neurons and per-frame layers) recomputed
    `bounds` chunk by chunk, with tdBN's backward pass written out (keras_trt.remat).

    Autodiff of chunked recomputation would run the head's backward twice: once from
    the chunks' outputs, once from the batch statistics, whose gradient is known only
    after every chunk. Here the backward pass takes two passes over the chunks instead:
    the first (last chunk first, the membranes' gradient carried across boundaries)
    recomputes each chunk to get dL/dy (kept) and the two sums tdBN's backward needs;
    the second recomputes each chunk's head and runs its backward once, on the
    complete dL/dz. The forward pass computes the head once over all T (its output is
    freed when the block ends): the statistics need all of it before any chunk.
    """

    @staticmethod
    def forward(ctx, spec, x, *params):
        head, tail, bounds, epsilon, n_head, n_tail, dtype = spec
        head_p, (gamma, beta), tail_p = (params[:n_head], params[n_head:n_head + 2],
                                         params[n_head + 2:])
        z = head(x, head_p).to(dtype)
        flat = z.reshape(-1, z.shape[-1])
        variance, mean = torch.var_mean(flat, dim=0, unbiased=False)
        invstd = torch.rsqrt(variance + epsilon)
        scale = invstd * gamma
        shift = beta - mean * scale
        outputs, starts, membranes = [], [], None
        for a, b in bounds:
            starts.append(membranes)
            y = torch.addcmul(shift, z[:, a:b], scale)
            out, membranes = tail(y, membranes, tail_p)
            outputs.append(out)
        del z
        ctx.spec = spec
        ctx.starts = starts
        ctx.count = flat.shape[0]
        ctx.x_dtype = x.dtype
        ctx.save_for_backward(_compact(x), mean, invstd, *params)
        ctx.mark_non_differentiable(mean, variance)
        return torch.cat(outputs, dim=1), mean, variance

    @staticmethod
    def backward(ctx, grad_out, _grad_mean, _grad_variance):
        head, tail, bounds, epsilon, n_head, n_tail, dtype = ctx.spec
        kept, mean, invstd, *params = ctx.saved_tensors

        def x_chunk(a, b):
            if kept.dtype != torch.uint8:
                return kept[:, a:b]
            return kept[:, a:b].to(ctx.x_dtype).mul_(0.25)
        head_p, (gamma, beta), tail_p = (params[:n_head], params[n_head:n_head + 2],
                                         params[n_head + 2:])
        axes = tuple(range(kept.ndim - 1))

        def normalized(z):
            xhat = (z.to(dtype) - mean) * invstd
            return xhat, xhat * gamma + beta

        def tail_backward(c, y, grad_end):
            """dL/dy of chunk c, dL/d(its start membranes), dL/d(tail params)."""
            start = ctx.starts[c]
            leaves_y = y.detach().requires_grad_()
            leaves_m = [] if start is None else [m.detach().requires_grad_() for m in start]
            leaves_p = [p.detach().requires_grad_() for p in tail_p]
            with torch.enable_grad():
                out, end = tail(leaves_y, leaves_m or None, leaves_p)
                outs, grads = [out], [grad_out[:, bounds[c][0]:bounds[c][1]]]
                if grad_end is not None:
                    outs += list(end)
                    grads += list(grad_end)
                found = torch.autograd.grad(outs, [leaves_y] + leaves_m + leaves_p, grads,
                                            allow_unused=True)
            found = [torch.zeros_like(p) if g is None else g
                     for g, p in zip(found, [y] + leaves_m + leaves_p)]
            return found[0], found[1:1 + len(leaves_m)], found[1 + len(leaves_m):]

        # pass 1: last chunk first. dL/dy is kept for pass 2, all T of it while this
        # block is differentiated (one tensor the size of tdBN's output): cheaper than
        # running the LIF forward and backward again
        dys = [None] * len(bounds)
        grad_end = None
        sum_dy = sum_dy_xhat = None
        grad_tail = [torch.zeros_like(p) for p in tail_p]
        for c in reversed(range(len(bounds))):
            a, b = bounds[c]
            with torch.no_grad():
                xhat, y = normalized(head(x_chunk(a, b), head_p))
            dy, grad_start, d_tail = tail_backward(c, y, grad_end)
            grad_end = grad_start or None
            dy = dy.to(dtype)
            dys[c] = dy
            s, sx = dy.sum(dim=axes), (dy * xhat).sum(dim=axes)
            sum_dy = s if sum_dy is None else sum_dy + s
            sum_dy_xhat = sx if sum_dy_xhat is None else sum_dy_xhat + sx
            for acc, g in zip(grad_tail, d_tail):
                acc.add_(g)
        mean_dy, mean_dy_xhat = sum_dy / ctx.count, sum_dy_xhat / ctx.count
        dz_scale = gamma * invstd

        # pass 2: the complete dL/dz of each chunk through the head, once
        grad_x = (torch.empty(kept.shape, dtype=ctx.x_dtype, device=kept.device)
                  if ctx.needs_input_grad[1] else None)
        grad_head = [torch.zeros_like(p) for p in head_p]
        for c, (a, b) in enumerate(bounds):
            leaf_x = x_chunk(a, b).detach().requires_grad_(grad_x is not None)
            leaves_h = [p.detach().requires_grad_() for p in head_p]
            with torch.enable_grad():
                z = head(leaf_x, leaves_h)
            with torch.no_grad():
                xhat = (z.to(dtype) - mean) * invstd
                dy, dys[c] = dys[c], None
                dz = (dy - mean_dy - xhat * mean_dy_xhat) * dz_scale
                del dy
            inputs = ([leaf_x] if grad_x is not None else []) + leaves_h
            found = torch.autograd.grad(z, inputs, dz.to(z.dtype), allow_unused=True)
            if grad_x is not None:
                grad_x[:, a:b] = found[0]
                found = found[1:]
            for acc, g in zip(grad_head, found):
                if g is not None:
                    acc.add_(g)
        return (None, grad_x, *grad_head, sum_dy_xhat.to(gamma.dtype),
                sum_dy.to(beta.dtype), *grad_tail)


def _compact(x):
    """`x` as uint8 quarters when that is exact, else `x`: a block's input is spikes
    (0 or 1) or 2x2-average-pooled spikes (multiples of 1/4), a quarter of the memory
    as bytes; the check costs one pass over x."""
    if not x.is_floating_point():
        return x
    quarters = torch.mul(x, 4.0).to(torch.uint8)
    if torch.equal(quarters.to(x.dtype).mul_(0.25), x):
        return quarters
    return x


def chunked_block(x, bounds, head, tail, head_params, gamma, beta, tail_params, epsilon,
                  dtype):
    """A chunked `keras_trt.Remat` block (see _ChunkedBlock): returns the block's output
    and tdBN's batch mean and (biased) variance; `head(x, params)` and
    `tail(y, membranes, params) -> (out, membranes)` are the block's two halves."""
    if x.device.type == "meta":
        return None
    dtype = getattr(torch, dtype)
    spec = (head, tail, tuple(bounds), epsilon, len(head_params), len(tail_params), dtype)
    return _ChunkedBlock.apply(spec, x, *head_params, gamma, beta, *tail_params)
