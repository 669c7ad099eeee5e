"""CycleGANs between natural and comics images, and the add-text GAN (seed 001, C.II–C.III).

Networks (Zhu et al., 2017, "Unpaired image-to-image translation using cycle-consistent
adversarial networks"):

* **ResNet generator** (:func:`build_resnet_generator`): 7×7 convolution, two stride-2
  downsamplings, residual blocks (9 at 256 px, fewer at small sizes, see
  :func:`default_residual_blocks`), two stride-2 transposed convolutions, 7×7 convolution and
  ``tanh``; reflection padding (:class:`ReflectionPadding2D`) before the valid convolutions and
  instance normalisation as ``keras.layers.GroupNormalization(groups=-1)`` (one group per
  channel; no tensorflow-addons). Images enter and leave in ``[0, 1]``, like every model of
  the package; the ``[-1, 1]`` scaling is inside.
* **PatchGAN discriminator** (:func:`build_patchgan_discriminator`): with ``layers=3`` each
  output score sees a 70×70 patch (:func:`patchgan_receptive_field`).

Training models (``keras.Model`` subclasses with their own ``train_step``):

* :class:`CycleGAN` — least-squares GAN losses, cycle loss (weight 10), identity loss
  (weight 5), an :class:`ImagePool` of 50 past fakes per discriminator. Variants
  (:data:`VARIANTS`) are parameters of :func:`build_cyclegan`: ``simple`` and ``without_text``
  (same networks; the comics domain of ``without_text`` is text-free crops) and
  ``depth_aware``, whose natural-side discriminator sees RGB + the depth predicted by a frozen
  natural depth model (4 channels).
* :class:`AddTextGAN` — on top of a trained ``without_text`` natural→comics generator: its
  generator takes (real comics with text, its text mask, fake text-free comics) and returns the
  fake comics with the real text areas added. Losses: adversarial, L1 to the fake text-free
  comics outside the mask (weight 3), L1 to the real comics inside it (weight 3), identity when
  given the real comics twice (weight 5).

Both keep their optimizers, pools and an epoch counter as tracked state, so one
``save_weights`` file is a complete training checkpoint (see :mod:`comicdepth_tf.gan_training`).
The frozen helper networks (depth model, base generator) are deliberately *not* tracked: they
are not trained, and an Inception-ResNet-v2 depth model would multiply the checkpoint size.
The networks themselves are plain functional models saved as ``.keras``; they load without
``custom_objects`` once this module is imported (the registry imports it).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from comicdepth_tf.errors import ParameterError
from comicdepth_tf.models.registry import register_model

_PACKAGE = "comicdepth"

#: Variants of :func:`build_cyclegan` (``add_text`` is built by :func:`build_add_text_gan`).
VARIANTS = ("simple", "depth_aware", "without_text", "add_text")
CYCLE_WEIGHT = 10.0
IDENTITY_WEIGHT = 5.0
POOL_SIZE = 50
TEXT_OUTSIDE_WEIGHT = 3.0
TEXT_INSIDE_WEIGHT = 3.0
LEARNING_RATE = 2e-4
BETA_1 = 0.5

#: File names of the networks saved in a run folder, by role.
CYCLEGAN_FILES = {
    "natural2comics": "generator_natural2comics.keras",
    "comics2natural": "generator_comics2natural.keras",
    "discriminator_natural": "discriminator_natural.keras",
    "discriminator_comics": "discriminator_comics.keras",
}
ADD_TEXT_FILES = {
    "add_text": "generator_add_text.keras",
    "discriminator_comics": "discriminator_comics.keras",
}
DIRECTIONS = ("natural2comics", "comics2natural")


def _init():
    # The paper's initialisation: N(0, 0.02) for convolution kernels.
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


# --------------------------------------------------------------------------------------------
# Layers and schedule
# --------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ReflectionPadding2D(keras.layers.Layer):
    """Pad height and width by mirroring the border (``tf.pad(..., "REFLECT")``), NHWC.

    Reflection padding avoids the dark frame zero padding leaves around generated images.

    Args:
        padding: pixels added on each side, an int or ``(rows, cols)``. Each must be smaller
            than the input side it pads.
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = (padding, padding)
        self.padding = tuple(int(p) for p in padding)
        if len(self.padding) != 2 or min(self.padding) < 0:
            raise ValueError(f"ReflectionPadding2D: padding must be an int or (rows, cols) >= 0, got {padding!r}")

    def call(self, inputs):
        ph, pw = self.padding
        return tf.pad(inputs, [[0, 0], [ph, ph], [pw, pw], [0, 0]], mode="REFLECT")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        ph, pw = self.padding
        return (b, None if h is None else h + 2 * ph, None if w is None else w + 2 * pw, c)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": list(self.padding)})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConstantThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``learning_rate`` for ``constant_steps`` steps, then linearly down to 0 over ``decay_steps``.

    The CycleGAN schedule (100 epochs constant, 100 epochs of linear decay in the paper).

    Args:
        learning_rate: the initial rate.
        constant_steps: steps at the initial rate.
        decay_steps: steps of the linear decay (0: constant forever).
    """

    def __init__(self, learning_rate: float, constant_steps: int, decay_steps: int):
        self.learning_rate = float(learning_rate)
        self.constant_steps = int(constant_steps)
        self.decay_steps = int(decay_steps)
        if self.constant_steps < 0 or self.decay_steps < 0:
            raise ValueError("ConstantThenLinearDecay: steps must be >= 0")

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        if self.decay_steps == 0:
            return tf.fill([], tf.constant(self.learning_rate, tf.float32))
        done = tf.clip_by_value((step - self.constant_steps) / float(self.decay_steps), 0.0, 1.0)
        return self.learning_rate * (1.0 - done)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "constant_steps": self.constant_steps,
            "decay_steps": self.decay_steps,
        }


def make_gan_schedule(learning_rate: float, epochs: int, steps_per_epoch: int, decay_epochs: int | None = None):
    """The constant-then-linear-decay schedule of a run.

    Args:
        learning_rate: initial rate.
        epochs: planned epochs.
        steps_per_epoch: steps per epoch.
        decay_epochs: epochs of linear decay at the end; default half of ``epochs`` (the paper's
            100 + 100).
    """
    if epochs < 1 or steps_per_epoch < 1:
        raise ParameterError(f"epochs and steps_per_epoch must be >= 1, got {epochs}, {steps_per_epoch}")
    decay_epochs = epochs // 2 if decay_epochs is None else int(decay_epochs)
    if not 0 <= decay_epochs <= epochs:
        raise ParameterError(f"decay_epochs must be in [0, epochs={epochs}], got {decay_epochs}")
    return ConstantThenLinearDecay(
        learning_rate, (epochs - decay_epochs) * steps_per_epoch, decay_epochs * steps_per_epoch
    )


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ImagePool(keras.layers.Layer):
    """A buffer of past generated images for a discriminator (Shrivastava et al., 2017).

    Until the pool is full every image is stored and returned as it is. Once full, each image
    is, with probability 0.5, swapped with a random stored one (the stored one is returned and
    the new one takes its slot); otherwise it is returned as it is. The pool's contents are
    layer weights, so they are part of the training checkpoint.

    Args:
        pool_size: images kept (0 disables the pool).
        image_shape: ``(H, W, C)`` of the stored images (the training size).
        seed: seed of the random draws.

    Call args:
        images: ``(B, H, W, C)`` with a static batch size (train with ``drop_remainder=True``).
    """

    def __init__(self, pool_size: int = POOL_SIZE, image_shape=(256, 256, 3), seed: int | None = None, **kwargs):
        # A store, not a computation: float32 under any mixed-precision policy (an autocast
        # bfloat16 view of the variable has no scatter update).
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.pool_size = int(pool_size)
        self.image_shape = tuple(int(v) for v in image_shape)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name=f"{self.name}_seed")
        self.images = self.add_weight(shape=(max(self.pool_size, 1),) + self.image_shape, initializer="zeros",
                                      trainable=False, name="images")
        self.count = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False, name="count")
        self.built = True

    def call(self, images):
        if self.pool_size == 0:
            return images
        batch = images.shape[0]
        if batch is None:
            raise ValueError("ImagePool needs a static batch size: build the training dataset with drop_remainder=True")
        store = self.images.value
        outputs = []
        for i in range(batch):
            image = tf.cast(images[i], store.dtype)
            draw = keras.random.uniform((), seed=self.seed_generator)
            index = keras.random.randint((), 0, self.pool_size, seed=self.seed_generator, dtype="int32")
            count = self.count.value
            filling = count < self.pool_size
            swap = tf.logical_and(tf.logical_not(filling), draw < 0.5)
            slot = tf.where(filling, count, index)
            past = tf.gather(store, slot)
            outputs.append(tf.where(swap, past, image))
            store.scatter_nd_update([[slot]], [tf.where(tf.logical_or(filling, swap), image, past)])
            self.count.assign(tf.minimum(count + 1, self.pool_size))
        return tf.cast(tf.stack(outputs), images.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "image_shape": list(self.image_shape), "seed": self.seed})
        return config


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


def default_residual_blocks(image_size: int) -> int:
    """Residual blocks for an image side: 9 at ≥ 256 px (the paper), 6 at ≥ 128, 3 at ≥ 64, else 2."""
    if image_size >= 256:
        return 9
    if image_size >= 128:
        return 6
    return 3 if image_size >= 64 else 2


def instance_norm(name: str):
    """Instance normalisation: ``GroupNormalization`` with one group per channel (epsilon 1e-3)."""
    # Keras' default, not PyTorch's 1e-5: with 1e-5 a nearly constant channel (flat text-free
    # crops) is divided by ~3e-3, and without_text's generator gradients overflowed to NaN.
    return keras.layers.GroupNormalization(groups=-1, epsilon=1e-3, name=name)


def _conv_norm_relu(x, filters, kernel, strides, name, transpose=False, reflect=0):
    if reflect:
        x = ReflectionPadding2D(reflect, name=f"{name}_pad")(x)
    conv = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    x = conv(filters, kernel, strides=strides, padding="valid" if reflect else "same", use_bias=False,
             kernel_initializer=_init(), name=f"{name}_conv")(x)
    x = instance_norm(f"{name}_norm")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _residual_block(x, filters, name):
    y = ReflectionPadding2D(1, name=f"{name}_pad1")(x)
    y = keras.layers.Conv2D(filters, 3, use_bias=False, kernel_initializer=_init(), name=f"{name}_conv1")(y)
    y = instance_norm(f"{name}_norm1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu")(y)
    y = ReflectionPadding2D(1, name=f"{name}_pad2")(y)
    y = keras.layers.Conv2D(filters, 3, use_bias=False, kernel_initializer=_init(), name=f"{name}_conv2")(y)
    y = instance_norm(f"{name}_norm2")(y)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def _resnet_body(x, output_channels, filters, residual_blocks, downsamplings):
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_pm1")(x)
    x = _conv_norm_relu(x, filters, 7, 1, "stem", reflect=3)
    for i in range(downsamplings):
        x = _conv_norm_relu(x, filters * 2 ** (i + 1), 3, 2, f"down{i + 1}")
    width = filters * 2**downsamplings
    for b in range(residual_blocks):
        x = _residual_block(x, width, f"res{b + 1}")
    for i in reversed(range(downsamplings)):
        x = _conv_norm_relu(x, filters * 2**i, 3, 2, f"up{downsamplings - i}", transpose=True)
    x = ReflectionPadding2D(3, name="head_pad")(x)
    x = keras.layers.Conv2D(output_channels, 7, kernel_initializer=_init(), dtype="float32", name="head_conv")(x)
    x = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.layers.Rescaling(0.5, offset=0.5, dtype="float32", name="to_unit")(x)


def _check_widths(filters, residual_blocks, downsamplings):
    if filters < 1 or residual_blocks < 0 or downsamplings < 0:
        raise ParameterError(f"need filters >= 1, residual_blocks >= 0, downsamplings >= 0; got {filters}, "
                             f"{residual_blocks}, {downsamplings}")


@register_model("cyclegan_generator")
def build_resnet_generator(input_channels: int = 3, output_channels: int = 3, filters: int = 64,
                           residual_blocks: int = 9, downsamplings: int = 2, name: str = "resnet_generator"):
    """The CycleGAN ResNet generator.

    Args:
        input_channels: channels of the input image.
        output_channels: channels of the output image.
        filters: width of the first convolution (doubled at each downsampling; 64 in the paper).
        residual_blocks: residual blocks at the lowest resolution (9 at 256 px in the paper).
        downsamplings: stride-2 stages (input sides must be multiples of ``2 ** downsamplings``
            for the output to have the input's size).
        name: model name.

    Returns:
        A functional model ``(B, H, W, input_channels)`` in ``[0, 1]`` → ``(B, H, W,
        output_channels)`` float32 in ``[0, 1]``.
    """
    _check_widths(filters, residual_blocks, downsamplings)
    inputs = keras.Input((None, None, input_channels), name="image")
    outputs = _resnet_body(inputs, output_channels, filters, residual_blocks, downsamplings)
    return keras.Model(inputs, outputs, name=name)


@register_model("add_text_generator")
def build_add_text_generator(filters: int = 64, residual_blocks: int = 9, downsamplings: int = 2,
                             name: str = "add_text_generator"):
    """The add-text generator: (comics with text, text mask, text-free comics) → comics with text.

    The three inputs are concatenated (3 + 1 + 3 channels) and go through the ResNet
    generator's body.

    Returns:
        A functional model with inputs ``[comics (B,H,W,3), mask (B,H,W,1), text_free (B,H,W,3)]``
        in ``[0, 1]`` and one ``(B, H, W, 3)`` output in ``[0, 1]``.
    """
    _check_widths(filters, residual_blocks, downsamplings)
    comics = keras.Input((None, None, 3), name="comics")
    mask = keras.Input((None, None, 1), name="text_mask")
    text_free = keras.Input((None, None, 3), name="text_free")
    x = keras.layers.Concatenate(name="inputs")([comics, mask, text_free])
    outputs = _resnet_body(x, 3, filters, residual_blocks, downsamplings)
    return keras.Model([comics, mask, text_free], outputs, name=name)


def patchgan_receptive_field(layers: int = 3) -> int:
    """Side of the input patch one output score of :func:`build_patchgan_discriminator` sees.

    Two stride-1 4×4 convolutions (7 px) preceded by ``layers`` stride-2 4×4 convolutions,
    each mapping a field ``r`` to ``2 r + 2``: 70 for ``layers=3``.
    """
    r = 7
    for _ in range(layers):
        r = 2 * r + 2
    return r


@register_model("patchgan_discriminator")
def build_patchgan_discriminator(input_channels: int = 3, filters: int = 64, layers: int = 3,
                                 name: str = "patchgan_discriminator"):
    """The PatchGAN discriminator (70×70 patches with ``layers=3``).

    ``layers`` stride-2 4×4 convolutions (widths ``filters·2^i`` capped at ``8·filters``; no
    normalisation on the first), a stride-1 4×4 convolution and a 4×4 convolution to one score
    per patch, LeakyReLU(0.2) and instance normalisation in between.

    Args:
        input_channels: 3 (RGB) or 4 (RGB + depth, the depth-aware natural discriminator).
        filters: width of the first convolution (64 in the paper).
        layers: stride-2 convolutions (3: 70×70 receptive field; see :func:`patchgan_receptive_field`).
        name: model name.

    Returns:
        A functional model ``(B, H, W, C)`` in ``[0, 1]`` → ``(B, H/2^layers, W/2^layers, 1)``
        float32 scores (least-squares GAN: real → 1, fake → 0).
    """
    if filters < 1 or layers < 1:
        raise ParameterError(f"need filters >= 1 and layers >= 1, got {filters}, {layers}")
    inputs = keras.Input((None, None, input_channels), name="image")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_pm1")(inputs)
    for i in range(layers):
        x = keras.layers.Conv2D(filters * min(2**i, 8), 4, strides=2, padding="same", kernel_initializer=_init(),
                                use_bias=i == 0, name=f"down{i + 1}_conv")(x)
        if i > 0:
            x = instance_norm(f"down{i + 1}_norm")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"down{i + 1}_lrelu")(x)
    x = keras.layers.Conv2D(filters * min(2**layers, 8), 4, padding="same", use_bias=False,
                            kernel_initializer=_init(), name="last_conv")(x)
    x = instance_norm("last_norm")(x)
    x = keras.layers.LeakyReLU(0.2, name="last_lrelu")(x)
    scores = keras.layers.Conv2D(1, 4, padding="same", kernel_initializer=_init(), dtype="float32", name="scores")(x)
    return keras.Model(inputs, scores, name=name)


# --------------------------------------------------------------------------------------------
# Losses (least-squares GAN, L1)
# --------------------------------------------------------------------------------------------


def lsgan_discriminator_loss(real_scores, fake_scores):
    """``0.5 · (mean((D(real) − 1)²) + mean(D(fake)²))`` (halved, as in the paper)."""
    real = tf.reduce_mean(tf.square(tf.cast(real_scores, tf.float32) - 1.0))
    fake = tf.reduce_mean(tf.square(tf.cast(fake_scores, tf.float32)))
    return 0.5 * (real + fake)


def lsgan_generator_loss(fake_scores):
    """``mean((D(G(x)) − 1)²)``: the generator wants its fakes scored as real."""
    return tf.reduce_mean(tf.square(tf.cast(fake_scores, tf.float32) - 1.0))


def l1(a, b):
    """Mean absolute difference (cycle and identity losses)."""
    return tf.reduce_mean(tf.abs(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)))


def masked_l1(a, b, mask):
    """Mean ``|a − b|`` over the pixels where ``mask`` is 1 (all channels); 0 when the mask is empty.

    Args:
        a, b: ``(B, H, W, C)``.
        mask: ``(B, H, W, 1)`` in ``[0, 1]`` (broadcast over channels).
    """
    a, b, mask = (tf.cast(t, tf.float32) for t in (a, b, mask))
    weights = mask * tf.ones_like(a)
    return tf.math.divide_no_nan(tf.reduce_sum(tf.abs(a - b) * weights), tf.reduce_sum(weights))


def cyclegan_generator_loss(adversarial, cycle, identity, cycle_weight=CYCLE_WEIGHT, identity_weight=IDENTITY_WEIGHT):
    """Total generator loss ``adversarial + cycle_weight · cycle + identity_weight · identity``."""
    return adversarial + cycle_weight * cycle + identity_weight * identity


def add_text_generator_loss(adversarial, outside, inside, identity, outside_weight=TEXT_OUTSIDE_WEIGHT,
                            inside_weight=TEXT_INSIDE_WEIGHT, identity_weight=IDENTITY_WEIGHT):
    """Total add-text generator loss ``adv + 3 · L1_outside + 3 · L1_inside + 5 · identity``."""
    return adversarial + outside_weight * outside + inside_weight * inside + identity_weight * identity


# --------------------------------------------------------------------------------------------
# Depth channel of the depth-aware discriminator
# --------------------------------------------------------------------------------------------


def normalise_depth(depth):
    """Per-image min–max normalisation of a ``(B, H, W, 1)`` depth map to ``[0, 1]``.

    Makes the depth channel independent of the depth model's convention and scale (metric,
    inverse or relative), so the discriminator compares layouts, not units.
    """
    depth = tf.cast(depth, tf.float32)
    lo = tf.reduce_min(depth, axis=[1, 2, 3], keepdims=True)
    hi = tf.reduce_max(depth, axis=[1, 2, 3], keepdims=True)
    return tf.math.divide_no_nan(depth - lo, hi - lo)


class _Frozen:
    """Holds a network out of Keras' attribute tracking (not trained, not checkpointed)."""

    def __init__(self, model):
        self.model = model


