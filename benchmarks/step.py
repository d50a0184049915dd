"""Training-step speed: the generated train.py against hand-written NumPy, PyTorch and JAX.

Usage: python benchmarks/step.py [--rounds N] [--quick] [--lenet] [--sequence]

One network family (tanh hidden layers, softmax + cross-entropy output, weight decay), four sizes
and batch sizes, float32 and float64. Every variant does the same work: one forward pass with
the objective, the backward pass, the gradient-descent update, a dict of new values out:

  hand     a minimal hand-written NumPy step (what an engineer writes: BLAS matmuls, log-softmax
           by max subtraction, the weight decay folded into the update, vdot for the norms);
  gen      the generated train.py's ``step`` on NumPy arrays;
  torch    the same step hand-written in PyTorch, eager;
  gen-pt   the generated ``step`` on PyTorch tensors (array-api-compat);
  jax      the hand-written step under ``jax.jit``;
  gen-jax  the generated module of ``--target jax`` (its ``step`` is jit-compiled).

Timing: one BLAS/XLA thread, variants interleaved round by round, the best of the rounds
(each round times enough calls to take ~50 ms). It prints the times, the ratios gen/hand,
gen-pt/torch and gen-jax/jax, and for the largest float32 network the step's matrix-multiply
rate against this machine's single-thread SGEMM rate, a 1024^3 product timed in the same rounds.

Then (with PyTorch installed; ``--lenet`` for this part alone) a LeNet-5-sized network of layers
on 28 x 28 inputs, batch 64: conv 6 5x5 (padding 2), relu, max pool 2, conv 16 5x5, relu, max
pool 2, flatten, dense 120 and 84 (relu), dense 10 softmax, cross-entropy, weight decay. The
generated step (on NumPy, and on PyTorch tensors: gen-pt) against the same step in PyTorch eager
(torch.nn.functional forward, torch.autograd.grad backward, the update under no_grad), after
checking that both give the same objective and new parameters. It runs twice: with the C
library's default allocator, and with glibc told to keep freed memory (``mallopt``: trim and
mmap thresholds of 32 MB). NumPy takes each step's multi-megabyte temporaries (im2col's
columns) from malloc, and glibc by default gives such blocks back to the system and faults them
in again on the next step; the second row shows what that costs. train.py never changes it.

Then (with PyTorch; ``--sequence`` for this part alone) two sequence models, batch 32, each
followed by dense 10 softmax, cross-entropy, weight decay: an RNN (T = 20, D = 32, H = 64, tanh,
the last step) against PyTorch eager's ``torch.nn.RNN`` (its fused kernel, through
``torch.func.functional_call`` with the network's weights, bias_hh = 0) and against the same
recurrence written step by step in PyTorch eager; and single-head self-attention (T = 32,
d = 64, mean over time) against the same layer written in PyTorch eager. Every PyTorch step is
autograd's backward and an SGD update under no_grad; each is checked to agree first.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

import argparse  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402

from symbackprop import LayeredNetwork, derive  # noqa: E402
from symbackprop.analysis.gradcheck import import_source  # noqa: E402
from symbackprop.core.sequential import Layer, SequentialNetwork  # noqa: E402

SIZES = [((4, 8, 3), 1), ((64, 32, 10), 32), ((784, 128, 64, 10), 256), ((784, 512, 512, 10), 256)]
DECAY, RATE = 1e-4, 0.1


def network(sizes) -> LayeredNetwork:
    acts = ("tanh",) * (len(sizes) - 2) + ("softmax",)
    return LayeredNetwork("bench", tuple(sizes), acts, "cross_entropy", weight_decay=DECAY, learning_rate=RATE)


def values_for(sizes, batch: int, dtype) -> dict:
    rng = np.random.default_rng(0)
    values = {}
    for layer in range(1, len(sizes)):
        values[f"W{layer}"] = rng.normal(0, 1 / np.sqrt(sizes[layer - 1]), (sizes[layer], sizes[layer - 1]))
        values[f"b{layer}"] = rng.normal(0, 0.1, (sizes[layer],))
    values["x"] = rng.normal(0, 1, (batch, sizes[0]))
    values["t"] = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    return {k: v.astype(dtype) for k, v in values.items()}


# --- hand-written steps ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Library:
    """The few calls a hand-written step makes, as each library spells them best."""

    affine: object  # (a, W, b) -> a W^T + b
    tanh: object
    log_softmax: object  # over the rows
    exp: object
    dot: object  # sum of the elementwise product of two arrays
    column_sum: object


def numpy_library() -> Library:
    def log_softmax(z):
        shifted = z - z.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    return Library(lambda a, W, b: a @ W.T + b, np.tanh, log_softmax, np.exp, np.vdot, lambda d: d.sum(axis=0))


def torch_library() -> Library:
    import torch

    return Library(
        lambda a, W, b: torch.addmm(b, a, W.T),
        torch.tanh,
        lambda z: torch.log_softmax(z, dim=1),
        torch.exp,
        lambda u, v: (u * v).sum(),
        lambda d: d.sum(dim=0),
    )


def jax_library() -> Library:
    import jax
    import jax.numpy as jnp

    return Library(
        lambda a, W, b: a @ W.T + b,
        jnp.tanh,
        lambda z: jax.nn.log_softmax(z, axis=1),
        jnp.exp,
        jnp.vdot,
        lambda d: d.sum(axis=0),
    )


def hand_step(depth: int, lib: Library):
    """One training step as an engineer writes it: forward, log-softmax cross-entropy with weight
    decay, backward layer by layer, the decay and the 1/m folded into the update."""

    def step(values, lr=RATE):
        x, t = values["x"], values["t"]
        m = x.shape[0]
        W = [values[f"W{i}"] for i in range(1, depth + 1)]
        b = [values[f"b{i}"] for i in range(1, depth + 1)]
        hs = [x]
        for i in range(depth - 1):
            hs.append(lib.tanh(lib.affine(hs[-1], W[i], b[i])))
        logp = lib.log_softmax(lib.affine(hs[-1], W[-1], b[-1]))
        objective = -lib.dot(t, logp) / m + DECAY / 2 * sum(lib.dot(w, w) for w in W)
        delta = lib.exp(logp) - t
        new = dict(values)
        keep, scale = 1 - lr * DECAY, lr / m
        for i in range(depth - 1, -1, -1):
            gW, gb = delta.T @ hs[i], lib.column_sum(delta)
            if i:
                delta = (delta @ W[i]) * (1 - hs[i] * hs[i])
            new[f"W{i + 1}"] = keep * W[i] - scale * gW
            new[f"b{i + 1}"] = b[i] - scale * gb
        new["J"] = objective
        return new

    return step


# --- timing -------------------------------------------------------------------------------------
@dataclass
class Variant:
    name: str
    call: object  # () -> None, one step
    best: float = float("inf")


def calls_for(fn, budget: float = 0.05) -> int:
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < budget / 5:
        fn()
        n += 1
    return max(1, n * 5)


def timed(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


SGEMM_N = 1024


def matmul_flops(sizes, batch: int) -> int:
    """Multiply-adds of one step's products, counted twice: forward W a, the weight gradients
    delta a^T, and the error terms W^T delta of every layer but the first."""
    pairs = list(zip(sizes, sizes[1:]))
    forward = sum(2 * batch * a * b for a, b in pairs)
    back = sum(2 * batch * a * b for a, b in pairs[1:])
    return 2 * forward + back


def block(fn):
    """Run fn and wait for its arrays (JAX dispatches asynchronously)."""

    def run():
        out = fn()
        for v in out.values():
            if hasattr(v, "block_until_ready"):
                v.block_until_ready()

    return run


def agree(a: dict, b: dict, dtype) -> None:
    """The steps compared do the same work: the same objective and the same new weights."""
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    for key in a:
        np.testing.assert_allclose(np.asarray(b[key]), np.asarray(a[key]), rtol=tolerance, atol=tolerance, err_msg=key)


def bench(sizes, batch: int, dtype, rounds: int, libraries: set[str], sgemm: bool = False) -> dict[str, float]:
    depth = len(sizes) - 1
    d = derive(network(sizes))
    generated = import_source(d.to_numpy(), name=f"bench_gen_{depth}_{sizes[1]}")
    values = values_for(sizes, batch, dtype)
    hand = hand_step(depth, numpy_library())
    agree(hand(values), generated.step(values), dtype)
    variants = [Variant("hand", lambda: hand(values)), Variant("gen", lambda: generated.step(values))]
    if "torch" in libraries:
        import torch

        tv = {k: torch.from_numpy(v) for k, v in values.items()}
        torch_step = hand_step(depth, torch_library())
        agree(hand(values), {k: v.numpy() for k, v in torch_step(tv).items()}, dtype)
        variants += [Variant("torch", lambda: torch_step(tv)), Variant("gen-pt", lambda: generated.step(tv))]
    if "jax" in libraries:
        import jax

        jv = {k: jax.numpy.asarray(v) for k, v in values.items()}
        jax_step = jax.jit(hand_step(depth, jax_library()))
        agree(hand(values), jax_step(jv), dtype)
        jitted = import_source(d.to_numpy("jax"), name=f"bench_jax_{depth}_{sizes[1]}")
        variants += [Variant("jax", block(lambda: jax_step(jv))), Variant("gen-jax", block(lambda: jitted.step(jv)))]
    if sgemm:  # the machine's rate, measured in the same rounds as the steps it is compared with
        a = np.ones((SGEMM_N, SGEMM_N), np.float32)
        variants.append(Variant("sgemm", lambda: a @ a))
    counts = {v.name: calls_for(v.call) for v in variants}
    for _ in range(rounds):
        for v in variants:  # interleaved: every variant sees the same machine state
            v.best = min(v.best, timed(v.call, counts[v.name]))
    return {v.name: v.best for v in variants}


# --- a LeNet-5-sized network of layers against PyTorch eager ----------------------------------------
LENET_BATCH = 64


def lenet5() -> SequentialNetwork:
    layers = (
        Layer("conv2d", channels=6, kernel=5, padding=2, activation="relu"),
        Layer("maxpool2d", size=2),
        Layer("conv2d", channels=16, kernel=5, activation="relu"),
        Layer("maxpool2d", size=2),
        Layer("flatten"),
        Layer("dense", units=120, activation="relu"),
        Layer("dense", units=84, activation="relu"),
        Layer("dense", units=10, activation="softmax"),
    )
    return SequentialNetwork("lenet5", (1, 28, 28), layers, "cross_entropy", weight_decay=DECAY, learning_rate=RATE)


def torch_lenet_step(net: SequentialNetwork):
    """The same training step in PyTorch eager: functional forward, autograd backward, SGD update."""
    import torch
    import torch.nn.functional as F

    weights = net.weights()

    def step(values, lr=RATE):
        x, t = values["x"], values["t"]
        a = F.max_pool2d(F.relu(F.conv2d(x, values["W1"], values["b1"], padding=2)), 2)
        a = torch.flatten(F.max_pool2d(F.relu(F.conv2d(a, values["W3"], values["b3"])), 2), 1)
        a = F.relu(F.linear(a, values["W6"], values["b6"]))
        a = F.relu(F.linear(a, values["W7"], values["b7"]))
        logp = torch.log_softmax(F.linear(a, values["W8"], values["b8"]), dim=1)
        objective = -(t * logp).sum() / x.shape[0] + DECAY / 2 * sum((values[w] ** 2).sum() for w in weights)
        names = list(net.parameter_names)
        grads = torch.autograd.grad(objective, [values[n] for n in names])
        new = dict(values)
        with torch.no_grad():
            for name, g in zip(names, grads):
                new[name] = values[name] - lr * g
        new["J"] = objective.detach()
        return new

    return step


def keep_freed_memory() -> bool:
    """glibc: keep freed blocks of up to 32 MB for reuse instead of returning them to the system."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return bool(libc.mallopt(-1, 2**25)) and bool(libc.mallopt(-3, 2**25))  # M_TRIM_ and M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def bench_lenet(rounds: int) -> None:
    bench_lenet_rows(rounds, "default malloc")
    if keep_freed_memory():
        bench_lenet_rows(rounds, "malloc keeps")


