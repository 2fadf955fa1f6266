"""fine-tune: a small deep ensemble of multilayer perceptrons, pre-trained on the sources with tf-keras
and fine-tuned on the target.

Each of ``ensemble`` networks (input -> ``hidden`` ReLU layers -> 1 linear output) is pre-trained on every
source row (y standardised by the sources' mean and spread), from its own initial weights; the members
are the parallel branches of one keras model, trained together (independent: the loss is their sum, and
Adam scales each weight on its own) by full-batch Adam in one TensorFlow graph, traced once per shape
and process and reused with each pre-training's own initial weights (``_trainer``). For the target, every
layer but the last hidden one and the output is frozen, and those two are trained on the target rows (y
standardised by the target's mean and spread) by full-batch Adam from their pre-trained weights, in
numpy: with 64 units and tens of rows this takes milliseconds, where keras' graph tracing took seconds.
Inputs that no source varied (``held_inputs``: a ``fixed`` input, a level no source row has) are held at
the sources' value in the frozen layers, which never learned their effect, and reach the last hidden layer
directly through weights that start at zero and are trained on the target.
With no target row yet, the pre-trained members predict (the first batch from the sources).
Prediction: the members' mean; variance: their spread plus a small floor (Lakshminarayanan et al.,
NeurIPS 2017, without the per-member variance head).

Deterministic given the seeds. Pre-trained weights stay in the process (keyed by the sources' hash and
the settings); another process trains them again, which gives the same weights, so they are not written
to the state. Fantasies (``condition``) keep the networks as they are: a batch is the top of the
acquisition among the candidates not yet chosen. Not part of ``auto``: its leave-one-out would need a
fine-tuning per point.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from ..base import Standardizer
from .components import Setup
from .config import TransferConfig

# the pre-trained weights of the latest source sets: without a bound a process keeps one set (about 0.3 MB)
# per source set it ever saw: every fine-tune campaign of a daemon (and a campaign source read again, with
# more rows, whenever its campaign is reopened), every source draw of a benchmark
_PRETRAINED: OrderedDict[str, list[list[np.ndarray]]] = OrderedDict()
PRETRAINED_KEPT = 16
_LOCK = threading.Lock()
_NETS: dict[tuple, tuple[Any, Any, Any]] = {}  # (inputs, hidden, ensemble, epochs) -> model, optimizer, training
_NET_LOCK = threading.Lock()
LEARNING_RATE = 1e-2
FINE_TUNE_RATE = 3e-3
VAR_FLOOR = 1e-4  # standardised units


def pretrain(X: np.ndarray, z: np.ndarray, hidden: list[int], n: int, epochs: int, seed: int
             ) -> list[list[np.ndarray]]:
    """Weights [kernel, bias per Dense layer] of ``n`` MLPs trained on (X [N, D], z [N]) with tf-keras, from
    Glorot-uniform kernels and zero biases drawn with ``seed`` (keras' own defaults)."""
    from ..tf_quiet import import_tensorflow

    import_tensorflow()
    import tensorflow as tf

    with _NET_LOCK:  # one shared network per shape: one training at a time
        net, opt, train = _trainer(X.shape[1], tuple(hidden), n, epochs)
        rng = np.random.default_rng(seed)
        net.set_weights([_glorot(rng, w.shape) if w.ndim == 2 else np.zeros(w.shape, np.float32)
                         for w in net.get_weights()])
        for v in opt.variables:  # Adam's step count and moments, from zero as for a new optimizer
            v.assign(tf.zeros_like(v))
        train(tf.constant(X, dtype=tf.float32), tf.constant(np.asarray(z).reshape(-1, 1), dtype=tf.float32))
        return [[w.astype(np.float64) for layer in _member_layers(net, k, len(hidden)) for w in layer.get_weights()]
                for k in range(n)]


def _glorot(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    limit = np.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def _trainer(d: int, hidden: tuple, n: int, epochs: int) -> tuple[Any, Any, Any]:
    """The keras model of ``n`` parallel MLPs for ``d`` inputs, its Adam optimizer, and its full-batch
    training (a tf.function traced once): made once per shape and process, and reused with new weights.

    Why not a new model and tf.function per pre-training: each is traced anew and TensorFlow keeps every
    trace, about 20 MB per pre-training (8 GB in one benchmark process of 400 fine-tune campaigns; a daemon
    would grow the same way), and the tracing took two of its 2.5 seconds."""
    key = (d, hidden, n, epochs)
    if key in _NETS:
        return _NETS[key]
    import tensorflow as tf
    import tf_keras as keras

    inp = keras.Input(shape=(d,))
    outs = []
    for k in range(n):
        h = inp
        for j, width in enumerate(hidden):
            h = keras.layers.Dense(width, activation="relu", name=f"m{k}_h{j}")(h)
        outs.append(keras.layers.Dense(1, name=f"m{k}_out")(h))
    net = keras.Model(inp, keras.layers.Concatenate()(outs) if n > 1 else outs[0])
    opt = keras.optimizers.Adam(LEARNING_RATE)
    variables = net.trainable_variables
    opt.build(variables)  # its moments exist before the first trace, so they can be reset between uses

    @tf.function(input_signature=[tf.TensorSpec([None, d], tf.float32), tf.TensorSpec([None, 1], tf.float32)])
    def train(Xt: Any, zt: Any) -> None:
        for _ in tf.range(epochs):
            with tf.GradientTape() as tape:
                # the sum over members of each one's mean squared error
                loss = tf.reduce_sum(tf.reduce_mean(tf.square(net(Xt, training=True) - zt), axis=0))
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables))

    _NETS[key] = (net, opt, train)
    return _NETS[key]


