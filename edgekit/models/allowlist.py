"""What a model config may name: explicit allowlists read by `safety` (data only, no logic, no imports).

Everything here is a name Keras or TensorFlow itself ships and that only computes on tensors. A name
missing from these lists is refused, so a new Keras release needs an entry here, never an exception
in the scanner. `tests/test_models_safety.py` checks each entry against the installed packages.
"""
from __future__ import annotations


def _names(text: str, prefix: str = "") -> frozenset[str]:
    return frozenset(prefix + name for name in text.split())


# --- tf_keras: TensorFlow symbols a TFOpLambda / SlicingOpLambda layer may call ---------------------
# tf_keras writes `config["function"]` as the symbol's canonical TF API name (`math.multiply`,
# `__operators__.add`, `compat.v1.transpose`) and resolves it with tf_export.get_symbol_from_name.
# Only pure math / array / nn / image ops that take tensors and plain values: nothing that reads or
# writes files, prints, calls back into Python, takes a callable, loads libraries or touches variables
# (so no io.*, summary.*, debugging.*, data.*, saved_model.*, raw_ops.*, py_function, numpy_function,
# print, load_library, cond, while_loop, map_fn, scan, stft (takes window_fn), random.*, strings.*).
TF_OPS: frozenset[str] = (
    _names("add eq ne getitem", "__operators__.")
    | _names("""
        argsort batch_to_space boolean_mask broadcast_to cast clip_by_norm clip_by_value concat constant
        convert_to_tensor einsum ensure_shape expand_dims extract_volume_patches eye fill gather gather_nd
        identity linspace meshgrid norm one_hot ones ones_like pad range rank realdiv repeat reshape reverse
        reverse_sequence roll scatter_nd searchsorted sequence_mask shape size slice sort space_to_batch
        space_to_batch_nd split squeeze stack stop_gradient strided_slice tensor_scatter_nd_add
        tensor_scatter_nd_max tensor_scatter_nd_min tensor_scatter_nd_sub tensor_scatter_nd_update tensordot
        tile transpose truncatediv truncatemod unique unravel_index unstack where zeros zeros_like""")
    | _names("""
        abs accumulate_n acos acosh add add_n angle argmax argmin asin asinh atan atan2 atanh bessel_i0
        bessel_i0e bessel_i1 bessel_i1e betainc ceil conj cos cosh count_nonzero cumprod cumsum
        cumulative_logsumexp digamma divide divide_no_nan equal erf erfc erfcinv erfinv exp expm1 floor
        floordiv floormod greater greater_equal igamma igammac imag in_top_k invert_permutation is_finite
        is_inf is_nan l2_normalize lbeta less less_equal lgamma log log1p log_sigmoid logical_and
        logical_not logical_or logical_xor maximum minimum multiply multiply_no_nan ndtri negative
        nextafter not_equal polygamma polyval pow real reciprocal reciprocal_no_nan reduce_all reduce_any
        reduce_euclidean_norm reduce_logsumexp reduce_max reduce_mean reduce_min reduce_prod reduce_std
        reduce_sum reduce_variance rint round rsqrt scalar_mul segment_max segment_mean segment_min
        segment_prod segment_sum sigmoid sign sin sinh softplus softsign sqrt square squared_difference
        subtract tan tanh top_k truediv unsorted_segment_max unsorted_segment_mean unsorted_segment_min
        unsorted_segment_prod unsorted_segment_sqrt_n unsorted_segment_sum xdivy xlog1py xlogy
        zero_fraction zeta""", "math.")
    | _names("""
        atrous_conv2d atrous_conv2d_transpose avg_pool avg_pool1d avg_pool2d avg_pool3d batch_normalization
        bias_add conv1d conv1d_transpose conv2d conv2d_transpose conv3d conv3d_transpose conv_transpose
        convolution crelu depth_to_space depthwise_conv2d dilation2d dropout elu embedding_lookup erosion2d
        gelu l2_loss l2_normalize leaky_relu local_response_normalization log_softmax max_pool max_pool1d
        max_pool2d max_pool3d moments normalize_moments pool relu relu6 selu separable_conv2d sigmoid
        sigmoid_cross_entropy_with_logits silu softmax softmax_cross_entropy_with_logits softplus softsign
        space_to_depth sparse_softmax_cross_entropy_with_logits swish tanh weighted_moments""", "nn.")
    | _names("""
        adjust_brightness adjust_contrast adjust_gamma adjust_hue adjust_saturation central_crop
        combined_non_max_suppression convert_image_dtype crop_and_resize crop_to_bounding_box
        extract_patches flip_left_right flip_up_down grayscale_to_rgb hsv_to_rgb image_gradients
        non_max_suppression non_max_suppression_padded non_max_suppression_with_scores pad_to_bounding_box
        per_image_standardization psnr resize resize_with_crop_or_pad resize_with_pad rgb_to_grayscale
        rgb_to_hsv rgb_to_yiq rgb_to_yuv rot90 sobel_edges ssim total_variation transpose yiq_to_rgb
        yuv_to_rgb""", "image.")
    | _names("""
        adjoint band_part cholesky cross det diag diag_part eigh eigvalsh einsum inv l2_normalize logdet
        matmul matrix_transpose matvec norm normalize pinv qr set_diag slogdet solve svd tensordot trace
        triangular_solve""", "linalg.")
    | _names("""
        dct fft fft2d fft3d fftshift frame hamming_window hann_window idct ifft ifft2d ifft3d ifftshift
        irfft irfft2d linear_to_mel_weight_matrix mfccs_from_log_mel_spectrograms overlap_and_add rfft
        rfft2d""", "signal.")
    | _names("""
        batch_gather batch_to_space boolean_mask constant convert_to_tensor div expand_dims floor_div gather
        gather_nd norm ones_like pad reverse_sequence setdiff1d shape size squeeze to_double to_float
        to_int32 to_int64 transpose where zeros_like
        math.argmax math.argmin math.count_nonzero math.in_top_k math.reduce_all math.reduce_any
        math.reduce_logsumexp math.reduce_max math.reduce_mean math.reduce_min math.reduce_prod
        math.reduce_sum math.scalar_mul
        nn.avg_pool nn.conv1d nn.conv2d nn.conv2d_transpose nn.conv3d nn.conv3d_transpose nn.convolution
        nn.crelu nn.depth_to_space nn.depthwise_conv2d nn.depthwise_conv2d_native nn.dilation2d nn.dropout
        nn.erosion2d nn.fused_batch_norm nn.log_softmax nn.max_pool nn.moments nn.pool nn.relu_layer
        nn.separable_conv2d nn.sigmoid_cross_entropy_with_logits nn.softmax
        nn.softmax_cross_entropy_with_logits_v2 nn.space_to_batch nn.space_to_depth
        nn.sparse_softmax_cross_entropy_with_logits nn.weighted_moments nn.xw_plus_b
        image.crop_and_resize image.extract_image_patches image.resize_area image.resize_bicubic
        image.resize_bilinear image.resize_image_with_pad image.resize_images
        image.resize_nearest_neighbor""", "compat.v1.")
)
# The only keys a TFOpLambda / SlicingOpLambda config has (anything else is passed to the layer).
OP_LAYER_KEYS = frozenset({"name", "trainable", "dtype", "function"})

