"""Engine speed against baselines run in the same process (issue 2's workloads).

    python -m bench            # every workload
    python -m bench.engine --quick

Each workload prints the engine's time per step, the baselines' (torch CPU when installed, a
plain NumPy loop), and the ratios. Times are best-of-3 wall clock.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from engine import resolve_spec, run_group, run_spec


def best_of(repeats: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


# --- workload 1: one 2-D run, every step recorded ------------------------------------------------

def rosenbrock_numpy_adam(steps: int) -> None:
    """The plain NumPy loop: shape-(2,) arrays, Adam by hand."""
    x = np.array([-1.5, 2.0])
    m = np.zeros(2)
    v = np.zeros(2)
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
    trajectory = np.empty((steps + 1, 2))
    for t in range(1, steps + 1):
        trajectory[t - 1] = x
        g = np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    trajectory[steps] = x


def rosenbrock_torch(torch, make_optimizer, steps: int) -> None:
    """The baseline loop: ``steps`` torch updates on 2-D Rosenbrock from (-1.5, 2), each point
    kept, with the optimizer ``make_optimizer([x])`` builds."""
    x = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([x])
    trajectory = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        loss.backward()
        optimizer.step()
        trajectory.append(x.detach().clone())


def single_run(quick: bool) -> None:
    steps = 200_000 if not quick else 50_000
    spec = {"function": "rosenbrock", "optimizer": "adam", "learning_rate": 1e-3, "max_steps": steps}
    run_spec({**spec, "max_steps": 10})  # compile / load the cache
    engine = best_of(3, lambda: run_spec(spec)) / steps
    numpy_steps = steps // 20
    plain = best_of(3, lambda: rosenbrock_numpy_adam(numpy_steps)) / numpy_steps
    print("single 2-D Rosenbrock Adam run, every step recorded")
    print(f"  engine        {engine * 1e9:10.1f} ns/step")
    print(f"  numpy loop    {plain * 1e9:10.1f} ns/step   engine is {plain / engine:7.1f}x faster")
    torch = torch_or_none()
    if torch is not None:
        torch_steps = steps // 100
        reference = best_of(3, lambda: rosenbrock_torch(
            torch, lambda params: torch.optim.Adam(params, lr=1e-3, foreach=False), torch_steps)) / torch_steps
        print(f"  torch.optim   {reference * 1e9:10.1f} ns/step   engine is {reference / engine:7.1f}x"
              " faster (target >= 50x)")


# --- workload 2: a sweep of 1,024 runs ----------------------------------------------------------

def sweep(quick: bool) -> None:
    runs, steps = 1024, (10_000 if not quick else 2_000)
    base = {"function": "rosenbrock", "optimizer": "adam", "max_steps": steps, "record_every": steps}
    rates = np.logspace(-4, -1, runs)
    prepared = [resolve_spec({**base, "learning_rate": float(lr)}) for lr in rates]
    shared = prepared[0].objective
    for run in prepared:
        run.objective = shared
    run_group(prepared[:2])
    engine = best_of(3, lambda: run_group(prepared)) / (runs * steps)
    print(f"sweep of {runs} Adam runs x {steps} steps on 2-D Rosenbrock (one vectorised loop)")
    print(f"  engine        {engine * 1e9:10.2f} ns per run-step (target <= 25 ns)")


# --- workload 2b: every optimizer family beside Adam, one run and a sweep -----------------------

BENCH_OPTIMIZERS = ("adam", "asgd", "adafactor", "lion", "adabelief", "lamb")


def optimizers(quick: bool) -> None:
    """Each family's single 2-D run (every step recorded) and 1,024-run learning-rate sweep, in
    one process with Adam's as the yardstick; Lion beside lion_pytorch where torch is installed."""
    steps, runs, sweep_steps = (100_000, 1024, 10_000) if not quick else (20_000, 1024, 2_000)
    rates = np.logspace(-4, -2, runs)
    print(f"every optimizer on 2-D Rosenbrock: one run ({steps} steps, every step recorded), "
          f"a sweep of {runs} runs x {sweep_steps} steps")
    single: dict[str, float] = {}
    for name in BENCH_OPTIMIZERS:
        spec = {"function": "rosenbrock", "optimizer": name, "learning_rate": 1e-4,
                "max_steps": steps}
        run_spec({**spec, "max_steps": 10})
        single[name] = best_of(3, partial(run_spec, spec)) / steps
        base = {"function": "rosenbrock", "optimizer": name, "max_steps": sweep_steps,
                "record_every": sweep_steps}
        prepared = [resolve_spec({**base, "learning_rate": float(lr)}) for lr in rates]
        for run in prepared:
            run.objective = prepared[0].objective
        run_group(prepared[:2])
        per_run_step = best_of(3, partial(run_group, prepared)) / (runs * sweep_steps)
        print(f"  {name:10s} one run {single[name] * 1e9:8.1f} ns/step "
              f"({single[name] / single['adam']:4.2f}x Adam)   sweep {per_run_step * 1e9:6.2f} ns "
              "per run-step (target <= 25 ns)")
    torch = torch_or_none()
    try:
        from lion_pytorch import Lion
    except ImportError:
        return
    if torch is not None:
        torch_steps = steps // 100
        reference = best_of(3, lambda: rosenbrock_torch(
            torch, lambda params: Lion(params, lr=1e-4), torch_steps)) / torch_steps
        print(f"  lion_pytorch {reference * 1e9:9.1f} ns/step   engine's lion is "
              f"{reference / single['lion']:7.1f}x faster (target >= 500x)")