def _member_layers(net: Any, k: int, depth: int) -> list[Any]:
    return [net.get_layer(f"m{k}_h{j}") for j in range(depth)] + [net.get_layer(f"m{k}_out")]


def features(weights: list[np.ndarray], X: np.ndarray, upto: int) -> np.ndarray:
    """The activations after the first ``upto`` Dense (ReLU) layers of a member."""
    h = X
    for k in range(0, 2 * upto, 2):
        h = np.maximum(h @ weights[k] + weights[k + 1], 0.0)
    return h


NONE_HELD = (np.zeros(0, dtype=int), np.zeros(0))  # no held inputs: columns, values


def held_inputs(sources: Any) -> tuple[np.ndarray, np.ndarray]:
    """The input columns that have one value in every source row, and those values: an input the sources
    held fixed (``fixed: {sn_load: 0}``), or a category level no source row has. The pre-trained network
    never saw them vary, so it knows nothing of their effect (a column always at 0 keeps its initial random
    weights)."""
    X = np.vstack([s.X for s in sources])
    if not len(X):
        return NONE_HELD
    held = np.flatnonzero(np.ptp(X, axis=0) == 0)
    return held, X[0, held]


def trained_inputs(weights: list[np.ndarray], X: np.ndarray, held: np.ndarray, at: np.ndarray) -> np.ndarray:
    """What a member's trained layers (the last hidden one and the output) take: the frozen layers' features
    of X with the held inputs at the sources' values (what those layers were trained on), and beside them the
    held inputs' departures from those values, which only the target data can relate to the objective."""
    frozen = len(weights) // 2 - 2  # Dense layers before the last hidden one
    Xs = np.array(X, dtype=np.float64)
    Xs[:, held] = at
    return np.hstack([features(weights, Xs, frozen), X[:, held] - at])


def with_held_inputs(weights: list[np.ndarray], n_held: int) -> list[np.ndarray]:
    """A pre-trained member whose last hidden layer also takes the held inputs, with zero weights (so it
    predicts what the pre-trained member does)."""
    W1 = weights[-4]
    return list(weights[:-4]) + [np.vstack([W1, np.zeros((n_held, W1.shape[1]))])] + list(weights[-3:])


def member_output(weights: list[np.ndarray], X: np.ndarray, held: np.ndarray = NONE_HELD[0],
                  at: np.ndarray = NONE_HELD[1]) -> np.ndarray:
    """A member's output [N] (weights as ``pretrain``, ``with_held_inputs`` or ``fine_tune`` give them)."""
    a = np.maximum(trained_inputs(weights, X, held, at) @ weights[-4] + weights[-3], 0.0)
    return (a @ weights[-2] + weights[-1]).reshape(-1)