# --- Classes outside the Keras package that Keras / TensorFlow themselves write ---------------------
# (module, class_name, registered_name): matched exactly. tf_keras saves some initializers of the
# keras.applications backbones (EfficientNetV2's Constant) under TensorFlow's own initializer modules.
# (HeNormal, LecunUniform, ... exist only in Keras; these are the classes both TF modules define.)
_TF_INITIALIZERS = _names("""
    Constant GlorotNormal GlorotUniform Identity Ones Orthogonal RandomNormal RandomUniform TruncatedNormal
    VarianceScaling Zeros""")
EXTERNAL_CLASSES: frozenset[tuple[str, str, str | None]] = frozenset(
    (module, name, registered)
    for module in ("tensorflow.python.ops.init_ops_v2", "tensorflow.python.ops.init_ops")
    for name in _TF_INITIALIZERS
    for registered in (None, name)
)

# Layers keras.applications defines for its own backbones (pure tensor math, no file or code access).
# tf_keras: (module, class_name, registered_name) as `.keras` files write them; `.h5` files write the
# class name only. The loader resolves them through tf_keras' custom objects (see safety).
TF_KERAS_APPLICATION_LAYERS: dict[str, tuple[str, str]] = {  # class_name -> (module, registered_name)
    "LayerScale": ("tf_keras.src.applications.convnext", "LayerScale"),
    "StochasticDepth": ("tf_keras.src.applications.convnext", "StochasticDepth"),
    "CustomScaleLayer": ("tf_keras.src.applications.inception_resnet_v2", "Custom>CustomScaleLayer"),
}
KERAS3_APPLICATION_LAYERS: frozenset[tuple[str, str, str]] = frozenset({
    ("keras.src.applications.convnext", "LayerScale", "LayerScale"),
    ("keras.src.applications.convnext", "StochasticDepth", "StochasticDepth"),
    ("keras.src.applications.inception_resnet_v2", "CustomScaleLayer", "CustomScaleLayer"),
})

