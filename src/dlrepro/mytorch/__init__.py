"""mytorch: a numpy deep-learning library without autograd (REFERENCE.md `mytorch`, CMU 11-785).

Every layer computes its own gradients: `forward` caches what `backward` needs, and `backward`
takes the loss's gradient with respect to the layer's output, returns it with respect to the
input and adds the parameters' gradients to their `grad`. The library imports numpy only;
`mytorch.proof` (which imports torch) checks every piece against torch's autograd.
"""
