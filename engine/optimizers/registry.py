"""The optimizer registry: every family with torch's hyperparameters, defaults and checks.

``resolve_optimizer`` turns the job spec's ``optimizer`` field (a name, or an object
``{"name": ..., **hyperparameters}``) into a family and a complete hyperparameter dict;
``hyper_row`` packs that dict into the float row the kernel reads. Names, defaults, default
learning rates and the range checks are those of ``torch.optim`` 2.13 (each class's
``__init__``); the update rules are in ``engine.optimizers.kernels``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.bounds import interval_text, outside
from engine.errors import SpecError
from engine.optimizers import (
    elementwise_references,
    kernels,
    lbfgs,
    muon,
    newton,
    per_tensor,
    schedule_free,
)
from engine.optimizers.base import Hyperparameter, InitState, Layout, OptimizerDef
from engine.optimizers.layout import layout_slots


def _adagrad_state(hyper: np.ndarray, n_runs: int, dims: int, layout: Layout | None = None,
                   learning_rate: np.ndarray | None = None) -> np.ndarray:
    """torch: ``state["sum"] = torch.full_like(p, initial_accumulator_value)``."""
    state = np.zeros((1, n_runs, dims))
    state[0] = hyper[:, kernels.ADAGRAD.initial_accumulator_value, None]
    return state


def _nadam_state(hyper: np.ndarray, n_runs: int, dims: int, layout: Layout | None = None,
                 learning_rate: np.ndarray | None = None) -> np.ndarray:
    """torch: ``state["mu_product"] = torch.tensor(1.0)`` (slot 2, replicated along the row)."""
    state = np.zeros((3, n_runs, dims))
    state[2] = 1.0
    return state


def _layout_state(slots: int) -> InitState:
    """Zeros, with the layout (``engine.optimizers.layout``) in the last two slots."""
    def init_state(hyper: np.ndarray, n_runs: int, dims: int, layout: Layout | None = None,
                   learning_rate: np.ndarray | None = None) -> np.ndarray:
        state = np.zeros((slots, n_runs, dims))
        state[slots - 2], state[slots - 1] = layout_slots(layout, n_runs, dims)
        return state

    return init_state


def _lion_state(hyper: np.ndarray, n_runs: int, dims: int, layout: Layout | None = None,
                learning_rate: np.ndarray | None = None) -> np.ndarray:
    """exp_avg, and the constructor's lr that decoupled_weight_decay divides by (slot 1,
    column 0; left 0, the kernel takes the first update's lr)."""
    state = np.zeros((2, n_runs, dims))
    if learning_rate is not None:
        state[1, :, 0] = learning_rate
    return state


def _weight_decay(description: str = "L2 penalty: adds weight_decay * param to the gradient",
                  default: float = 0.0) -> Hyperparameter:
    return Hyperparameter("weight_decay", default, minimum=0.0, description=description)


def _eps(default: float, description: str = "added to the denominator for numerical stability"
         ) -> Hyperparameter:
    return Hyperparameter("eps", default, minimum=0.0, description=description)


_BETAS = Hyperparameter(
    "betas", (0.9, 0.999), kind="pair", parts=("beta1", "beta2"), minimum=0.0, maximum=1.0,
    exclusive_maximum=True,
    description="decay rates (beta1, beta2) of the running averages of the gradient and of its "
    "square",
)
_DECOUPLED = Hyperparameter(
    "decoupled_weight_decay", False, kind="bool",
    description="decay the parameters directly (param *= 1 - lr * weight_decay, as AdamW) "
    "instead of adding weight_decay * param to the gradient",
)
EPS_FLOAT64 = float(np.finfo(np.float64).eps)
_REFERENCE_BETAS = Hyperparameter(
    "betas", (0.9, 0.999), kind="pair", parts=("beta1", "beta2"), minimum=0.0, maximum=1.0,
    exclusive_maximum=True,
    description="decay rates (beta1, beta2) of the running averages of the gradient and of "
    "the second moment",
)
_WEIGHT_DECOUPLE = Hyperparameter(
    "weight_decouple", True, kind="bool",
    description="decay the parameters directly (as AdamW) instead of through the gradient",
)
_FIXED_DECAY = Hyperparameter(
    "fixed_decay", False, kind="bool",
    description="decoupled decay param *= 1 - weight_decay, not scaled by the learning rate",
)
_RECTIFY = Hyperparameter(
    "rectify", False, kind="bool", description="RAdam's rectified step (pytorch_optimizer's)",
)
_N_SMA_THRESHOLD = Hyperparameter(
    "n_sma_threshold", 5, kind="int", minimum=0.0,
    description="rectify: the length N_sma of the moving average from which steps are "
    "rectified; before it, see degenerated_to_sgd",
)