def bench_lenet_rows(rounds: int, allocator: str) -> None:
    import torch

    net = lenet5()
    generated = import_source(derive(net).to_numpy(), name="bench_gen_lenet5")
    rng = np.random.default_rng(0)
    print(
        f"\nLeNet-5 (28 x 28, batch {LENET_BATCH}), {allocator}: the generated step against PyTorch eager, one thread"
    )
    print(f"{'dtype':<8} {'gen us':>9} {'torch us':>9} {'gen/torch':>9} {'gen-pt us':>10} {'gen-pt/torch':>12}")
    for dtype in (np.float32, np.float64):
        values = dict(net.initial_parameters())
        values["x"] = rng.normal(0, 1, (LENET_BATCH, *net.input_shape))
        values["t"] = np.eye(10)[rng.integers(0, 10, LENET_BATCH)]
        values = {k: v.astype(dtype) for k, v in values.items()}
        tv = {k: torch.from_numpy(v) for k, v in values.items()}
        leaves = {k: v.clone().requires_grad_(k in net.parameter_names) for k, v in tv.items()}
        torch_step = torch_lenet_step(net)
        agree(generated.step(values), {k: v.detach().numpy() for k, v in torch_step(leaves).items()}, dtype)
        variants = [
            Variant("gen", lambda: generated.step(values)),
            Variant("torch", lambda: torch_step(leaves)),
            Variant("gen-pt", lambda: generated.step(tv)),
        ]
        counts = {v.name: calls_for(v.call, budget=0.2) for v in variants}
        for _ in range(rounds):
            for v in variants:
                v.best = min(v.best, timed(v.call, counts[v.name]))
        t = {v.name: v.best for v in variants}
        print(
            f"{dtype.__name__:<8} {1e6 * t['gen']:>9.0f} {1e6 * t['torch']:>9.0f} {t['gen'] / t['torch']:>9.3f}"
            f" {1e6 * t['gen-pt']:>10.0f} {t['gen-pt'] / t['torch']:>12.3f}",
            flush=True,
        )


