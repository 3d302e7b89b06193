"""The compiled-kernel contract every objective and optimizer implements.

The run loop (``engine/loop.py``) is one numba-compiled function. Objectives and optimizers
are handed to it as *first-class functions* of a fixed signature, so the loop is compiled
once (and cached on disk) no matter how many objectives or optimizers exist: numba types an
``njit`` dispatcher with one explicit signature as ``FunctionType(signature)`` and calls it
through a pointer. A kernel is also callable from plain Python with NumPy arrays.

Shapes follow DESIGN.md: a leading run axis R. Every array is float64 and C-contiguous.

Objective kernel ``(x, consts, data, batch, loss_out, grad_out) -> None``
    x         (R, d)  the points (one per run)
    consts    (C,)    the function's own constants (a, b, A, a flattened matrix, ...)
    data      (n, m)  dataset models: one sample per row (features then target); (0, 0) otherwise
    batch     (b,)    int64 sample indices this evaluation averages over; analytic functions ignore it
    loss_out  (R,)    written: the loss at each point (the mean over ``batch`` for dataset models)
    grad_out  (R, d)  written: the gradient at each point

Optimizer kernel ``(params, grads, state, hyper, step, lr) -> None``
    params  (R, d)     updated in place (no per-step allocation)
    grads   (R, d)     the gradient at ``params`` (read only)
    state   (S, R, d)  the optimizer's buffers (S slots), updated in place
    hyper   (R, H)     hyperparameters per run, in the order the optimizer declares them
    step    int64      the 1-based number of this update (torch's ``state["step"]`` after +1)
    lr      (R,)       the learning rate of this update, per run

Hessian kernel ``(x, consts, data, batch, hess_out) -> None``
    x, consts, data, batch  as for the objective kernel
    hess_out  (R, d, d)  written: the exact Hessian at each point

Closure optimizer kernel ``(objective, hessian, consts, data, batch, params, grads, loss, state,
hyper, step, lr, evaluations) -> None``, for optimizers that evaluate the objective themselves
within one step (L-BFGS's line search, Newton's Hessian; /work/coord/CLOSURE.md, docs/spec.md
§4.1): ``objective``/``hessian`` are the kernels above, callable on any C-contiguous rows view
such as ``params[r:r+1]``; ``consts``, ``data``, ``batch`` are what the loop evaluated the step's
loss with (a mini-batch step's closure sees the same batch, as torch's closure does);
``grads``/``loss`` hold the gradient and loss at ``params`` on entry (the loop's own evaluation,
torch's first ``closure()`` inside ``step``) and may be overwritten; ``state``, ``hyper``,
``step``, ``lr`` as for the optimizer kernel; ``evaluations`` (R,) int64: the kernel adds the
objective evaluations it made beyond the loop's own one.
"""

from __future__ import annotations

import math
import weakref

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.core.types.function_type import CompileResultWAP
from numba.core.typing.typeof import typeof_impl
from numba.experimental.function_type import FunctionModel
from numba.extending import NativeValue, intrinsic, register_model, unbox
from numba.np.arrayobj import populate_array

Matrix = types.float64[:, ::1]
Vector = types.float64[::1]
Tensor3 = types.float64[:, :, ::1]
IndexVector = types.int64[::1]

OBJECTIVE_SIGNATURE = types.void(Matrix, Vector, Matrix, IndexVector, Vector, Matrix)
OPTIMIZER_SIGNATURE = types.void(Matrix, Matrix, Tensor3, Matrix, types.int64, Vector)
HESSIAN_SIGNATURE = types.void(Matrix, Vector, Matrix, IndexVector, Tensor3)



class NativeFunctionType(types.FunctionType):
    """numba's first-class function type, for kernels handed over as ``NativeKernel``: the
    argument is unboxed by reading the kernel's address off the object. numba's own unboxing of
    a ``FunctionType`` argument unpickles the signature and calls two Python helpers, ~5 us per
    argument per call of the loop, more than a short run's steps cost."""


register_model(NativeFunctionType)(FunctionModel)


@unbox(NativeFunctionType)
def _unbox_native_function(typ, obj, c):
    function = cgutils.create_struct_proxy(typ)(c.context, c.builder)
    address = c.pyapi.object_getattr_string(obj, "address")
    function.c_addr = c.pyapi.long_as_voidptr(address)
    c.pyapi.decref(address)
    pointer = c.context.get_value_type(types.voidptr)
    function.py_addr = c.builder.ptrtoint(obj, pointer)
    function.jit_addr = cgutils.get_null_value(pointer)  # call through c_addr
    return NativeValue(function._getvalue())