_SCHEDULE_FREE_SHARED = (
    Hyperparameter("warmup_steps", 0, kind="int", minimum=0.0,
                   description="linear warm-up: update k uses lr * min(1, k / warmup_steps)"),
    Hyperparameter("r", 0.0, minimum=0.0,
                   description="polynomial weighting of the average: update k weighs k^r"),
    Hyperparameter("weight_lr_power", 2.0, minimum=0.0,
                   description="the average weighs each update by the largest lr so far to "
                   "this power"),
)


def _degenerated_to_sgd(default: bool) -> Hyperparameter:
    return Hyperparameter(
        "degenerated_to_sgd", default, kind="bool",
        description="rectify: before n_sma_threshold, take SGD steps with momentum (else none)",
    )


_ADAM_FAMILY = (
    _BETAS,
    _eps(1e-8),
    _weight_decay(),
    Hyperparameter("amsgrad", False, kind="bool",
                   description="use the running maximum of the second moment (AMSGrad)"),
)

LBFGS = OptimizerDef(
    name="lbfgs",
    kernel=lbfgs.lbfgs_step,
    columns=lbfgs.LBFGS,
    closure=True,
    hyperparameters=(
        Hyperparameter("max_iter", 20, kind="int", minimum=1.0, maximum=10_000.0,
                       description="most iterations (direction and step) within one step"),
        Hyperparameter("max_eval", None, kind="int", minimum=1.0, maximum=12_500.0,
                       nullable=True,
                       description="most objective evaluations within one step (null: "
                       "max_iter * 5 // 4)"),
        Hyperparameter("tolerance_grad", 1e-7, minimum=0.0,
                       description="a step ends (or does nothing) once the gradient's largest "
                       "absolute entry is at most this"),
        Hyperparameter("tolerance_change", 1e-9, minimum=0.0,
                       description="a step ends once the loss or the parameters change by less "
                       "than this in an iteration, or the directional derivative is above "
                       "-tolerance_change"),
        Hyperparameter("history_size", 100, kind="int", minimum=1.0, maximum=1000.0,
                       description="curvature pairs (s, y) kept for the inverse-Hessian "
                       "estimate"),
        Hyperparameter("line_search_fn", None, kind="choice", choices=("strong_wolfe",),
                       nullable=True,
                       description="null: fixed steps of lr along each direction; "
                       "\"strong_wolfe\": a line search for a step meeting the strong Wolfe "
                       "conditions, starting at lr"),
    ),
    state_slots=0,  # as many as the history needs: engine.optimizers.lbfgs.init_state
    default_lr=1.0,
    description="L-BFGS (torch.optim.LBFGS, torch 2.13): one step is one "
    "optimizer.step(closure), up to max_iter iterations and max_eval objective evaluations "
    "(final.function_evaluations counts them); a mini-batch step's evaluations all use the "
    "step's batch, as torch's closure does",
    start_state=lbfgs.init_state,
    state_size=lbfgs.state_size,
    momentum_column=None,
)

NEWTON = OptimizerDef(
    name="newton",
    kernel=newton.newton_update,
    columns=newton.NEWTON,
    closure=True,
    needs_hessian=True,
    reports=(("hessian", newton.hessian_report),),
    hyperparameters=(
        Hyperparameter("damping", 0.0, minimum=0.0,
                       description="lambda added to the Hessian's diagonal: the step solves "
                       "(H + lambda I) p = grad (0: the exact Newton step; large: gradient "
                       "descent with learning rate lr / lambda)"),
    ),
    state_slots=newton.STATE_SLOTS,
    state_size=newton.state_size,
    default_lr=1.0,
    description="Newton's method, params -= lr * (H + damping I)^-1 grad with the exact "
    "Hessian (beyond torch: the analytic method as an optimizer, for objectives with an exact "
    "Hessian); each step's H + damping I is classified positive definite, indefinite or "
    "singular (then the least-norm step), counted in final.hessian",
    momentum_column=None,
)