# --- sequence models against PyTorch eager --------------------------------------------------------
SEQUENCE_BATCH = 32


def rnn_net() -> SequentialNetwork:
    layers = (Layer("rnn", units=64, activation="tanh"), Layer("dense", units=10, activation="softmax"))
    return SequentialNetwork("rnn", (20, 32), layers, "cross_entropy", weight_decay=DECAY, learning_rate=RATE)


def attention_net() -> SequentialNetwork:
    layers = (Layer("attention", dim=64), Layer("mean_over_time"), Layer("dense", units=10, activation="softmax"))
    return SequentialNetwork("attention", (32, 64), layers, "cross_entropy", weight_decay=DECAY, learning_rate=RATE)


def torch_sequence_step(net: SequentialNetwork, forward):
    """A PyTorch eager step around ``forward(values) -> the dense layer's input``: log-softmax
    cross-entropy with weight decay, autograd's gradients, the update under no_grad."""
    import torch

    names, weights = list(net.parameter_names), net.weights()
    tag = str(len(net.layers))

    def step(values, lr=RATE):
        x, t = values["x"], values["t"]
        z = torch.addmm(values[f"b{tag}"], forward(values), values[f"W{tag}"].T)
        logp = torch.log_softmax(z, dim=1)
        objective = -(t * logp).sum() / x.shape[0] + DECAY / 2 * sum((values[w] ** 2).sum() for w in weights)
        grads = torch.autograd.grad(objective, [values[n] for n in names])
        new = dict(values)
        with torch.no_grad():
            for name, g in zip(names, grads):
                new[name] = values[name] - lr * g
        new["J"] = objective.detach()
        return new

    return step


