"""Models: the registry of versioned models and everything that runs one.

- `registry`: manifests, aliases and where each version's weights lie (no torch);
- `breaker`: the inference circuit breaker kept in PostgreSQL (no torch);
- `faults`: fault injection into inference, to rehearse failures (no torch);
- `nets`: the networks a manifest may name (`ARCHITECTURES`), and `loader`, which builds one from
  sha256-verified safetensors;
- `batcher`: the dynamic batcher, many callers' items through one forward pass (plain asyncio);
- `serving`: a served model, one network on one device and how a batch goes through it;
- `cache`: `ModelCache`, versions loaded on first use behind their batchers, bounded in bytes (LRU of idle ones).

With the lab, the only package that imports torch (`nets`, `loader`, `serving`, `cache`); this
package imports none of its modules, so the registry is usable where torch is not installed.
The bundled registry lies in `registry_data/`.
"""
