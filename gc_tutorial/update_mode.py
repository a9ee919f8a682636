"""GC's second mode, opt-in: centralize the update a step makes, not the gradient.

Adaptive optimizers divide each gradient entry by its own running scale, and weight decay adds
a multiple of the weights, so a centralized gradient no longer gives a centralized step. The
authors' code also centralizes the final update (`Adam_GC2`); here `centralize="update"`.
This mode overrides two Keras internals, `_apply_weight_decay` and `_backend_update_step`.
"""

from __future__ import annotations

from gc_tutorial._quiet_tensorflow import load_keras_quietly
from gc_tutorial.centralization import GradientCentralization, centralize_gradient, is_centralized
from gc_tutorial.checks import check_centralize

load_keras_quietly()  # before Keras's first import: TensorFlow's start-up logs stay out
import keras  # noqa: E402
from keras import ops  # noqa: E402


class UpdateCentralization(GradientCentralization):
    """`GradientCentralization` that centralizes the gradient or the update: `centralize=`.

    `centralize="gradient"` (the default, the paper's GC) is `GradientCentralization`. With
    `centralize="update"`, the change one step makes to each weight of rank > 1, weight decay
    included, is centralized: the weight becomes `start + centralize_gradient(new - start)`,
    so each output unit's weight mean stays where it was, whatever the optimizer (and its
    `use_ema` average too). `weight_space_slots` names optimizer state lists that hold
    iterates in weight space, whose changes are centralized as well (`GCScheduleFreeAdamW`).
    """

    weight_space_slots: tuple[str, ...] = ()

    def __init__(self, *args, centralize: str = "gradient", **kwargs):
        check_centralize(centralize)
        super().__init__(*args, **kwargs)
        self.centralize = centralize

    def centralized(self, grads: list) -> list:
        # NumPy gradients become tensors: PyTorch's fused optimizers take nothing else.
        grads = [g if g is None or ops.is_tensor(g) else ops.convert_to_tensor(g) for g in grads]
        return super().centralized(grads) if self.centralize == "gradient" else grads

    def _apply_weight_decay(self, variables):
        # Keras decays the weights just before `_backend_update_step`; in update mode that
        # step applies the decay itself, so that its change is centralized too.
        if self.centralize == "gradient":
            super()._apply_weight_decay(variables)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if self.centralize == "gradient":
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        targets = [
            target
            for variable in trainable_variables
            if is_centralized(variable.shape, self.conv_only)
            for target in self._weight_space_iterates(variable)
        ]
        starts = [ops.copy(ops.stop_gradient(target.value)) for target in targets]
        super()._apply_weight_decay(trainable_variables)
        super()._backend_update_step(grads, trainable_variables, learning_rate)
        self._centralize_updates(targets, starts)

    def _weight_space_iterates(self, variable) -> list:
        index = self._get_variable_index(variable)
        slots = [getattr(self, name)[index] for name in self.weight_space_slots]
        return [variable] + [slot for slot in slots if slot is not None]

    def _centralize_updates(self, targets, starts):
        def centralized(value, start):
            return start + centralize_gradient(ops.stop_gradient(value) - start)

        if keras.backend.backend() != "tensorflow":
            for target, start in zip(targets, starts, strict=True):
                target.assign(centralized(target.value, start))
            return

        # Under tf.distribute the variables are mirrored: update them the way Keras's
        # TensorFlow optimizer does, one device at a time from a merge call.
        import tensorflow as tf

        def assign_centralized(variable, start):
            return variable.assign(centralized(variable, start))

        def update(distribution, pairs):
            for variable, start in pairs:
                distribution.extended.update(
                    variable, assign_centralized, args=(start,), group=False
                )

        pairs = [(target.value, start) for target, start in zip(targets, starts, strict=True)]
        tf.__internal__.distribute.interim.maybe_merge_call(
            update, self._distribution_strategy, pairs
        )

    def get_config(self):
        return {**super().get_config(), "centralize": self.centralize}
