# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. The model
#
# [Open in Colab](https://colab.research.google.com/github/gc-tutorial/gc-tutorial/blob/main/notebooks/02_model.ipynb)
#
# Part 2 of the Gradient Centralization tutorial. We build the small CNN of the Keras example
# "Gradient Centralization for Better Training Performance": five 3x3 convolutions (16, 32, 64,
# 64, 64 filters, ReLU), each followed by 2x2 max-pooling, dropout after the second and third
# convolution and before a 512-unit dense layer, and a sigmoid output for the two classes. At the
# example's 300x300 it is the example's model, layer for layer; below 94x94 it keeps fewer
# poolings (see the end). `gc_tutorial.model.build_model` builds it; the notebooks never
# redefine it.

# %%
# !python -c "import google.colab" 2>/dev/null && pip install -q "gc-tutorial @ git+https://github.com/gc-tutorial/gc-tutorial"

# %% [markdown]
# ## Parameters
# The image size decides the size of the dense layer. With papermill: `-p image_size 300`.

# %% tags=["parameters"]
image_size: int = 300

# %%
from gc_tutorial.parameters import check_parameters

parameters = check_parameters(globals())

# %% [markdown]
# ## Build it and read its summary
# At 300x300x3 the model has 1,704,097 parameters, as in the example; almost all of them
# (1,606,144) are in the dense layer that reads the 7x7x64 feature map. It is built here with
# two output classes, as for horses_or_humans. (In quick mode `image_size` is 16, so the
# summary shows a much smaller model.)

# %%
from gc_tutorial.model import build_model

model = build_model(input_shape=(image_size, image_size, 3), num_classes=2)
model.summary()
print(f"Parameters: {model.count_params():,}")

# %% [markdown]
# ## Which weights will Gradient Centralization touch?
# GC centralizes the gradient of every weight of rank > 1: the four-dimensional convolution
# kernels `(height, width, in, out)` and the two dense kernels `(in, out)`. Biases pass
# unchanged. The output units are always the last axis.

# %%
for weight in model.trainable_weights:
    touched = "centralized" if len(weight.shape) > 1 else "unchanged (rank 1)"
    print(f"{weight.path:<32} {str(tuple(weight.shape)):<20} {touched}")

# %% [markdown]
# ## Smaller images
# Quick runs use small images. Five 3x3 convolutions need at least 11x11 pixels; below 94x94
# `build_model` drops the poolings that would leave too few pixels for the convolutions after
# them, and it says which size is the smallest that works.

# %%
from gc_tutorial.model import pooled_convolutions

for size in (300, 96, 64, 32, 11):
    parameters = build_model(input_shape=(size, size, 3)).count_params()
    print(f"{size:>3} px  poolings kept: {pooled_convolutions(size)}  parameters: {parameters:,}")
try:
    build_model(input_shape=(10, 10, 3))
except ValueError as error:
    print("10x10:", error)