# --- workload 3: the linear models on a large data set: full batch, mini-batch ------------------

def regression_data(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    return X, y


def numpy_minibatch(X, y, steps: int, batch: int) -> None:
    rng = np.random.default_rng(0)
    n, d = X.shape
    w = np.zeros(d + 1)
    buffer = np.zeros(d + 1)
    order = rng.permutation(n)
    position = 0
    for _ in range(steps):
        if position + batch > n:
            order, position = rng.permutation(n), 0
        index = order[position:position + batch]
        position += batch
        Xb, yb = X[index], y[index]
        residual = Xb @ w[:-1] + w[-1] - yb
        grad = np.empty(d + 1)
        grad[:-1] = 2 * (Xb.T @ residual) / len(index)
        grad[-1] = 2 * residual.mean()
        buffer = 0.9 * buffer + grad
        w -= 0.01 * buffer


def torch_minibatch(torch, X, y, steps: int, batch: int) -> None:
    """The idiomatic fast loop: index a shuffled order (a DataLoader over a TensorDataset
    collates sample by sample and is several times slower)."""
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y)
    n = len(Xt)
    model = torch.nn.Linear(X.shape[1], 1).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, foreach=False)
    generator = torch.Generator().manual_seed(0)
    order, position = torch.randperm(n, generator=generator), 0
    for _ in range(steps):
        if position + batch > n:
            order, position = torch.randperm(n, generator=generator), 0
        index = order[position:position + batch]
        position += batch
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(Xt[index]).squeeze(1), yt[index])
        loss.backward()
        optimizer.step()