def _check_depth_size(depth_model, side: int) -> None:
    # One forward pass now, so a side the encoder cannot take fails here with its name,
    # not in the first train step deep inside the graph.
    try:
        depth_model(tf.zeros((1, int(side), int(side), 3)), training=False)
    except (ValueError, tf.errors.InvalidArgumentError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ParameterError(
            f"the depth model {depth_model.name!r} cannot run at depth_size {side}x{side} px (IRv2 needs >= 75; "
            f"give the natural depth run's predict size): {first}") from None


def _depth_channel(depth_model, images, depth_size):
    size = tf.shape(images)[1:3]
    x = images if depth_size is None else tf.image.resize(images, (depth_size, depth_size))
    depth = depth_model(x, training=False)
    depth = tf.image.resize(tf.cast(depth, tf.float32), size)
    return normalise_depth(depth)


# --------------------------------------------------------------------------------------------
# Training models
# --------------------------------------------------------------------------------------------


class GANModel(keras.Model):
    """What the GAN training loop needs from a GAN: two optimizers, networks, an epoch counter.

    Subclasses define ``train_step``, ``test_step``, :meth:`networks` (name → model, saved
    as ``.keras`` files), :meth:`generator_variables`, :meth:`discriminator_variables` and
    :meth:`sample_rows`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.epochs_done = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False,
                                           name="epochs_done")
        self.generator_optimizer = None
        self.discriminator_optimizer = None

    def compile(self, generator_optimizer=None, discriminator_optimizer=None, **kwargs):
        """Set the two optimizers (default ``Adam(2e-4, beta_1=0.5)`` each) and create their slots.

        Creating the slots now (instead of in the first step) lets a checkpoint be loaded into
        a freshly compiled model before training resumes.
        """
        super().compile(optimizer=None, **kwargs)
        self.generator_optimizer = generator_optimizer or keras.optimizers.Adam(LEARNING_RATE, beta_1=BETA_1)
        self.discriminator_optimizer = discriminator_optimizer or keras.optimizers.Adam(LEARNING_RATE, beta_1=BETA_1)
        self.generator_optimizer.build(self.generator_variables())
        self.discriminator_optimizer.build(self.discriminator_variables())

    def networks(self) -> dict:
        raise NotImplementedError

    def generator_variables(self) -> list:
        raise NotImplementedError

    def discriminator_variables(self) -> list:
        raise NotImplementedError

    def sample_rows(self, batch) -> list[tuple[str, object]]:
        raise NotImplementedError

    @staticmethod
    def _sample_tensors(batch) -> tuple:
        """The parts of a sample batch (NumPy arrays or tensors, any dtype) as float32 tensors.

        Keras refuses a list input mixing arrays and tensors ("cannot mix tensors and
        non-tensors"), as happens when a network's output joins parts of a NumPy batch.
        """
        return tuple(tf.cast(tf.convert_to_tensor(part), tf.float32) for part in batch)

    def _apply(self, optimizer, loss, variables, tape):
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))

    def _trackers(self, names):
        return {n: keras.metrics.Mean(name=n) for n in names}

    def _update(self, values: dict) -> dict:
        for name, value in values.items():
            self._tracked[name].update_state(value)
        return {name: self._tracked[name].result() for name in values}

    @property
    def metrics(self):
        return list(self._tracked.values())


class CycleGAN(GANModel):
    """A CycleGAN between the natural (N) and comics (C) domains with its own ``train_step``.

    Generators ``G: N → C`` (``natural2comics``) and ``F: C → N`` (``comics2natural``);
    discriminators ``D_N`` (natural side; RGB + depth in the depth-aware variant) and ``D_C``.
    One step: ``G`` and ``F`` minimise ``LSGAN(D_C(G(n))) + LSGAN(D_N(F(c))) + 10·(|F(G(n)) − n| +
    |G(F(c)) − c|) + 5·(|F(n) − n| + |G(c) − c|)`` with one optimizer; then ``D_N`` and ``D_C``
    minimise the halved least-squares loss on real images and on fakes drawn from their pools.

    Data: ``(natural, comics)`` batches of ``(B, S, S, 3)`` in ``[0, 1]`` with a static batch size.

    Logged (per epoch means): ``g_loss``, ``adv_loss``, ``d_natural_loss``, ``d_comics_loss``,
    ``cycle_l1`` and ``identity_l1`` (each the mean of the two directions' L1, in ``[0, 1]``
    pixel units); validation (``test_step``) logs ``cycle_l1``, ``identity_l1``,
    ``cycle_natural_l1``, ``cycle_comics_l1``.

    Args:
        natural2comics, comics2natural: the generators.
        discriminator_natural, discriminator_comics: the discriminators.
        image_size: training side (the pools store images of this size).
        depth_model: frozen natural depth model (depth-aware variant), or None.
        depth_size: side the depth model is run at (None: the image size).
        pool_size: past fakes per discriminator.
        cycle_weight, identity_weight: loss weights.
        variant: recorded name of the variant.
        seed: seed of the pools' draws.
    """

    def __init__(self, natural2comics, comics2natural, discriminator_natural, discriminator_comics, image_size: int,
                 depth_model=None, depth_size: int | None = None, pool_size: int = POOL_SIZE,
                 cycle_weight: float = CYCLE_WEIGHT, identity_weight: float = IDENTITY_WEIGHT,
                 variant: str = "simple", seed: int | None = None, **kwargs):
        super().__init__(name=kwargs.pop("name", f"cyclegan_{variant}"), **kwargs)
        self.natural2comics = natural2comics
        self.comics2natural = comics2natural
        self.discriminator_natural = discriminator_natural
        self.discriminator_comics = discriminator_comics
        self._depth = _Frozen(depth_model) if depth_model is not None else None
        self.depth_size = depth_size
        self.image_size = int(image_size)
        self.cycle_weight = float(cycle_weight)
        self.identity_weight = float(identity_weight)
        self.variant = variant
        natural_channels = 4 if depth_model is not None else 3
        self.pool_natural = ImagePool(pool_size, (self.image_size, self.image_size, natural_channels), seed=seed,
                                      name="pool_natural")
        self.pool_comics = ImagePool(pool_size, (self.image_size, self.image_size, 3),
                                     seed=None if seed is None else seed + 1, name="pool_comics")
        self._tracked = self._trackers(["g_loss", "adv_loss", "d_natural_loss", "d_comics_loss", "cycle_l1",
                                        "identity_l1", "cycle_natural_l1", "cycle_comics_l1"])
        self.built = True

    @property
    def depth_model(self):
        return None if self._depth is None else self._depth.model

    def networks(self) -> dict:
        return {"natural2comics": self.natural2comics, "comics2natural": self.comics2natural,
                "discriminator_natural": self.discriminator_natural, "discriminator_comics": self.discriminator_comics}

    def generator_variables(self) -> list:
        return self.natural2comics.trainable_variables + self.comics2natural.trainable_variables

    def discriminator_variables(self) -> list:
        return self.discriminator_natural.trainable_variables + self.discriminator_comics.trainable_variables

    def natural_discriminator_input(self, images):
        """What ``D_N`` sees: the images, plus their normalised depth in the depth-aware variant."""
        if self._depth is None:
            return images
        return tf.concat([images, _depth_channel(self._depth.model, images, self.depth_size)], axis=-1)

    def call(self, inputs, training=False):
        """``G(natural)``; with a ``(natural, comics)`` pair, ``(G(natural), F(comics))``."""
        if isinstance(inputs, (tuple, list)):
            return (
                self.natural2comics(inputs[0], training=training),
                self.comics2natural(inputs[1], training=training),
            )
        return self.natural2comics(inputs, training=training)

    def _cycle_terms(self, natural, comics, training, identity=True):
        """Translations, the two cycle L1s and the identity L1 (None when ``identity`` is False)."""
        fake_comics = self.natural2comics(natural, training=training)
        fake_natural = self.comics2natural(comics, training=training)
        cycle_natural = l1(natural, self.comics2natural(fake_comics, training=training))
        cycle_comics = l1(comics, self.natural2comics(fake_natural, training=training))
        identity_l1 = None
        if identity:
            identity_l1 = 0.5 * (l1(natural, self.comics2natural(natural, training=training))
                                 + l1(comics, self.natural2comics(comics, training=training)))
        return fake_comics, fake_natural, cycle_natural, cycle_comics, identity_l1

    def train_step(self, data):
        natural, comics = data[0], data[1]
        # Identity weight 0 skips two of the six generator passes of a step (a third of their cost).
        with_identity = self.identity_weight > 0
        with tf.GradientTape() as tape:
            fake_comics, fake_natural, cycle_n, cycle_c, identity = self._cycle_terms(natural, comics, True,
                                                                                      with_identity)
            fake_natural_in = self.natural_discriminator_input(fake_natural)
            adversarial = (lsgan_generator_loss(self.discriminator_comics(fake_comics, training=True))
                           + lsgan_generator_loss(self.discriminator_natural(fake_natural_in, training=True)))
            # Sums of the two directions, as in the paper (identity was averaged for logging).
            g_loss = cyclegan_generator_loss(adversarial, cycle_n + cycle_c, 2.0 * identity if with_identity else 0.0,
                                             self.cycle_weight, self.identity_weight)
        self._apply(self.generator_optimizer, g_loss, self.generator_variables(), tape)

        pooled_natural = self.pool_natural(tf.stop_gradient(fake_natural_in))
        pooled_comics = self.pool_comics(tf.stop_gradient(fake_comics))
        real_natural_in = self.natural_discriminator_input(natural)
        with tf.GradientTape() as tape:
            d_natural = lsgan_discriminator_loss(self.discriminator_natural(real_natural_in, training=True),
                                                 self.discriminator_natural(pooled_natural, training=True))
            d_comics = lsgan_discriminator_loss(self.discriminator_comics(comics, training=True),
                                                self.discriminator_comics(pooled_comics, training=True))
            d_loss = d_natural + d_comics
        self._apply(self.discriminator_optimizer, d_loss, self.discriminator_variables(), tape)
        logs = {"g_loss": g_loss, "adv_loss": adversarial, "d_natural_loss": d_natural, "d_comics_loss": d_comics,
                "cycle_l1": 0.5 * (cycle_n + cycle_c)}
        return self._update({**logs, "identity_l1": identity} if with_identity else logs)

    def test_step(self, data):
        natural, comics = data[0], data[1]
        _, _, cycle_n, cycle_c, identity = self._cycle_terms(natural, comics, False)
        return self._update({"cycle_l1": 0.5 * (cycle_n + cycle_c), "identity_l1": identity,
                             "cycle_natural_l1": cycle_n, "cycle_comics_l1": cycle_c})

    def sample_rows(self, batch) -> list[tuple[str, object]]:
        """Rows of a sample grid: each input, its translation and its reconstruction.

        ``batch``: ``(natural, comics)`` as NumPy arrays or tensors.
        """
        natural, comics = self._sample_tensors(batch[:2])
        fake_c = self.natural2comics(natural, training=False)
        fake_n = self.comics2natural(comics, training=False)
        return [("natural", natural), ("natural -> comics", fake_c),
                ("-> natural (cycle)", self.comics2natural(fake_c, training=False)),
                ("comics", comics), ("comics -> natural", fake_n),
                ("-> comics (cycle)", self.natural2comics(fake_n, training=False))]


class AddTextGAN(GANModel):
    """Adds the text areas of real comics to fake text-free comics (seed 001, C.III).

    ``base_generator`` (the frozen ``without_text`` natural→comics generator) makes fake
    text-free comics ``t = B(n)`` from natural images; the generator ``A`` takes
    ``(comics c, its text mask m, t)`` and returns ``A(c, m, t)``. Generator loss:
    ``LSGAN(D(A(c, m, t))) + 3·L1_{1−m}(A(c, m, t), t) + 3·L1_m(A(c, m, t), c) + 5·|A(c, m, c) − c|``
    (masked means, :func:`masked_l1`); the discriminator ``D`` learns real comics (with text)
    against pooled outputs.

    Data: ``(natural, comics, text_mask)`` batches, ``(B, S, S, 3 | 3 | 1)`` in ``[0, 1]``.
    Logged: ``g_loss``, ``adv_loss``, ``d_loss``, ``outside_l1``, ``inside_l1``, ``identity_l1``
    (validation: the three L1 terms).
    """

    def __init__(self, generator, discriminator, base_generator, image_size: int, pool_size: int = POOL_SIZE,
                 outside_weight: float = TEXT_OUTSIDE_WEIGHT, inside_weight: float = TEXT_INSIDE_WEIGHT,
                 identity_weight: float = IDENTITY_WEIGHT, seed: int | None = None, **kwargs):
        super().__init__(name=kwargs.pop("name", "add_text_gan"), **kwargs)
        self.add_text = generator
        self.discriminator_comics = discriminator
        self._base = _Frozen(base_generator)
        self.image_size = int(image_size)
        self.outside_weight = float(outside_weight)
        self.inside_weight = float(inside_weight)
        self.identity_weight = float(identity_weight)
        self.variant = "add_text"
        self.pool_comics = ImagePool(pool_size, (self.image_size, self.image_size, 3), seed=seed, name="pool_comics")
        self._tracked = self._trackers(["g_loss", "adv_loss", "d_loss", "outside_l1", "inside_l1", "identity_l1"])
        self.built = True

    @property
    def base_generator(self):
        return self._base.model

    def networks(self) -> dict:
        return {"add_text": self.add_text, "discriminator_comics": self.discriminator_comics}

    def generator_variables(self) -> list:
        return self.add_text.trainable_variables

    def discriminator_variables(self) -> list:
        return self.discriminator_comics.trainable_variables

    def call(self, inputs, training=False):
        """``A(comics, mask, text_free)`` for a list of the three inputs."""
        return self.add_text(list(inputs), training=training)

    def _terms(self, natural, comics, mask, training):
        text_free = tf.stop_gradient(self._base.model(natural, training=False))
        out = self.add_text([comics, mask, text_free], training=training)
        outside = masked_l1(out, text_free, 1.0 - mask)
        inside = masked_l1(out, comics, mask)
        identity = l1(self.add_text([comics, mask, comics], training=training), comics)
        return out, outside, inside, identity

    def train_step(self, data):
        natural, comics, mask = data[0], data[1], data[2]
        with tf.GradientTape() as tape:
            out, outside, inside, identity = self._terms(natural, comics, mask, True)
            adversarial = lsgan_generator_loss(self.discriminator_comics(out, training=True))
            g_loss = add_text_generator_loss(adversarial, outside, inside, identity, self.outside_weight,
                                             self.inside_weight, self.identity_weight)
        self._apply(self.generator_optimizer, g_loss, self.generator_variables(), tape)
        pooled = self.pool_comics(tf.stop_gradient(out))
        with tf.GradientTape() as tape:
            d_loss = lsgan_discriminator_loss(self.discriminator_comics(comics, training=True),
                                              self.discriminator_comics(pooled, training=True))
        self._apply(self.discriminator_optimizer, d_loss, self.discriminator_variables(), tape)
        return self._update({"g_loss": g_loss, "adv_loss": adversarial, "d_loss": d_loss, "outside_l1": outside,
                             "inside_l1": inside, "identity_l1": identity})

    def test_step(self, data):
        natural, comics, mask = data[0], data[1], data[2]
        _, outside, inside, identity = self._terms(natural, comics, mask, False)
        return self._update({"outside_l1": outside, "inside_l1": inside, "identity_l1": identity})

    def sample_rows(self, batch) -> list[tuple[str, object]]:
        """Rows: natural, fake text-free comics, real comics, its text mask, the output.

        ``batch``: ``(natural, comics, text_mask)`` as NumPy arrays or tensors.
        """
        natural, comics, mask = self._sample_tensors(batch[:3])
        text_free = tf.convert_to_tensor(self._base.model(natural, training=False))
        out = self.add_text([comics, mask, text_free], training=False)
        return [("natural", natural), ("text-free (base G)", text_free), ("comics with text", comics),
                ("text mask", tf.repeat(mask, 3, axis=-1)), ("text added", out)]


# --------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------


def _check_size(image_size: int, downsamplings: int = 2) -> int:
    image_size = int(image_size)
    if image_size < 8 or image_size % (2**downsamplings):
        raise ParameterError(f"image_size must be >= 8 and a multiple of {2 ** downsamplings}, got {image_size}")
    return image_size


@register_model("cyclegan")
def build_cyclegan(variant: str = "simple", image_size: int = 256, filters: int = 64,
                   residual_blocks: int | None = None, downsamplings: int = 2, disc_filters: int = 64,
                   disc_layers: int = 3,
                   pool_size: int = POOL_SIZE, cycle_weight: float = CYCLE_WEIGHT,
                   identity_weight: float = IDENTITY_WEIGHT, depth_model=None, depth_size: int | None = None,
                   seed: int | None = None) -> CycleGAN:
    """Build an (uncompiled) :class:`CycleGAN` for one variant.

    Args:
        variant: ``simple``, ``depth_aware`` or ``without_text`` (``add_text``: see
            :func:`build_add_text_gan`). ``without_text`` builds the same networks as
            ``simple``; the difference is its comics domain (text-free crops).
        image_size: training side in pixels (a multiple of 4).
        filters: generator width (64 in the paper).
        residual_blocks: generator residual blocks; default :func:`default_residual_blocks`.
        downsamplings: generator stride-2 stages (2 in the paper; 1 keeps a 32×32 bottleneck at
            64 px, which reconstructs fine comics detail much sooner on short CPU runs).
        disc_filters: discriminator width (64 in the paper).
        disc_layers: discriminator stride-2 layers (3: 70×70 patches).
        pool_size: past fakes per discriminator (50 in the paper).
        cycle_weight, identity_weight: loss weights (10 and 5).
        depth_model: the frozen natural depth model, required by ``depth_aware``.
        depth_size: side the depth model runs at (default ``image_size``; IRv2 needs ≥ 75).
        seed: seed of the pools.
    """
    if variant not in VARIANTS or variant == "add_text":
        raise ParameterError(f"build_cyclegan: variant must be one of {VARIANTS[:3]}, got {variant!r}"
                             + (" (use build_add_text_gan)" if variant == "add_text" else ""))
    if variant == "depth_aware" and depth_model is None:
        raise ParameterError("the depth_aware variant needs depth_model (a trained natural depth model)")
    if variant != "depth_aware":
        depth_model = None
    image_size = _check_size(image_size, downsamplings)
    if depth_model is not None:
        _check_depth_size(depth_model, depth_size or image_size)
    blocks = default_residual_blocks(image_size) if residual_blocks is None else int(residual_blocks)
    gen = dict(filters=filters, residual_blocks=blocks, downsamplings=downsamplings)
    return CycleGAN(
        build_resnet_generator(name="generator_natural2comics", **gen),
        build_resnet_generator(name="generator_comics2natural", **gen),
        build_patchgan_discriminator(4 if depth_model is not None else 3, disc_filters, disc_layers,
                                     name="discriminator_natural"),
        build_patchgan_discriminator(3, disc_filters, disc_layers, name="discriminator_comics"),
        image_size=image_size, depth_model=depth_model, depth_size=depth_size, pool_size=pool_size,
        cycle_weight=cycle_weight, identity_weight=identity_weight, variant=variant, seed=seed,
    )


@register_model("add_text_gan")
def build_add_text_gan(base_generator, image_size: int = 256, filters: int = 64, residual_blocks: int | None = None,
                       downsamplings: int = 2, disc_filters: int = 64, disc_layers: int = 3, pool_size: int = POOL_SIZE,
                       outside_weight: float = TEXT_OUTSIDE_WEIGHT, inside_weight: float = TEXT_INSIDE_WEIGHT,
                       identity_weight: float = IDENTITY_WEIGHT, seed: int | None = None) -> AddTextGAN:
    """Build an (uncompiled) :class:`AddTextGAN` on top of a trained text-free generator.

    Args:
        base_generator: the ``without_text`` CycleGAN's natural→comics generator (frozen).
        image_size, filters, residual_blocks, downsamplings, disc_filters, disc_layers, pool_size:
            as in :func:`build_cyclegan`.
        outside_weight, inside_weight, identity_weight: loss weights (3, 3, 5).
        seed: seed of the pool.
    """
    if base_generator is None:
        raise ParameterError("add_text needs base_generator: the natural2comics generator of a without_text run")
    image_size = _check_size(image_size, downsamplings)
    blocks = default_residual_blocks(image_size) if residual_blocks is None else int(residual_blocks)
    return AddTextGAN(
        build_add_text_generator(filters=filters, residual_blocks=blocks, downsamplings=downsamplings,
                                 name="generator_add_text"),
        build_patchgan_discriminator(3, disc_filters, disc_layers, name="discriminator_comics"),
        base_generator, image_size=image_size, pool_size=pool_size, outside_weight=outside_weight,
        inside_weight=inside_weight, identity_weight=identity_weight, seed=seed,
    )


def network_files(model) -> dict[str, str]:
    """File name of each network of a GAN (``natural2comics`` → ``generator_natural2comics.keras``, …)."""
    files = ADD_TEXT_FILES if isinstance(model, AddTextGAN) else CYCLEGAN_FILES
    return {name: files[name] for name in model.networks()}