def torch_rnn_forwards(net: SequentialNetwork) -> dict:
    """h_T by torch.nn.RNN's fused kernel, and by the recurrence written step by step."""
    import torch

    steps, width = net.input_shape
    units = net.layers[0].units
    module = torch.nn.RNN(width, units, batch_first=True)

    def fused(values):
        zero = torch.zeros_like(values["b_h1"])
        weights = {"weight_ih_l0": values["W_xh1"], "weight_hh_l0": values["W_hh1"], "bias_ih_l0": values["b_h1"]}
        out, _ = torch.func.functional_call(
            module.to(values["x"].dtype), {**weights, "bias_hh_l0": zero}, (values["x"],)
        )
        return out[:, -1]

    def by_step(values):
        x, W_xh, W_hh, b = values["x"], values["W_xh1"], values["W_hh1"], values["b_h1"]
        inputs = torch.addmm(b, x.reshape(-1, width), W_xh.T).reshape(x.shape[0], steps, units)
        h = torch.tanh(inputs[:, 0])
        for t in range(1, steps):
            h = torch.tanh(torch.addmm(inputs[:, t], h, W_hh.T))
        return h

    return {"torch.nn.RNN": fused, "torch loop": by_step}


def torch_attention_forward(values):
    import torch

    x = values["x"]
    Q, K, V = (x @ values[f"W_{part}1"] for part in "qkv")
    A = torch.softmax(Q @ K.transpose(1, 2) / Q.shape[-1] ** 0.5, dim=-1)
    return (A @ V).mean(dim=1)


