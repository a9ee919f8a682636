"""The peer: the same CNN and GC in PyTorch, timed against the package default in one run.

Run from the repository root (PyTorch from the `bench` extra: `pip install -e ".[bench]"`):

    python benchmarks/peer_pytorch.py [--steps 6] [--configurations eager-channels_last ...]

The model is the Keras example's CNN layer for layer (`gc_tutorial.model`), with the same
parameter count (1,704,097 at 300x300x3; checked against Keras's model). GC is applied the
way the paper's code does it (`centralized_gradient` in Yonghongwei/Gradient-Centralization):
inside the optimizer's step, every parameter gradient with more than one dimension loses its
mean over all dimensions but the first, PyTorch's output axis ((out, in, kh, kw) for a
convolution, (out, in) for a linear layer). The optimizer is RMSprop with Keras's settings
(lr 1e-4, rho 0.9, epsilon 1e-7), batch 128, one fixed in-memory batch.

Each configuration runs in its own process with its own environment: eager PyTorch in NCHW
and in channels_last memory format, each with or without glibc allocator variables that stop
PyTorch from handing its freed activations back to the operating system after each step
(MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=-1), and channels_last with
them but without GC (`-plain`); torch.compile in channels_last, without those variables
(`compile-channels_last`), runs only when named in --configurations. The package default
(throughput.py's `default`: Keras + TensorFlow + GCRMSprop, exactly what `run_comparison`
runs) is timed in the same run, and each row is given as its ratio.
"""

from __future__ import annotations

import json
import os
import resource
from types import SimpleNamespace

from common import (
    check_output,
    load_average,
    median_seconds,
    peak_rss_mib,
    print_table,
    run_worker,
    worker_parser,
    write_results,
)
from throughput import ALLOCATOR
from throughput import run_configuration as run_keras_configuration

KERAS_PARAMETERS_AT_300 = 1_704_097
EAGER_NCHW = {"channels_last": False, "compile": False, "allocator": False, "gc": True}
CONFIGURATIONS = {
    "eager-nchw": EAGER_NCHW,
    "eager-channels_last": EAGER_NCHW | {"channels_last": True},
    "eager-nchw+allocator": EAGER_NCHW | {"allocator": True},
    "eager-channels_last+allocator": EAGER_NCHW | {"channels_last": True, "allocator": True},
    "eager-channels_last+allocator-plain": EAGER_NCHW
    | {"channels_last": True, "allocator": True, "gc": False},
    "compile-channels_last": EAGER_NCHW | {"channels_last": True, "compile": True},
}
DEFAULT_CONFIGURATIONS = [name for name in CONFIGURATIONS if not name.startswith("compile")]


def centralized_gradient(gradient):
    """The paper's GC on a PyTorch gradient: minus its mean over all dims but 0, if dim > 1."""
    if gradient.dim() > 1:
        gradient.add_(-gradient.mean(dim=tuple(range(1, gradient.dim())), keepdim=True))
    return gradient


def rmsprop_gc_class():
    """torch.optim.RMSprop whose step centralizes the gradients first, as the paper's
    optimizers (SGD_GC, Adam_GC, ...) do at the top of theirs."""
    import torch

    class RMSpropGC(torch.optim.RMSprop):
        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for parameter in group["params"]:
                    if parameter.grad is not None:
                        centralized_gradient(parameter.grad)
            return super().step(closure)

    return RMSpropGC


def build_torch_model(image_size: int):
    """The Keras example's CNN in PyTorch, pooling where `gc_tutorial.model` pools."""
    from torch import nn

    from gc_tutorial.model import CONV_FILTERS, DROPOUT_AFTER_CONV, pooled_convolutions

    stack, channels, size = [], 3, image_size
    for index, (filters, pool) in enumerate(zip(CONV_FILTERS, pooled_convolutions(image_size))):
        stack += [nn.Conv2d(channels, filters, 3), nn.ReLU()]
        size -= 2
        if index in DROPOUT_AFTER_CONV:
            stack.append(nn.Dropout(0.5))
        if pool:
            stack.append(nn.MaxPool2d(2, 2))
            size //= 2
        channels = filters
    stack += [nn.Flatten(), nn.Dropout(0.5), nn.Linear(channels * size * size, 512), nn.ReLU()]
    stack.append(nn.Linear(512, 1))  # the sigmoid is in the loss (BCEWithLogitsLoss)
    return nn.Sequential(*stack)