# --- Layers that must not be loaded even though Keras ships them ------------------------------------
# tf_keras (besides Lambda): feature columns can read vocabulary files and carry normalizer functions.
TF_KERAS_REFUSED = {
    "Lambda": "Lambda layers carry Python bytecode that runs when the model is loaded",
    "DenseFeatures": "DenseFeatures rebuilds feature columns, which can read vocabulary files and call functions",
}
KERAS3_REFUSED = {
    "Lambda": "Lambda layers carry Python bytecode that runs when the model is loaded",
    "TFSMLayer": "TFSMLayer loads a TensorFlow SavedModel (any graph, file access) from a path",
    "TorchModuleWrapper": "TorchModuleWrapper unpickles a torch module (torch.load runs code)",
    "JaxLayer": "JaxLayer wraps arbitrary Python functions",
    "FlaxLayer": "FlaxLayer wraps an arbitrary Flax module and method",
}
# Built-in layers that read a file when `config[key]` is a string (a path); an inline list is fine.
FILE_PATH_KEYS = {"StringLookup": "vocabulary", "IntegerLookup": "vocabulary", "TextVectorization": "vocabulary"}

# --- Keras 3: built-in classes, by the modules Keras 3 writes for them ------------------------------
# A module ending in "." is a prefix (Keras 3 writes "keras.layers" for exported classes and the
# defining "keras.src.layers...." module for the rest); any other module must match exactly.
KERAS3_LAYERS = _names("""
    Dense EinsumDense Embedding ReversibleEmbedding Identity InputLayer Masking Activation
    Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose Convolution1D Convolution2D
    Convolution3D Convolution1DTranspose Convolution2DTranspose Convolution3DTranspose DepthwiseConv1D
    DepthwiseConv2D SeparableConv1D SeparableConv2D SeparableConvolution1D SeparableConvolution2D
    AveragePooling1D AveragePooling2D AveragePooling3D AvgPool1D AvgPool2D AvgPool3D MaxPooling1D
    MaxPooling2D MaxPooling3D MaxPool1D MaxPool2D MaxPool3D GlobalAveragePooling1D GlobalAveragePooling2D
    GlobalAveragePooling3D GlobalAvgPool1D GlobalAvgPool2D GlobalAvgPool3D GlobalMaxPooling1D
    GlobalMaxPooling2D GlobalMaxPooling3D GlobalMaxPool1D GlobalMaxPool2D GlobalMaxPool3D
    AdaptiveAveragePooling1D AdaptiveAveragePooling2D AdaptiveAveragePooling3D AdaptiveMaxPooling1D
    AdaptiveMaxPooling2D AdaptiveMaxPooling3D
    BatchNormalization LayerNormalization GroupNormalization UnitNormalization RMSNormalization
    SpectralNormalization
    Add Subtract Multiply Average Maximum Minimum Concatenate Dot
    Reshape Flatten Permute RepeatVector Cropping1D Cropping2D Cropping3D ZeroPadding1D ZeroPadding2D
    ZeroPadding3D UpSampling1D UpSampling2D UpSampling3D
    ReLU LeakyReLU PReLU ELU Softmax
    Dropout SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianDropout GaussianNoise AlphaDropout
    ActivityRegularization
    Attention AdditiveAttention MultiHeadAttention GroupQueryAttention
    RNN SimpleRNN SimpleRNNCell GRU GRUCell LSTM LSTMCell ConvLSTM1D ConvLSTM2D ConvLSTM3D StackedRNNCells
    Bidirectional TimeDistributed
    Rescaling Normalization Resizing CenterCrop Discretization CategoryEncoding Hashing HashedCrossing
    StringLookup IntegerLookup TextVectorization
    AugMix AutoContrast ContrastLimitedAdaptiveHistogramEqualization CutMix Equalization
    MaxNumBoundingBoxes MixUp RandAugment RandomBrightness RandomColorDegeneration RandomColorJitter
    RandomContrast RandomCrop RandomElasticTransform RandomErasing RandomFlip RandomGaussianBlur
    RandomGrayscale RandomHue RandomInvert RandomPerspective RandomPosterization RandomRotation
    RandomSaturation RandomSharpness RandomShear RandomTranslation RandomZoom Solarization
    MelSpectrogram STFTSpectrogram
    Pipeline""")