MUON = OptimizerDef(
    name="muon",
    kernel=muon.muon_update,
    columns=muon.MUON,
    needs_matrices=True,
    hyperparameters=(
        Hyperparameter("momentum", 0.95, minimum=0.0,
                       description="Muon: momentum factor, buf = lerp(buf, grad, 1 - momentum)"),
        Hyperparameter("nesterov", True, kind="bool",
                       description="Muon: orthogonalise lerp(grad, buf, momentum) instead of "
                       "buf"),
        _weight_decay("Muon: decoupled weight decay of the matrices, param *= 1 - lr * "
                      "weight_decay", 0.1),
        _eps(1e-7, "Muon: lower bound of the norm the matrix is divided by before the "
             "Newton-Schulz iteration"),
        Hyperparameter("ns_steps", 5, kind="int", minimum=0.0, maximum=99.0,
                       description="Muon: Newton-Schulz iterations (coefficients 3.4445, "
                       "-4.7750, 2.0315, torch's)"),
        Hyperparameter("adjust_lr_fn", "original", kind="choice",
                       choices=("original", "match_rms_adamw"),
                       description="Muon: the matrix's step is lr * sqrt(max(1, A / B)) "
                       "(original) or lr * 0.2 * sqrt(max(A, B)) (match_rms_adamw), for "
                       "torch's weight of shape A x B (outputs x inputs)"),
        Hyperparameter("adamw_lr", None, minimum=0.0, nullable=True,
                       description="AdamW (the biases): learning rate, following the schedule "
                       "in proportion (null: the job's learning rate)"),
        Hyperparameter("adamw_betas", (0.9, 0.999), kind="pair",
                       parts=("adamw_beta1", "adamw_beta2"), minimum=0.0, maximum=1.0,
                       exclusive_maximum=True,
                       description="AdamW (the biases): decay rates (beta1, beta2) of the "
                       "running averages of the gradient and of its square"),
        Hyperparameter("adamw_eps", 1e-8, minimum=0.0,
                       description="AdamW (the biases): added to the denominator"),
        Hyperparameter("adamw_weight_decay", 1e-2, minimum=0.0,
                       description="AdamW (the biases): decoupled weight decay, param *= 1 - "
                       "lr * weight_decay"),
    ),
    state_slots=muon.STATE_SLOTS,
    default_lr=1e-3,
    description="Muon (torch.optim.Muon, torch 2.13) on the model's 2-D weight matrices "
    "(softmax_regression's W, mlp's W1 and W2): momentum, then the update orthogonalised by a "
    "Newton-Schulz iteration in bfloat16; the other tensors (the biases) by torch.optim.AdamW "
    "with the adamw_* hyperparameters, as torch's documentation advises. Only for models with "
    "weight matrices",
    start_state=muon.init_state,
    momentum_column=muon.MUON.momentum,
)