def interleaved_best(repeats: int, works: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best-of-``repeats`` wall clock of each work, the works taking turns: a busy neighbour on
    a shared machine then slows them alike, and the ratios hold."""
    best = dict.fromkeys(works, float("inf"))
    for _ in range(repeats):
        for name, work in works.items():
            best[name] = min(best[name], best_of(1, work))
    return best


def full_batch(X: np.ndarray, y: np.ndarray) -> None:
    """A full-batch step (loss and gradient over every sample, one pass over the data) against
    reading X once. The read is ``X.sum()``: one single-threaded streaming pass, NumPy's fastest
    way to touch every value (``X @ v`` may use several BLAS threads, ``X.sum(axis=0)`` is
    slower); the engine's pass is single-threaded too."""
    n, d = X.shape
    steps = 40
    labels = (y > 0).astype(float)
    datasets = {"linear_regression": (X, y), "logistic_regression": (X, labels)}
    runs = {
        model: resolve_spec({"function": model, "data": {"dataset_id": model}, "optimizer": "sgd",
                             "learning_rate": 0.01, "max_steps": steps, "record_every": steps},
                            load_dataset=datasets.__getitem__)
        for model in datasets
    }
    works: dict[str, Callable[[], object]] = {"read": X.sum}
    for model, run in runs.items():
        run_group([run])  # compile / load the cache
        works[model] = partial(run_group, [run])
    times = interleaved_best(5, works)
    read = times["read"]
    print(f"full batch N={n} d={d}: one step (a full pass: loss + gradient) against reading X once")
    print(f"  read X once   {read * 1e3:10.2f} ms (X.sum(), single-threaded)")
    for model in runs:
        step = times[model] / steps  # the run's final evaluation counted in: a little pessimistic
        print(f"  {model:20s} {step * 1e3:7.2f} ms/step = {step / read:.2f}x one read"
              + (" (target <= 1.5x)" if model == "linear_regression" else ""))


def minibatch(X: np.ndarray, y: np.ndarray, batch: int) -> None:
    """Mini-batch training as a user runs it (a record every epoch, ``epoch_loss``) and the
    steps alone, against the same steps in a plain NumPy loop and in torch's indexed loop
    (neither makes the full-data passes)."""
    n, d = X.shape
    steps_per_epoch = -(-n // batch)
    epochs = 3
    steps = epochs * steps_per_epoch
    spec = {"function": "linear_regression", "data": {"dataset_id": "bench"},
            "optimizer": "momentum", "learning_rate": 0.01, "batching": "minibatch",
            "batch_size": batch, "max_epochs": epochs, "max_steps": steps,
            "record_every": steps_per_epoch}
    prepared = resolve_spec(spec, load_dataset=lambda _: (X, y))
    result = run_group([prepared])[0]
    assert result.epoch_loss is not None and result.steps == steps
    # the points that need a full pass, once each: the records, each epoch's end, the final point
    epoch_ends = {steps_per_epoch * (epoch + 1) for epoch in range(len(result.epoch_loss))}
    passes = len(set(result.trajectory["step"].tolist()) | epoch_ends)
    start = np.zeros((1, d + 1))
    works: dict[str, Callable[[], object]] = {
        "user": lambda: run_group([prepared]),
        "pass": lambda: prepared.objective.evaluate(start),
        "numpy": lambda: numpy_minibatch(X, y, steps, batch),
    }
    torch = torch_or_none()
    if torch is not None:
        works["torch"] = lambda: torch_minibatch(torch, X, y, steps, batch)
    measured = interleaved_best(3, works)
    full_pass = measured.pop("pass")
    times = {name: time / steps for name, time in measured.items()}
    user = times["user"]
    alone = user - passes * full_pass / steps
    print(f"linear regression N={n} d={d}: mini-batch {batch}, SGD momentum 0.9, {epochs} epochs "
          f"({steps} steps), a record every epoch")
    print(f"  engine        {user * 1e6:10.1f} us/step as a user runs it: records and epoch_loss "
          f"included ({passes} full-data passes, one per point)")
    print(f"  steps only    {alone * 1e6:10.1f} us/step (the passes' time, "
          f"{full_pass * 1e3:.2f} ms each, taken out)")
    for name, label, target in (("numpy", "numpy loop", ""), ("torch", "torch", " (target >= 7x)")):
        if name in times:
            other = times[name]
            print(f"  {label:13s} {other * 1e6:10.1f} us/step   engine is {other / user:6.2f}x faster"
                  f" as a user runs it{target}, {other / alone:.2f}x steps only")
    if torch is None:
        print("  torch         not installed here: no torch row (run the bench where torch is)")


# --- workload 2c: L-BFGS, one step(closure) a step, on 2-D Rosenbrock ----------------------------

LBFGS_BENCH = {"max_iter": 20, "history_size": 10, "tolerance_grad": 0.0, "tolerance_change": 0.0}


def rosenbrock_torch_lbfgs(torch, steps: int, line_search_fn: str | None) -> int:
    """torch.optim.LBFGS, one step(closure) a step; returns its function evaluations."""
    x = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([x], lr=1.0 if line_search_fn else 1e-3,
                                  line_search_fn=line_search_fn, **LBFGS_BENCH)

    def closure():
        optimizer.zero_grad()
        loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        loss.backward()
        return loss

    trajectory = []
    for _ in range(steps):
        optimizer.step(closure)
        trajectory.append(x.detach().clone())
    return int(optimizer.state[x]["func_evals"])


def lbfgs(quick: bool) -> None:
    """One L-BFGS run (every step recorded) with and without the strong-Wolfe line search; the
    tolerances are 0, so every step makes its 20 iterations (a fixed-step run) or its line
    searches; beside torch.optim.LBFGS in the same process where torch is installed."""
    steps = 2_000 if not quick else 500
    torch = torch_or_none()
    print(f"L-BFGS on 2-D Rosenbrock (history 10, max_iter 20), one run of {steps} steps")
    for line_search_fn, lr in ((None, 1e-3), ("strong_wolfe", 1.0)):
        spec = {"function": "rosenbrock", "learning_rate": lr, "max_steps": steps,
                "optimizer": {"name": "lbfgs", "line_search_fn": line_search_fn, **LBFGS_BENCH}}
        run_spec({**spec, "max_steps": 2})
        evaluations = run_spec(spec).final["function_evaluations"]
        engine = best_of(3, partial(run_spec, spec))
        label = line_search_fn or "fixed step"
        print(f"  {label:12s} engine {engine / steps * 1e9:10.1f} ns/step "
              f"{engine / evaluations * 1e9:8.1f} ns/evaluation ({evaluations / steps:.1f} a step)")
        if torch is not None:
            torch_steps = max(1, steps // 20)
            reference = best_of(3, partial(rosenbrock_torch_lbfgs, torch, torch_steps,
                                           line_search_fn))
            torch_evaluations = rosenbrock_torch_lbfgs(torch, torch_steps, line_search_fn)
            print(f"  {'':12s} torch  {reference / torch_steps * 1e9:10.1f} ns/step "
                  f"{reference / torch_evaluations * 1e9:8.1f} ns/evaluation   engine is "
                  f"{(reference / torch_evaluations) / (engine / evaluations):7.1f}x faster "
                  "per evaluation")
    if torch is None:
        print("  torch         not installed here: no torch row (run the bench where torch is)")


def regression(quick: bool) -> None:
    n, d, batch = (200_000, 100, 256) if not quick else (50_000, 100, 256)
    X, y = regression_data(n, d)
    full_batch(X, y)
    minibatch(X, y, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    parser.add_argument("--optimizers", action="store_true", help="only the optimizer rows")
    args = parser.parse_args()
    if args.optimizers:
        optimizers(args.quick)
        return
    single_run(args.quick)
    sweep(args.quick)
    optimizers(args.quick)
    lbfgs(args.quick)
    regression(args.quick)


if __name__ == "__main__":
    main()