# keras.ops classes a functional model records when a keras.ops function is called on a KerasTensor.
# Left out on purpose: ops that take Python callables (core.Cond, WhileLoop, ForiLoop, Map, Scan,
# AssociativeScan, Switch, VectorizedMap, linalg.JVP) and ops.function.Function.
KERAS3_OPS: dict[str, frozenset[str]] = {
    "keras.src.ops.numpy": _names("""
        Abs Absolute Add All AllClose Amax Amin Angle Any Append Arange Arccos Arccosh Arcsin Arcsinh Arctan
        Arctan2 Arctanh Argmax Argmin Argpartition Argsort Array ArraySplit Average Bincount BitwiseAnd
        BitwiseInvert BitwiseLeftShift BitwiseNot BitwiseOr BitwiseRightShift BitwiseXor BroadcastTo Cbrt
        Ceil Clip Concatenate Conj Conjugate Copy Corrcoef Correlate Cos Cosh CountNonzero Cross Cumprod
        Cumsum Deg2rad Diag Diagflat Diagonal Diff Digitize Divide DivideNoNan Dot Dsplit Dstack Einsum
        EmptyLike Equal Exp Exp2 ExpandDims Expm1 Fabs Flip Fliplr Flipud Floor FloorDivide Fmax Fmin Fmod
        Full FullLike Gcd Geomspace GetItem Greater GreaterEqual Heaviside Histogram Hsplit Hstack Hypot I0
        Imag Inner IsIn Isclose Isfinite Isinf Isnan Isneginf Isposinf Isreal Kron Lcm Ldexp LeftShift
        Less LessEqual Linspace Log Log10 Log1p Log2 Logaddexp Logaddexp2 LogicalAnd LogicalNot LogicalOr
        LogicalXor Logspace Matmul Max Maximum Mean Median Meshgrid Min Minimum Mod Moveaxis Multiply
        NanToNum Nanargmax Nanargmin Nancumprod Nancumsum Nanmax Nanmean Nanmedian Nanmin Nanpercentile
        Nanprod Nanquantile Nanstd Nansum Nanvar Ndim Negative Nextafter Nonzero NotEqual OnesLike Outer Pad
        Percentile Power Prod Ptp Quantile Rad2deg Ravel Real Reciprocal Repeat Reshape RightShift Roll
        Rot90 Round SearchSorted Select Sign Signbit Sin Sinc Sinh Size Slogdet Sort Split Sqrt Square
        Squeeze Stack Std Subtract Sum Swapaxes Take TakeAlongAxis Tan Tanh Tensordot Tile Trace Transpose
        Trapezoid Tril Triu TrueDivide Trunc Unique UnravelIndex Vander Var Vdot View Vsplit Vstack Where
        ZerosLike"""),
    "keras.src.ops.nn": _names("""
        AdaptiveAveragePool AdaptiveMaxPool AveragePool BatchNorm BinaryCrossentropy CTCDecode CTCLoss
        CategoricalCrossentropy Celu Conv ConvTranspose DepthToSpace DepthwiseConv DotProductAttention Elu
        Fold Gelu Glu HardShrink HardSigmoid HardSilu HardTanh LayerNorm LeakyRelu LogSigmoid LogSoftmax
        MaxPool Moments MultiHot Normalize OneHot PSNR Polar RMSNorm Relu Relu6 Selu SeparableConv Sigmoid
        Silu SoftShrink Softmax Softplus Softsign SpaceToDepth SparseCategoricalCrossentropy SparsePlus
        SparseSigmoid Sparsemax Squareplus TanhShrink Threshold Unfold"""),
    "keras.src.ops.math": _names("""
        CDist Erf Erfc Erfinv ExtractSequences FFT FFT2 IFFT2 IRFFT ISTFT InTopK Logdet Logsumexp RFFT Rsqrt
        STFT SegmentMax SegmentMin SegmentProd SegmentSum TopK ViewAsComplex ViewAsReal"""),
    "keras.src.ops.image": _names("""
        AffineTransform CropImages ElasticTransform ExtractPatches GaussianBlur HSVToRGB MapCoordinates
        PadImages PerspectiveTransform RGBToGrayscale RGBToHSV Resize SSIM ScaleAndTranslate SobelEdges"""),
    "keras.src.ops.linalg": _names("""
        Cholesky CholeskyInverse Det Eig Eigh Inv Lstsq LuFactor MatrixRank Norm Pinv Qr SVD Solve
        SolveTriangular"""),
    "keras.src.ops.core": _names("""
        Cast ConvertToTensor SaturateCast Scatter ScatterUpdate Slice SliceUpdate StopGradient Unstack"""),
    "keras.src.ops.einops": _names("Rearrange"),
}
# Non-layer classes, each family with the modules Keras 3 writes for it.
KERAS3_CLASSES: tuple[tuple[tuple[str, ...], frozenset[str]], ...] = (
    (("keras.layers", "keras.src.layers."), KERAS3_LAYERS),
    (("keras", "keras.models", "keras.src.models."), _names("Functional Sequential Model")),
    (("keras.initializers", "keras.src.initializers."), _names("""
        Constant GlorotNormal GlorotUniform HeNormal HeUniform Identity IdentityInitializer LecunNormal
        LecunUniform Ones Orthogonal OrthogonalInitializer RandomNormal RandomUniform STFT STFTInitializer
        TruncatedNormal VarianceScaling Zeros""")),
    (("keras.regularizers", "keras.src.regularizers."), _names("L1 L1L2 L2 OrthogonalRegularizer")),
    (("keras.constraints", "keras.src.constraints."), _names("MaxNorm MinMaxNorm NonNeg UnitNorm")),
    (("keras", "keras.dtype_policies", "keras.src.dtype_policies."), _names("""
        DTypePolicy FloatDTypePolicy QuantizedDTypePolicy QuantizedFloat8DTypePolicy Int4DTypePolicy
        GPTQDTypePolicy AWQDTypePolicy DTypePolicyMap""")),
    (("keras.quantizers", "keras.src.quantizers."), _names("""
        AbsMaxQuantizer Int8QuantizationConfig Int4QuantizationConfig Float8QuantizationConfig""")),
    # compile_config (never compiled by edgekit: it loads with compile=False, but scans everything)
    (("keras.optimizers", "keras.src.optimizers."), _names("""
        Adadelta Adafactor Adagrad Adam AdamW Adamax Ftrl Lamb Lion LossScaleOptimizer Muon Nadam RMSprop SGD
        ScheduleFreeAdamW""")),
    (("keras.optimizers.schedules", "keras.src.optimizers.schedules."), _names("""
        CosineDecay CosineDecayRestarts ExponentialDecay InverseTimeDecay PiecewiseConstantDecay
        PolynomialDecay""")),
    (("keras.losses", "keras.src.losses."), _names("""
        BinaryCrossentropy BinaryFocalCrossentropy CTC CategoricalCrossentropy CategoricalFocalCrossentropy
        CategoricalGeneralizedCrossEntropy CategoricalHinge Circle CosineSimilarity Dice Hinge Huber
        KLDivergence LogCosh MeanAbsoluteError MeanAbsolutePercentageError MeanSquaredError
        MeanSquaredLogarithmicError Poisson SparseCategoricalCrossentropy SquaredHinge Tversky""")),
    (("keras.metrics", "keras.src.metrics."), _names("""
        AUC Accuracy BinaryAccuracy BinaryCrossentropy BinaryIoU CategoricalAccuracy CategoricalCrossentropy
        CategoricalHinge ConcordanceCorrelation CosineSimilarity F1Score FBetaScore FalseNegatives
        FalsePositives Hinge IoU KLDivergence LogCoshError Mean MeanAbsoluteError MeanAbsolutePercentageError
        MeanIoU MeanMetricWrapper MeanSquaredError MeanSquaredLogarithmicError OneHotIoU OneHotMeanIoU
        PearsonCorrelation Poisson Precision PrecisionAtRecall R2Score Recall RecallAtPrecision
        RootMeanSquaredError SensitivityAtSpecificity SparseCategoricalAccuracy SparseCategoricalCrossentropy
        SparseTopKCategoricalAccuracy SpecificityAtSensitivity SquaredHinge Sum TopKCategoricalAccuracy
        TrueNegatives TruePositives""")),
)
# Functions a Keras 3 config may name ({"class_name": "function", "module": "builtins" or
# "keras.activations", "config": name}), by the Keras 3 module that defines them.
KERAS3_FUNCTIONS: dict[str, frozenset[str]] = {
    "activations": _names("""
        celu elu exponential gelu glu hard_shrink hard_sigmoid hard_silu hard_swish hard_tanh leaky_relu
        linear log_sigmoid log_softmax mish relu relu6 selu sigmoid silu soft_shrink softmax softplus
        softsign sparse_plus sparse_sigmoid sparsemax squareplus swish tanh tanh_shrink threshold"""),
    "losses": _names("""
        binary_crossentropy binary_focal_crossentropy categorical_crossentropy categorical_focal_crossentropy
        categorical_generalized_cross_entropy categorical_hinge circle cosine_similarity ctc dice hinge huber
        kl_divergence log_cosh mean_absolute_error mean_absolute_percentage_error mean_squared_error
        mean_squared_logarithmic_error poisson sparse_categorical_crossentropy squared_hinge tversky"""),
    "metrics": _names("""
        binary_accuracy binary_crossentropy binary_focal_crossentropy categorical_accuracy
        categorical_crossentropy categorical_focal_crossentropy categorical_hinge concordance_correlation
        hinge huber kl_divergence log_cosh mean_absolute_error mean_absolute_percentage_error
        mean_squared_error mean_squared_logarithmic_error pearson_correlation poisson
        sparse_categorical_accuracy sparse_categorical_crossentropy sparse_top_k_categorical_accuracy
        squared_hinge top_k_categorical_accuracy"""),
}
# Serialisation wrappers that only carry data (Keras 3 and tf_keras): allowed anywhere, and the only
# objects a layer's recorded call arguments (inbound nodes) may hold besides plain JSON values.
DATA_WRAPPERS = frozenset({"__keras_tensor__", "__tuple__", "__numpy__", "__tensor__", "__bytes__",
                           "__slice__", "__ellipsis__"})
CALL_ARGUMENT_WRAPPERS = DATA_WRAPPERS | {"TensorShape"}
