"""Each backend's data-parallel engine, one module per backend, behind
`keras_trt.distribute` (which dispatches on `keras.backend.backend()` and imports the
module on first use, so that no framework is imported that the user does not run):

- `tensorflow.py`: `tf.distribute.MirroredStrategy` / `MultiWorkerMirroredStrategy`.
- `jax.py`: `keras.distribution.DataParallel` (several hosts: `keras.distribution.initialize`).
- `torch.py`: the process group of a `torchrun` launch and its collectives;
  `torch_fit.py`: `fit`, `evaluate` and `predict` with DistributedDataParallel semantics
  on it (used by `keras_trt.SpikingModel`).

Every engine module has `initialize`, `make`, `num_replicas`, `is_chief`,
`shard_dataset`, `reduces_across_replicas` and `cross_replica_mean`; docs/distributed.md
describes what each one does.

```python
import keras_trt as kt

print(kt.distribute.num_replicas())      # 1: one device, one process
```
"""