def keras_parameter_count(image_size: int) -> int:
    from gc_tutorial.model import build_model

    return build_model((image_size, image_size, 3)).count_params()


def worker(name: str, steps: int, image_size: int, batch_size: int) -> dict:
    """One configuration, in this process."""
    import torch

    config = CONFIGURATIONS[name]
    torch.manual_seed(0)
    model = build_torch_model(image_size)
    parameters = sum(p.numel() for p in model.parameters())
    generator = torch.Generator().manual_seed(0)
    images = torch.rand((batch_size, 3, image_size, image_size), generator=generator)
    labels = torch.randint(0, 2, (batch_size, 1), generator=generator).float()
    if config["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    optimizer_class = rmsprop_gc_class() if config["gc"] else torch.optim.RMSprop
    optimizer = optimizer_class(model.parameters(), lr=1e-4, alpha=0.9, eps=1e-7)
    loss_function = torch.nn.BCEWithLogitsLoss()
    forward = torch.compile(model) if config["compile"] else model
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_function(forward(images), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    first_step, _ = median_seconds(step, 1)
    step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    seconds, times = median_seconds(step, steps)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps
    return {
        "configuration": name,
        **config,
        "parameters": parameters,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "first_step_s": first_step,
        "step_s": seconds,
        "step_times_s": times,
        "images_per_s": batch_size / seconds,
        "page_faults_per_step": faults,
        "peak_rss_mib": peak_rss_mib(),
    }


def run_configuration(name: str, args) -> dict:
    env = {**os.environ, **(ALLOCATOR if CONFIGURATIONS[name]["allocator"] else {})}
    return run_worker(__file__, name, args, env, {"configuration": name})


def main(argv=None) -> dict:
    parser = worker_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--configurations", nargs="+", choices=list(CONFIGURATIONS), default=DEFAULT_CONFIGURATIONS
    )
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.image_size, args.batch_size)))
        return {}
    check_output(parser, "peer_pytorch", args.output)
    expected = keras_parameter_count(args.image_size)
    if args.image_size == 300 and expected != KERAS_PARAMETERS_AT_300:
        raise RuntimeError(f"Keras's model has {expected} parameters at 300x300, not 1,704,097.")
    print(f"running the package default (Keras + TensorFlow) ... (load {load_average()})")
    keras_args = SimpleNamespace(**{**vars(args), "timeout": args.timeout})
    reference = run_keras_configuration("default", keras_args)
    if "error" in reference:
        raise RuntimeError(f"the package default failed: {reference['error']}")
    rows = []
    for name in args.configurations:
        print(f"running {name} ... (load {load_average()})", flush=True)
        row = run_configuration(name, args)
        if "error" not in row:
            if row["parameters"] != expected:
                raise RuntimeError(
                    f"PyTorch's model has {row['parameters']} parameters, Keras's {expected}."
                )
            row["step_over_package_default"] = row["step_s"] / reference["step_s"]
        rows.append(row)
    print(f"\npackage default (Keras + TensorFlow + GCRMSprop): {reference['step_s']:.3g} s/step")
    columns = ["configuration", "first_step_s", "step_s", "images_per_s"]
    columns += ["step_over_package_default", "page_faults_per_step", "peak_rss_mib", "error"]
    print_table(rows, columns)
    print(f"load average at the end: {load_average()}")
    write_results(
        "peer_pytorch",
        {
            "parameters": vars(args),
            "model_parameters": expected,
            "package_default": reference,
            "rows": rows,
            "load_average_end": load_average(),
        },
        args.output,
    )
    return {"rows": rows, "package_default": reference}


if __name__ == "__main__":
    main()