ObjectiveKernel = NativeFunctionType(OBJECTIVE_SIGNATURE)
OptimizerKernel = NativeFunctionType(OPTIMIZER_SIGNATURE)
HessianKernel = NativeFunctionType(HESSIAN_SIGNATURE)
CLOSURE_SIGNATURE = types.void(
    ObjectiveKernel, HessianKernel, Vector, Matrix, IndexVector,  # objective, where
    Matrix, Matrix, Vector, Tensor3, Matrix, types.int64, Vector,  # as an optimizer kernel
    types.int64[::1],  # evaluations
)
ClosureKernel = NativeFunctionType(CLOSURE_SIGNATURE)


def compiled(*signature, **options):
    """``numba.njit`` with the engine's settings: cached on disk, and IEEE division (``x / 0``
    gives inf or nan, as in torch, instead of raising ZeroDivisionError). The division check
    numba inserts by default also keeps LLVM from vectorising a loop that divides."""
    return njit(*signature, cache=True, error_model="numpy", **options)


class NativeKernel(CompileResultWAP):
    """A compiled kernel by address, with its numba type computed once (numba would build it
    again for every call of the loop)."""

    def __init__(self, compile_result) -> None:
        super().__init__(compile_result)
        self.numba_type = NativeFunctionType(compile_result.signature)


@typeof_impl.register(NativeKernel)
def _typeof_native_kernel(value: NativeKernel, context) -> NativeFunctionType:
    return value.numba_type


_native: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def native(kernel):
    """A compiled kernel as the loop takes it: its machine-code address, looked up once.

    Handed a dispatcher, numba looks the address up again on every call of the loop (~0.5 ms
    for the two kernels, more than a short run itself takes). Kernels compiled for a formula
    come and go, hence the weak cache."""
    wrapped = _native.get(kernel)
    if wrapped is None:
        (compiled_kernel,) = kernel.overloads.values()
        wrapped = _native[kernel] = NativeKernel(compiled_kernel)
    return wrapped


@intrinsic
def flat(typingctx, array):
    """A 1-D view of a C-contiguous array, at no cost (numba's ``reshape(-1)`` calls a helper
    that costs ~20 ns, which matters a few times per step).

    Kernels index rows of ``(R, d)`` arrays through it as ``flat(a)[r * dims + i]`` with
    ``dims`` a compile-time constant where they can make it one (``if dims == 2: ...``): LLVM
    then knows the row stride and vectorises the loop over runs, which it cannot do with
    ``a[r, i]`` (whose stride is the runtime ``a.shape[1]``)."""
    if not (isinstance(array, types.Array) and array.layout == "C"):
        return None
    view = array.copy(ndim=1)

    def codegen(context, builder, signature, args):
        source = context.make_array(array)(context, builder, args[0])
        size = context.get_constant(types.intp, 1)
        for extent in cgutils.unpack_tuple(builder, source.shape):
            size = builder.mul(size, extent)
        # An empty asm statement hands back the same pointer, which LLVM can no longer trace to
        # the source array: views of different slots of one state tensor then look like separate
        # arrays, which LLVM vectorises with a runtime overlap check, instead of same-base
        # accesses at an unknown distance, which it handles far worse (2x slower, measured).
        launder = ir.FunctionType(source.data.type, [source.data.type])
        data = builder.asm(launder, "", "=r,0", [source.data], side_effect=False, name="flat")
        result = context.make_array(view)(context, builder)
        populate_array(result, data=data, shape=[size], strides=[source.itemsize],
                       itemsize=source.itemsize, meminfo=source.meminfo, parent=source.parent)
        return impl_ret_borrowed(context, builder, view, result._getvalue())

    return view(array), codegen

@njit(OPTIMIZER_SIGNATURE, cache=True)
def no_update(params, grads, state, hyper, step, lr):  # pragma: no cover - never called
    """The update-kernel slot of a closure optimizer: the loop calls the closure kernel."""


@njit(CLOSURE_SIGNATURE, cache=True)
def no_closure(objective, hessian, consts, data, batch, params, grads, loss, state, hyper,
               step, lr, evaluations):  # pragma: no cover - never called
    """The closure-kernel slot of an ordinary optimizer: the loop calls its update kernel."""


@njit(HESSIAN_SIGNATURE, cache=True)
def no_hessian(x, consts, data, batch, hess_out):  # pragma: no cover - never called
    """The Hessian of an objective that has none: newton on it is refused at validation."""
    hess_out[:] = math.nan


__all__ = [
    "CLOSURE_SIGNATURE",
    "HESSIAN_SIGNATURE",
    "OBJECTIVE_SIGNATURE",
    "OPTIMIZER_SIGNATURE",
    "ClosureKernel",
    "HessianKernel",
    "IndexVector",
    "Matrix",
    "NativeFunctionType",
    "ObjectiveKernel",
    "OptimizerKernel",
    "Tensor3",
    "Vector",
    "compiled",
    "flat",
    "native",
    "no_closure",
    "no_hessian",
    "no_update",
]
