"""The classic linear face recognisers: Eigenfaces and Fisherfaces, with a nearest-neighbour rule.

Eigenfaces (Turk and Pentland 1991): PCA of the training images; a face is classified as the
identity of its nearest training face (Euclidean) in the space of the first `components`
principal components. Fisherfaces (Belhumeur, Hespanha and Kriegman 1997): PCA to at most N - c
dimensions (N training images, c people) so that the within-class scatter is not singular, then
LDA to c - 1 dimensions, then the nearest neighbour there. Both embed a face as its projection,
which verification compares by cosine like any other embedding.
"""

from __future__ import annotations

import numpy as np


class Subspace:
    """A fitted linear projection (mean, then matrix) with a 1-nearest-neighbour classifier."""

    def __init__(self, mean: np.ndarray, projection: np.ndarray, train_x: np.ndarray, train_y: np.ndarray):
        self.mean, self.projection = mean, projection
        self.train_z, self.train_y = self.embed(train_x), np.asarray(train_y)

    def embed(self, x: np.ndarray) -> np.ndarray:
        """Faces (n, ...) flattened and projected: (n, dimensions), float64."""
        return (x.reshape(len(x), -1).astype(np.float64) - self.mean) @ self.projection

    def predict(self, x: np.ndarray, batch: int = 512) -> np.ndarray:
        """The identity of the nearest training face, in batches (memory stays batch x n_train)."""
        out, sq_train = [], (self.train_z ** 2).sum(1)
        for start in range(0, len(x), batch):
            z = self.embed(x[start:start + batch])
            distance = sq_train[None, :] - 2 * z @ self.train_z.T  # + |z|^2, the same for every neighbour
            out.append(self.train_y[np.argmin(distance, axis=1)])
        return np.concatenate(out) if out else np.zeros(0, self.train_y.dtype)


def _pca(flat: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top principal axes (features x components) of rows of flat (float64)."""
    mean = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
    return mean, vt[:components].T


def eigenfaces(x: np.ndarray, y: np.ndarray, components: int) -> Subspace:
    flat = x.reshape(len(x), -1).astype(np.float64)
    if not 1 <= components <= min(flat.shape):
        raise ValueError(f"eigenfaces: {components} components asked, at most {min(flat.shape)} possible")
    mean, axes = _pca(flat, components)
    return Subspace(mean, axes, x, y)


def fisherfaces(x: np.ndarray, y: np.ndarray, pca_components: int | None = None) -> Subspace:
    """pca_components: the PCA step's dimensions, at most N - c (the classic choice, None); fewer
    keep LDA from fitting the noise of the smallest principal components."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    flat = x.reshape(len(x), -1).astype(np.float64)
    n_classes = len(np.unique(y))
    if len(flat) <= n_classes:
        raise ValueError(f"fisherfaces: {len(flat)} training faces for {n_classes} people; need more faces than people")
    limit = min(len(flat) - n_classes, flat.shape[1])
    mean, axes = _pca(flat, limit if pca_components is None else min(pca_components, limit))
    lda = LinearDiscriminantAnalysis(solver="svd").fit((flat - mean) @ axes, y)
    # LDA's transform: (z - lda.xbar_) @ scalings_; fold the PCA and LDA means into one centre
    projection = axes @ lda.scalings_[:, :n_classes - 1]
    centre = mean + axes @ lda.xbar_
    return Subspace(centre, projection, x, y)
