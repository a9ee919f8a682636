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
# # 1. Data preparation
#
# [Open in Colab](https://colab.research.google.com/github/gc-tutorial/gc-tutorial/blob/main/notebooks/01_data.ipynb)
#
# Part 1 of the Gradient Centralization tutorial. We load Laurence Moroney's
# [Horses or Humans](https://www.tensorflow.org/datasets/catalog/horses_or_humans) dataset
# (1,027 training and 256 test images, 300x300 RGB, two classes) with tensorflow-datasets, look
# at it, and look at the augmentations the training set gets.
#
# The same call also takes a folder of class subfolders (your own images), `"digits"` or
# `"synthetic"`, both offline:
#
# - `"digits"` is real data: scikit-learn's 1,797 handwritten digits (8x8 grey scans from UCI,
#   ten classes "0".."9"), shown as RGB and resized. Its stratified 80/20 split is the same for
#   every seed. Quick mode (`GC_TUTORIAL_QUICK=1`, used by the tests; see notebook 4) switches
#   to it. **Do not augment digits**:
#   a flip or a large rotation turns a 6 into a 9 (or a 2 into no digit at all), so the label
#   becomes wrong; quick mode sets `augment=False`.
# - `"synthetic"` is a generated set of discs and rings, kept as a documented option.
#
# Numbers on either are **not horses_or_humans results.**

# %%
# !python -c "import google.colab" 2>/dev/null && pip install -q "gc-tutorial @ git+https://github.com/gc-tutorial/gc-tutorial"

# %% [markdown]
# ## Parameters
# `dataset` is a tensorflow-datasets name, a folder path, `"digits"` or `"synthetic"`;
# `data_dir` points tensorflow-datasets at an already prepared copy. With papermill:
# `-p dataset digits -p augment False`.

# %% tags=["parameters"]
dataset: str = "horses_or_humans"  # tfds name, image folder, "digits" or "synthetic"
data_dir: str = None  # tensorflow-datasets data_dir holding a prepared copy
image_size: int = 300  # images are resized to image_size x image_size
batch_size: int = 128  # examples per batch
augment: bool = True  # flip/rotate/zoom the training images
max_examples: int = None  # cap on the examples of each split (None: all)
seed: int = 0  # shuffling and augmentation seed (for "synthetic", also the images)

# %% [markdown]
# `check_parameters` checks every value (a misspelt name or a wrong type stops here, with a
# papermill example), and in quick mode says what it changed.

# %%
from gc_tutorial.parameters import check_parameters

parameters = check_parameters(globals())

# %% [markdown]
# ## Load
# `load_dataset` builds one `tf.data` chain per split: decode, resize, cache (as uint8, a
# quarter of float32's memory), shuffle with the seed, batch, augment (the training split only,
# still uint8), rescale to [0, 1], prefetch. The same seed gives the same batches, which the
# comparison in part 4 relies on. Offline, an unprepared tensorflow-datasets dataset fails
# within seconds with a message naming the alternatives (`dataset = "digits"` first).

# %%
from gc_tutorial.data import load_dataset

train_ds, test_ds, info = load_dataset(
    dataset,
    data_dir=data_dir,
    image_size=image_size,
    batch_size=batch_size,
    augment=augment,
    max_examples=max_examples,
    seed=seed,
)
print(info.describe())

# %% [markdown]
# ## Look at the images
# Sixteen test images (not augmented) with their labels. We read the whole test split and keep
# its first batch: a `tf.data` cache that is read only in part is thrown away (with a warning).

# %%
import matplotlib.pyplot as plt

from gc_tutorial.plots import plot_images

test_images, test_labels = list(test_ds)[0]
shown = min(16, len(test_images))
plot_images(test_images[:shown], [info.class_names[int(label)] for label in test_labels[:shown]])
plt.show()

# %% [markdown]
# ## The augmentations, side by side
# The training set is augmented as in the Keras example: random flips (horizontal and vertical),
# rotation up to 0.3 of a turn either way and zoom by up to 20%. `augment_images` draws those
# parameters per image and applies them as one affine transform, seeded so that each run sees
# the same augmentations. Here one test image and seven augmentations of it. (On digits, this
# is why quick mode turns augmentation off: a flipped or half-turned digit is another digit.)

# %%
import tensorflow as tf

from gc_tutorial.data import augment_images

copies = tf.repeat(test_images[:1], 7, axis=0)
augmented = augment_images(copies, seed=seed)
plot_images(
    tf.concat([test_images[:1], augmented], axis=0),
    ["original"] + [f"augmented {i}" for i in range(1, 8)],
)
plt.show()

# %% [markdown]
# ## A training batch
# What the model sees during training: shuffled, augmented, values in [0, 1].

# %%
train_images, train_labels = next(iter(train_ds))
images, labels = train_images.numpy(), train_labels.numpy()
print(f"batch: images {images.shape} {images.dtype}, labels {labels.shape} {labels.dtype}")
print(f"pixel range: [{images.min():.3f}, {images.max():.3f}]")
print("class balance:", {name: int((labels == i).sum()) for i, name in enumerate(info.class_names)})
shown = min(8, len(train_images))
plot_images(train_images[:shown], [info.class_names[int(label)] for label in train_labels[:shown]])
plt.show()