def bench_sequence(rounds: int) -> None:
    import torch

    rng = np.random.default_rng(0)
    print(f"\nSequence models (batch {SEQUENCE_BATCH}): the generated step against PyTorch eager, one thread")
    print(
        f"{'network':<28} {'dtype':<8} {'gen us':>9} {'torch us':>9} {'gen/torch':>9} {'gen-pt us':>10} {'gen-pt/torch':>12}"
    )
    cases = [(rnn_net(), name, fn) for name, fn in torch_rnn_forwards(rnn_net()).items()]
    cases.append((attention_net(), "torch", torch_attention_forward))
    modules = {}
    for net, reference, forward in cases:
        if net.name not in modules:
            modules[net.name] = import_source(derive(net).to_numpy(), name=f"bench_gen_{net.name}")
        generated = modules[net.name]
        for dtype in (np.float32, np.float64):
            values = dict(net.initial_parameters())
            values["x"] = rng.normal(0, 1, (SEQUENCE_BATCH, *net.input_shape))
            values["t"] = np.eye(10)[rng.integers(0, 10, SEQUENCE_BATCH)]
            values = {k: v.astype(dtype) for k, v in values.items()}
            tv = {k: torch.from_numpy(v) for k, v in values.items()}
            leaves = {k: v.clone().requires_grad_(k in net.parameter_names) for k, v in tv.items()}
            torch_step = torch_sequence_step(net, forward)
            agree(generated.step(values), {k: v.detach().numpy() for k, v in torch_step(leaves).items()}, dtype)
            variants = [
                Variant("gen", lambda: generated.step(values)),
                Variant("torch", lambda: torch_step(leaves)),
                Variant("gen-pt", lambda: generated.step(tv)),
            ]
            counts = {v.name: calls_for(v.call, budget=0.2) for v in variants}
            for _ in range(rounds):
                for v in variants:
                    v.best = min(v.best, timed(v.call, counts[v.name]))
            t = {v.name: v.best for v in variants}
            label = f"{net.name} vs {reference}"
            print(
                f"{label:<28} {dtype.__name__:<8} {1e6 * t['gen']:>9.0f} {1e6 * t['torch']:>9.0f}"
                f" {t['gen'] / t['torch']:>9.3f} {1e6 * t['gen-pt']:>10.0f} {t['gen-pt'] / t['torch']:>12.3f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 rounds, NumPy only")
    parser.add_argument("--lenet", action="store_true", help="only the LeNet-5 network against PyTorch eager")
    parser.add_argument("--sequence", action="store_true", help="only the RNN and attention against PyTorch eager")
    args = parser.parse_args()
    if args.sequence:
        import torch

        torch.set_num_threads(1)
        bench_sequence(args.rounds)
        return
    if args.lenet:
        import torch

        torch.set_num_threads(1)
        bench_lenet(args.rounds)
        return
    libraries = set()
    if not args.quick:
        for lib in ("torch", "jax"):
            try:
                __import__(lib)
                libraries.add(lib)
            except ImportError:
                print(f"({lib} not installed: its columns are left out)")
        if "torch" in libraries:
            import torch

            torch.set_num_threads(1)
        if "jax" in libraries:
            import jax

            jax.config.update("jax_enable_x64", True)
    rounds = 3 if args.quick else args.rounds
    bench(*SIZES[0], np.float64, 2, libraries)  # warm-up: the first compilations leave threads behind
    header = f"{'network':<18} {'B':>4} {'dtype':<8} {'hand us':>9} {'gen us':>9} {'gen/hand':>9}"
    if "torch" in libraries:
        header += f" {'torch us':>9} {'gen-pt/torch':>12}"
    if "jax" in libraries:
        header += f" {'jax us':>9} {'gen-jax/jax':>11}"
    print(header)
    worst = 0.0
    for sizes, batch in SIZES:
        for dtype in (np.float32, np.float64):
            largest = sizes == SIZES[-1][0] and dtype == np.float32
            t = bench(sizes, batch, dtype, rounds, libraries, sgemm=largest)
            ratio = t["gen"] / t["hand"]
            worst = max(worst, ratio)
            row = f"{'-'.join(map(str, sizes)):<18} {batch:>4} {dtype.__name__:<8} {1e6 * t['hand']:>9.1f} {1e6 * t['gen']:>9.1f} {ratio:>9.3f}"
            if "torch" in libraries:
                row += f" {1e6 * t['torch']:>9.1f} {t['gen-pt'] / t['torch']:>12.3f}"
            if "jax" in libraries:
                row += f" {1e6 * t['jax']:>9.1f} {t['gen-jax'] / t['jax']:>11.3f}"
            print(row, flush=True)
            if largest:
                rate, achieved, seconds = 2 * SGEMM_N**3 / t["sgemm"], matmul_flops(sizes, batch) / t["gen"], t["gen"]
    print(f"worst gen/hand: {worst:.3f}")
    print(f"single-thread SGEMM ({SGEMM_N}^3, float32, timed in the same rounds): {rate / 1e9:.1f} GFLOP/s")
    print(
        f"{'-'.join(map(str, SIZES[-1][0]))} B={SIZES[-1][1]} float32: the generated step's products run at "
        f"{achieved / 1e9:.1f} GFLOP/s, {100 * achieved / rate:.0f}% of that ({1e3 * seconds:.2f} ms a step)"
    )
    if "torch" in libraries:
        bench_lenet(rounds)
        bench_sequence(rounds)


if __name__ == "__main__":
    main()