def fine_tune(weights: list[np.ndarray], X: np.ndarray, z: np.ndarray, epochs: int,
              held: np.ndarray = NONE_HELD[0], at: np.ndarray = NONE_HELD[1]) -> list[np.ndarray]:
    """A member with its last hidden layer and output trained on (X, z) by full-batch Adam; the layers
    before them are the pre-trained ones (frozen: the same arrays). The held inputs (``held_inputs``) reach
    the last hidden layer directly, through weights that start at zero and are trained with it."""
    H = trained_inputs(weights, X, held, at)  # [N, h + held]
    W1, b1, w2, b2 = (w.copy() for w in with_held_inputs(weights, len(held))[-4:])
    params = [W1, b1, w2, b2]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    z = np.asarray(z, dtype=np.float64).reshape(-1, 1)
    n = len(z)
    for t in range(1, epochs + 1):
        pre = H @ W1 + b1
        a = np.maximum(pre, 0.0)
        r = a @ w2 + b2 - z  # [N, 1]
        g_out = 2.0 * r / n
        grads = [None, None, a.T @ g_out, g_out.sum(axis=0)]
        g_a = (g_out @ w2.T) * (pre > 0)
        grads[0], grads[1] = H.T @ g_a, g_a.sum(axis=0)
        for p, g, mk, vk in zip(params, grads, m, v):
            mk *= 0.9
            mk += 0.1 * g
            vk *= 0.999
            vk += 0.001 * g * g
            p -= FINE_TUNE_RATE * (mk / (1 - 0.9**t)) / (np.sqrt(vk / (1 - 0.999**t)) + 1e-7)
    return list(weights[:-4]) + params


class FineTune:
    name = "fine-tune"

    def __init__(self, setup: Setup, config: TransferConfig):
        if len(config.hidden) < 1:
            raise ValueError("fine-tune needs at least one hidden layer")
        self.sources = setup.sources
        self.hidden = list(config.hidden)
        self.n = config.ensemble
        self.epochs = config.epochs
        self.members: list[list[np.ndarray]] = []  # each member's fine-tuned weights
        self._held, self._at = held_inputs(self.sources)
        self._std: Standardizer | None = None
        self.fit_info: dict[str, Any] = {}

    def _key(self) -> str:
        h = hashlib.sha256("|".join(s.digest for s in self.sources).encode())
        h.update(repr((self.hidden, self.n, self.epochs)).encode())
        return h.hexdigest()[:16]

    def pretrained(self) -> list[list[np.ndarray]]:
        """The pre-trained weights of every member (trained once per process and sources; the latest
        ``PRETRAINED_KEPT`` source sets are kept)."""
        key = self._key()
        with _LOCK:
            hit = _PRETRAINED.get(key)
            if hit is not None:
                _PRETRAINED.move_to_end(key)
        if hit is None:
            X = np.vstack([s.X for s in self.sources])
            y = np.concatenate([s.y for s in self.sources])
            hit = pretrain(X, Standardizer(y).forward(y), self.hidden, self.n, self.epochs, int(key[:8], 16))
            with _LOCK:
                _PRETRAINED[key] = hit
                while len(_PRETRAINED) > PRETRAINED_KEPT:
                    _PRETRAINED.popitem(last=False)
        return hit

    def fit(self, X: np.ndarray, y: np.ndarray) -> "FineTune":
        """Fine-tune every member on the target rows (X [N, D], y [N]). With no target row the members are
        the pre-trained networks, predicting the sources' objective in its units (a campaign with ``initial:
        {n: 0}`` takes its first batch from them); with one, the target is standardised by the sources' mean
        and spread, since one value has no spread of its own."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=float).reshape(-1)
        pre = self.pretrained()
        if len(y) < 2:
            self._std = Standardizer(np.concatenate([s.y for s in self.sources]))
        else:
            self._std = Standardizer(y)
        if not len(y):
            self.members = [with_held_inputs(w, len(self._held)) for w in pre]
            return self
        z = self._std.forward(y)
        self.members = [fine_tune(w, X, z, self.epochs, self._held, self._at) for w in pre]
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Members' mean and spread at X [N, D], in y's units; arrays [N]."""
        X = np.asarray(X, dtype=np.float64)
        P = np.stack([member_output(w, X, self._held, self._at) for w in self.members])  # [E, N]
        return P.mean(axis=0) * self._std.std + self._std.mean, (P.var(axis=0) + VAR_FLOOR) * self._std.std**2

    def condition(self, X: np.ndarray) -> "FineTune":
        return self

    def loo(self) -> None:
        return None

    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        pass