OPTIMIZERS: dict[str, OptimizerDef] = {
    defn.name: defn
    for defn in (
        OptimizerDef(
            name="sgd",
            kernel=kernels.sgd_update,
            columns=kernels.SGD,
            hyperparameters=(
                Hyperparameter("momentum", 0.0, minimum=0.0, description="momentum factor"),
                Hyperparameter("dampening", 0.0,
                               description="dampening for momentum: the new gradient enters "
                               "the buffer with weight 1 - dampening (from the second step on)"),
                Hyperparameter("nesterov", False, kind="bool",
                               description="Nesterov momentum (needs momentum > 0 and "
                               "dampening = 0)"),
                _weight_decay(),
            ),
            state_slots=2,
            default_lr=1e-3,
            description="stochastic gradient descent, optionally with (Nesterov) momentum "
            "(torch.optim.SGD)",
            momentum_column=kernels.SGD.momentum,
        ),
        OptimizerDef(
            name="adam",
            kernel=kernels.adam_update,
            columns=kernels.ADAM,
            hyperparameters=_ADAM_FAMILY,
            state_slots=3,
            default_lr=1e-3,
            description="Adam (torch.optim.Adam)",
            momentum_column=kernels.ADAM.beta1,
        ),
        OptimizerDef(
            name="adamw",
            kernel=kernels.adamw_update,
            columns=kernels.ADAMW,
            hyperparameters=(
                _BETAS,
                _eps(1e-8),
                _weight_decay("decoupled weight decay: param *= 1 - lr * weight_decay", 1e-2),
                _ADAM_FAMILY[3],
            ),
            state_slots=3,
            default_lr=1e-3,
            description="Adam with decoupled weight decay (torch.optim.AdamW)",
            momentum_column=kernels.ADAMW.beta1,
        ),
        OptimizerDef(
            name="rmsprop",
            kernel=kernels.rmsprop_update,
            columns=kernels.RMSPROP,
            hyperparameters=(
                Hyperparameter("alpha", 0.99, minimum=0.0,
                               description="smoothing constant of the squared-gradient average"),
                _eps(1e-8),
                _weight_decay(),
                Hyperparameter("momentum", 0.0, minimum=0.0, description="momentum factor"),
                Hyperparameter("centered", False, kind="bool",
                               description="normalise by the estimated variance of the gradient "
                               "instead of its second moment"),
            ),
            state_slots=3,
            default_lr=1e-2,
            description="RMSprop (torch.optim.RMSprop)",
            momentum_column=kernels.RMSPROP.momentum,
        ),
        OptimizerDef(
            name="adagrad",
            kernel=kernels.adagrad_update,
            columns=kernels.ADAGRAD,
            hyperparameters=(
                Hyperparameter("lr_decay", 0.0, minimum=0.0,
                               description="learning-rate decay: update t uses "
                               "lr / (1 + (t - 1) * lr_decay)"),
                _weight_decay(),
                Hyperparameter("initial_accumulator_value", 0.0, minimum=0.0,
                               description="starting value of the sum of squared gradients"),
                _eps(1e-10),
            ),
            state_slots=1,
            default_lr=1e-2,
            description="Adagrad (torch.optim.Adagrad)",
            start_state=_adagrad_state,
            momentum_column=None,
        ),
        OptimizerDef(
            name="adadelta",
            kernel=kernels.adadelta_update,
            columns=kernels.ADADELTA,
            hyperparameters=(
                Hyperparameter("rho", 0.9, minimum=0.0, maximum=1.0,
                               description="decay rate of the running averages"),
                _eps(1e-6),
                _weight_decay(),
            ),
            state_slots=2,
            default_lr=1.0,
            description="Adadelta (torch.optim.Adadelta); the learning rate scales the delta "
            "and defaults to 1.0",
            momentum_column=None,
        ),
        OptimizerDef(
            name="adamax",
            kernel=kernels.adamax_update,
            columns=kernels.ADAMAX,
            hyperparameters=(_BETAS, _eps(1e-8), _weight_decay()),
            state_slots=2,
            default_lr=2e-3,
            description="Adamax, Adam with the infinity norm (torch.optim.Adamax)",
            momentum_column=kernels.ADAMAX.beta1,
        ),
        OptimizerDef(
            name="nadam",
            kernel=kernels.nadam_update,
            columns=kernels.NADAM,
            hyperparameters=(
                _BETAS,
                _eps(1e-8),
                _weight_decay(),
                Hyperparameter("momentum_decay", 4e-3, minimum=0.0,
                               description="momentum decay psi of the Nesterov schedule "
                               "mu_t = beta1 * (1 - 0.5 * 0.96^(t * psi))"),
                _DECOUPLED,
            ),
            state_slots=3,
            default_lr=2e-3,
            description="Adam with Nesterov momentum (torch.optim.NAdam)",
            start_state=_nadam_state,
            momentum_column=kernels.NADAM.beta1,
        ),
        OptimizerDef(
            name="radam",
            kernel=kernels.radam_update,
            columns=kernels.RADAM,
            hyperparameters=(_BETAS, _eps(1e-8), _weight_decay(), _DECOUPLED),
            state_slots=2,
            default_lr=1e-3,
            description="rectified Adam (torch.optim.RAdam)",
            momentum_column=kernels.RADAM.beta1,
        ),
        OptimizerDef(
            name="rprop",
            kernel=kernels.rprop_update,
            columns=kernels.RPROP,
            hyperparameters=(
                Hyperparameter("etas", (0.5, 1.2), kind="pair", parts=("etaminus", "etaplus"),
                               minimum=0.0,
                               exclusive_minimum=True,
                               description="(etaminus, etaplus): the step size's factors when "
                               "the gradient's sign flips or holds (0 < etaminus < 1 < "
                               "etaplus)"),
                Hyperparameter("step_sizes", (1e-6, 50.0), kind="pair",
                               parts=("step_size_min", "step_size_max"), minimum=0.0,
                               description="(minimal, maximal) step size"),
            ),
            state_slots=2,
            default_lr=1e-2,
            description="resilient backpropagation: per-coordinate step sizes that grow while "
            "the gradient's sign holds and shrink when it flips; the learning rate is the "
            "first step size (torch.optim.Rprop)",
            momentum_column=None,
        ),
        OptimizerDef(
            name="asgd",
            kernel=kernels.asgd_update,
            columns=kernels.ASGD,
            hyperparameters=(
                Hyperparameter("lambd", 1e-4, minimum=0.0,
                               description="decay term: each update first scales the "
                               "parameters by 1 - lambd * eta"),
                Hyperparameter("alpha", 0.75, minimum=0.0,
                               description="power of the step size's decay eta = lr / (1 + "
                               "lambd * lr * t)^alpha"),
                Hyperparameter("t0", 1e6, minimum=0.0,
                               description="the step from which the parameters are averaged "
                               "(the average's weight is 1 / max(1, t - t0))"),
                _weight_decay(),
            ),
            state_slots=3,
            default_lr=1e-2,
            description="averaged stochastic gradient descent: SGD with a decaying step size "
            "and a running average of the iterates from step t0 on, reported as "
            "final.averaged_params (torch.optim.ASGD, torch 2.13)",
            momentum_column=None,
            reported_state=(("averaged_params", 0),),
        ),
        OptimizerDef(
            name="adafactor",
            kernel=per_tensor.adafactor_update,
            columns=per_tensor.ADAFACTOR,
            hyperparameters=(
                Hyperparameter("beta2_decay", -0.8, maximum=0.0,
                               description="the second moment's averaging weight is "
                               "t^beta2_decay at step t"),
                Hyperparameter("eps", (EPS_FLOAT64, 1e-3), kind="pair", parts=("eps1", "eps2"),
                               minimum=0.0,
                               description="(eps1, eps2): eps1 bounds the second moment from "
                               "below (torch's None is float64's machine epsilon), eps2 the "
                               "relative step size"),
                Hyperparameter("d", 1.0, minimum=1.0,
                               description="clipping threshold of the update's RMS"),
                _weight_decay("decoupled weight decay: param *= 1 - lr * weight_decay"),
            ),
            state_slots=6,
            default_lr=1e-2,
            description="Adafactor: steps relative to each tensor's RMS, the second moment of "
            "every matrix factored into row and column averages (torch.optim.Adafactor, "
            "torch 2.13; maximize is not offered)",
            start_state=_layout_state(6),
            momentum_column=None,
        ),
        OptimizerDef(
            name="lion",
            kernel=elementwise_references.lion_update,
            columns=elementwise_references.LION,
            hyperparameters=(
                Hyperparameter("betas", (0.9, 0.99), kind="pair", parts=("beta1", "beta2"),
                               minimum=0.0, maximum=1.0,
                               description="(beta1, beta2): beta1 mixes the gradient into the "
                               "update's sign, beta2 is the momentum's decay"),
                _weight_decay("decoupled weight decay: param *= 1 - lr * weight_decay"),
                Hyperparameter("decoupled_weight_decay", False, kind="bool",
                               description="divide weight_decay by the learning rate given "
                               "(the base learning_rate), so the decay follows a schedule's "
                               "ratio only"),
            ),
            state_slots=2,
            default_lr=1e-4,
            description="Lion, the sign of an interpolated momentum (lion_pytorch.Lion, "
            "lion-pytorch 0.2.5)",
            start_state=_lion_state,
            momentum_column=elementwise_references.LION.beta1,
        ),
        OptimizerDef(
            name="adabelief",
            kernel=elementwise_references.adabelief_update,
            columns=elementwise_references.ADABELIEF,
            hyperparameters=(
                _REFERENCE_BETAS,
                _weight_decay("weight decay: decoupled (param *= 1 - lr * weight_decay) or "
                              "added to the gradient, as weight_decouple says"),
                _WEIGHT_DECOUPLE,
                _FIXED_DECAY,
                _RECTIFY,
                _N_SMA_THRESHOLD,
                _degenerated_to_sgd(True),
                Hyperparameter("ams_bound", False, kind="bool",
                               description="use the running maximum of the second moment"),
                _eps(1e-16),
            ),
            state_slots=3,
            default_lr=1e-3,
            description="AdaBelief: Adam with the variance of the gradient around its "
            "average in the denominator (pytorch_optimizer.AdaBelief, pytorch-optimizer 4.1.0)",
            momentum_column=elementwise_references.ADABELIEF.beta1,
        ),
        OptimizerDef(
            name="lamb",
            kernel=per_tensor.lamb_update,
            columns=per_tensor.LAMB,
            hyperparameters=(
                _REFERENCE_BETAS,
                _weight_decay("weight decay: decoupled (param *= 1 - lr * weight_decay) or "
                              "added to the update, as weight_decouple says"),
                _WEIGHT_DECOUPLE,
                _FIXED_DECAY,
                _RECTIFY,
                _degenerated_to_sgd(False),
                _N_SMA_THRESHOLD,
                Hyperparameter("grad_averaging", True, kind="bool",
                               description="the gradient enters the first moment with weight "
                               "1 - beta1 (else 1)"),
                Hyperparameter("max_grad_norm", 1.0, minimum=0.0,
                               description="pre_norm: the global gradient norm the gradients "
                               "are scaled down to (0: no scaling)"),
                Hyperparameter("adam", False, kind="bool",
                               description="trust ratio 1: plain Adam steps"),
                Hyperparameter("pre_norm", False, kind="bool",
                               description="scale the gradients by min(1, max_grad_norm / "
                               "global norm) first (computed in float32, as the reference "
                               "does)"),
                _eps(1e-6),
            ),
            state_slots=5,
            default_lr=1e-3,
            description="LAMB: Adam steps scaled per parameter tensor by the trust ratio "
            "‖param‖ / ‖update‖ (pytorch_optimizer.Lamb, pytorch-optimizer 4.1.0)",
            start_state=_layout_state(5),
            momentum_column=per_tensor.LAMB.beta1,
        ),
        LBFGS,
        MUON,
        OptimizerDef(
            name="adamw_schedulefree",
            kernel=schedule_free.adamw_schedulefree_step,
            columns=schedule_free.ADAMW_SCHEDULEFREE,
            closure=True,
            hyperparameters=(
                _REFERENCE_BETAS,
                _eps(1e-8),
                _weight_decay("L2 penalty added to the normalised gradient: weight_decay * y"),
                *_SCHEDULE_FREE_SHARED,
            ),
            state_slots=5,
            default_lr=0.0025,
            description="Schedule-Free AdamW: the gradient at an interpolation y of the "
            "average x and the Adam iterate z; the trajectory is x, the reference's eval-mode "
            "point, and its loss (schedulefree.AdamWScheduleFree, schedulefree 1.4.1)",
            start_state=schedule_free.init_state(5),
            momentum_column=None,
        ),
        OptimizerDef(
            name="sgd_schedulefree",
            kernel=schedule_free.sgd_schedulefree_step,
            columns=schedule_free.SGD_SCHEDULEFREE,
            closure=True,
            hyperparameters=(
                Hyperparameter("momentum", 0.9, minimum=0.0, maximum=1.0,
                               exclusive_minimum=True, exclusive_maximum=True,
                               description="interpolation weight beta of y between the "
                               "average x and the SGD iterate z"),
                _weight_decay("L2 penalty added to the gradient: weight_decay * y"),
                *_SCHEDULE_FREE_SHARED,
            ),
            state_slots=4,
            default_lr=1.0,
            description="Schedule-Free SGD: the gradient at an interpolation y of the average "
            "x and the SGD iterate z; the trajectory is x, the reference's eval-mode point, and "
            "its loss (schedulefree.SGDScheduleFree, schedulefree 1.4.1)",
            start_state=schedule_free.init_state(4),
            momentum_column=None,
        ),
        NEWTON,
    )
}

ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "gd": ("sgd", {}),
    "momentum": ("sgd", {"momentum": 0.9}),
    "nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}),
}


def _known_names() -> str:
    return ", ".join([*OPTIMIZERS, *ALIASES])


def _check_number(field: str, value: Any, hyper: Hyperparameter, what: str = "") -> float:
    what = what or hyper.name
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(field, f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise SpecError(field, f"{what} must be finite, got {value!r}")
    if outside(hyper, number):
        raise SpecError(field, f"{what} must be {_range_text(hyper)}, got {value!r}")
    return number


def _check_value(hyper: Hyperparameter, value: Any) -> Any:
    field = f"optimizer.{hyper.name}"
    if value is None and hyper.nullable:
        return None
    if hyper.kind == "choice":
        if value not in hyper.choices:
            allowed = [*hyper.choices, *(["null"] if hyper.nullable else [])]
            raise SpecError(field, f"{hyper.name} must be one of {', '.join(allowed)}, got "
                            f"{value!r}")
        return value
    if hyper.kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(field, f"{hyper.name} must be true or false, got {value!r}")
        return value
    if hyper.kind == "pair":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise SpecError(field, f"{hyper.name} must be a list of two numbers, got {value!r}")
        return [
            _check_number(field, item, hyper, f"{hyper.name}[{index}]")
            for index, item in enumerate(value)
        ]
    if hyper.kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(field, f"{hyper.name} must be an integer, got {value!r}")
        return int(_check_number(field, value, hyper))
    return _check_number(field, value, hyper)


def _check_combination(name: str, values: dict[str, Any]) -> None:
    """Checks torch makes across hyperparameters."""
    if name == "rprop" and not values["etas"][0] < 1.0 < values["etas"][1]:
        raise SpecError("optimizer.etas", "etas must be (etaminus, etaplus) with 0 < etaminus "
                        f"< 1 < etaplus, got {values['etas']!r}")
    if name == "sgd" and values["nesterov"] and (
        values["momentum"] <= 0 or values["dampening"] != 0
    ):
        raise SpecError(
            "optimizer.nesterov",
            "Nesterov momentum requires momentum > 0 and dampening = 0, got momentum="
            f"{values['momentum']!r} and dampening={values['dampening']!r}",
        )


def resolve_optimizer(config: str | dict[str, Any]) -> tuple[OptimizerDef, dict[str, Any]]:
    """The family and every hyperparameter (defaults filled) for the spec's ``optimizer``.

    ``config`` is a name (``"adam"``, an alias such as ``"nesterov"``) or an object
    ``{"name": ..., **hyperparameters}``. The returned dict holds the canonical family name
    under ``"name"`` and each hyperparameter as a plain JSON value (a pair as a list).
    Raises ``SpecError("optimizer", ...)`` for an unknown name and
    ``SpecError("optimizer.<hyperparameter>", ...)`` for a bad or unknown hyperparameter.
    """
    if isinstance(config, str):
        name, given = config, {}
    elif isinstance(config, dict):
        if "name" not in config:
            raise SpecError("optimizer.name", f"is required (one of: {_known_names()})")
        name = config["name"]
        given = {key: value for key, value in config.items() if key != "name"}
    else:
        raise SpecError("optimizer", f"must be a name or an object with a name, got {config!r}")
    if not isinstance(name, str):
        raise SpecError("optimizer.name", f"must be a string, got {name!r}")
    key = name.strip().lower()
    preset: dict[str, Any] = {}
    if key in ALIASES:
        key, preset = ALIASES[key]
    if key in NOT_APPLICABLE:
        raise SpecError("optimizer", f"{key} is not applicable here: {NOT_APPLICABLE[key]}")
    if key not in OPTIMIZERS:
        raise SpecError("optimizer", f"unknown optimizer {name!r}; known: {_known_names()}")
    defn = OPTIMIZERS[key]
    declared = {hyper.name: hyper for hyper in defn.hyperparameters}
    for unknown in given:
        if unknown not in declared:
            hint = (" (set the top-level learning_rate instead)"
                    if unknown in ("lr", "learning_rate") else "")
            raise SpecError(
                f"optimizer.{unknown}",
                f"{defn.name} has no hyperparameter {unknown!r}{hint}; it has: "
                f"{', '.join(declared)}",
            )
    values: dict[str, Any] = {"name": defn.name}
    for hyper in defn.hyperparameters:
        if hyper.name in given:
            values[hyper.name] = _check_value(hyper, given[hyper.name])
        elif hyper.name in preset:
            values[hyper.name] = _check_value(hyper, preset[hyper.name])
        else:
            values[hyper.name] = list(hyper.default) if hyper.kind == "pair" else hyper.default
    _check_combination(defn.name, values)
    return defn, values


def hyper_labels(defn: OptimizerDef) -> list[str]:
    """The label of each column of the hyper row as the spec spells it (a pair ``betas`` gives
    ``betas[0]``, ``betas[1]``); the kernel's names for them are ``defn.columns``
    (``engine.optimizers.base.hyper_columns``)."""
    columns: list[str] = []
    for hyper in defn.hyperparameters:
        if hyper.kind == "pair":
            columns += [f"{hyper.name}[0]", f"{hyper.name}[1]"]
        else:
            columns.append(hyper.name)
    return columns


def hyper_row(defn: OptimizerDef, values: dict[str, Any]) -> np.ndarray:
    """The kernel's hyperparameter row, shape ``(H,)``: floats, booleans as 0/1, a pair as two
    columns, a choice as its 1-based position, null as nan (a choice: 0), in declaration order.
    ``values`` as returned by ``resolve_optimizer``."""
    row: list[float] = []
    for hyper in defn.hyperparameters:
        value = values[hyper.name]
        if hyper.kind == "choice":
            row.append(0.0 if value is None else float(hyper.choices.index(value) + 1))
        elif value is None:
            row.append(math.nan)
        elif hyper.kind == "pair":
            row += [float(value[0]), float(value[1])]
        else:
            row.append(float(value))
    return np.array(row, dtype=np.float64)


def _range_text(hyper: Hyperparameter) -> str:
    if hyper.kind == "bool":
        return "true or false"
    nullable = " or null" if hyper.nullable else ""
    if hyper.kind == "choice":
        return f"one of {', '.join(hyper.choices)}{nullable}"
    return f"in {interval_text(hyper)}{nullable}"


NOT_APPLICABLE = {
    "sparse_adam": "torch.optim.SparseAdam updates only the entries a sparse gradient touches "
                   "(embedding tables); every objective here has dense parameters and gradients, "
                   "for which its dense form is adam",
}
"""torch.optim's optimizers that do not apply to dense parameters: listed, and refused by name."""


def describe_optimizers() -> list[dict[str, Any]]:
    """Every family for ``GET /v1/optimizers``: name, description, aliases (with the
    hyperparameters each sets), default learning rate, and each hyperparameter's name, type,
    default, range and description; then torch's optimizers that do not apply here
    (``applicable: false``, the reason as the description)."""
    described = []
    for defn in OPTIMIZERS.values():
        described.append({
            "name": defn.name,
            "applicable": True,
            "description": defn.description,
            "aliases": [
                {"name": alias, "sets": dict(preset)}
                for alias, (target, preset) in ALIASES.items()
                if target == defn.name
            ],
            "default_learning_rate": defn.default_lr,
            "cycles_momentum": defn.momentum_column is not None,
            "hyperparameters": [
                {
                    "name": hyper.name,
                    "type": hyper.kind,
                    "default": list(hyper.default) if hyper.kind == "pair" else hyper.default,
                    "minimum": hyper.minimum,
                    "maximum": hyper.maximum,
                    "exclusive_minimum": hyper.exclusive_minimum,
                    "exclusive_maximum": hyper.exclusive_maximum,
                    "range": _range_text(hyper),
                    "description": hyper.description,
                    **({"nullable": True} if hyper.nullable else {}),
                    **({"choices": list(hyper.choices)} if hyper.choices else {}),
                }
                for hyper in defn.hyperparameters
            ],
        })
    described += [{"name": name, "applicable": False, "description": reason, "aliases": [],
                   "default_learning_rate": None, "cycles_momentum": False,
                   "hyperparameters": []} for name, reason in NOT_APPLICABLE.items()]
    return described
