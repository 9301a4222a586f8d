"""The TensorFlow ops a SavedModel edgekit loads may contain: an allowlist of pure compute.

Anything not listed — file, reader, summary, debug, dataset, Python-callback ops, and whatever a
future TensorFlow adds — is refused before any function is traced or called. Checkpoint I/O is
allowed only in the saver (the functions reachable from the nodes `saver_def` names, and the
top-level graph's `save/` nodes), which every SavedModel has for restoring its variables.

The lists were built from the graphs TensorFlow writes for keras.applications backbones, RNN,
attention and common layers (both Keras versions, `model.export()` and `model.save(format="tf")`),
plus the math, array, nn and control-flow ops those graphs can equally use.
"""
from __future__ import annotations

ARRAY = """
Const Identity IdentityN Placeholder PlaceholderWithDefault NoOp Reshape Squeeze ExpandDims Transpose
ConjugateTranspose ConcatV2 Concat Pack Unpack Split SplitV Slice StridedSlice TensorStridedSliceUpdate Tile
Pad PadV2 MirrorPad Gather GatherV2 GatherNd ScatterNd TensorScatterUpdate TensorScatterAdd TensorScatterSub
TensorScatterMax TensorScatterMin Shape ShapeN Size Rank Fill ZerosLike OnesLike Range Cast Bitcast
BroadcastTo BroadcastArgs BroadcastGradientArgs Reverse ReverseV2 ReverseSequence Where Select SelectV2 OneHot
DepthToSpace SpaceToDepth SpaceToBatchND BatchToSpaceND ResizeBilinear ResizeNearestNeighbor ResizeBicubic
ResizeArea ScaleAndTranslate ExtractImagePatches EnsureShape StopGradient PreventGradient Snapshot Einsum
MatrixBandPart MatrixDiag MatrixDiagV2 MatrixDiagV3 MatrixDiagPart MatrixDiagPartV2 MatrixDiagPartV3
MatrixSetDiag MatrixSetDiagV2 MatrixSetDiagV3 TopKV2 ArgMax ArgMin Unique UniqueV2 Bucketize Cumsum Cumprod
UnsortedSegmentSum UnsortedSegmentMax UnsortedSegmentMin UnsortedSegmentProd SegmentSum SegmentMean SegmentMax
SegmentMin SegmentProd InvertPermutation Roll LinSpace Diag DiagPart Conj Real Imag Complex ComplexAbs Angle
CheckNumerics CheckNumericsV2 Assert EmptyTensorList ListDiff SetSize SparseToDense AdjustContrastv2
AdjustSaturation AdjustHue RGBToHSV HSVToRGB ImageProjectiveTransformV2 ImageProjectiveTransformV3
CropAndResize DenseBincount Bincount HistogramFixedWidth LowerBound UpperBound
"""
MATH = """
Add AddV2 AddN Sub Mul MulNoNan Div DivNoNan RealDiv FloorDiv FloorMod TruncateDiv TruncateMod Mod Pow Maximum
Minimum Neg Abs Sign Square Sqrt Rsqrt Exp Expm1 Log Log1p Sin Cos Tan Asin Acos Atan Atan2 Sinh Cosh Tanh
Asinh Acosh Atanh Erf Erfc Erfinv Ndtri Floor Ceil Round Rint Reciprocal Inv SquaredDifference Sigmoid
Softplus Softsign Relu Relu6 Elu Selu LeakyRelu Softmax LogSoftmax Mean Sum Prod Max Min All Any Equal
NotEqual Less LessEqual Greater GreaterEqual LogicalAnd LogicalOr LogicalNot IsNan IsInf IsFinite
ClipByValue MatMul BatchMatMul BatchMatMulV2 BatchMatMulV3 Lgamma Digamma Xlogy Xdivy Xlog1py BiasAdd
BiasAddV1 L2Loss ApproximateEqual BitwiseAnd BitwiseOr BitwiseXor Invert LeftShift RightShift EuclideanNorm
MatrixInverse MatrixDeterminant Cholesky Qr Svd SelfAdjointEigV2 MatrixSolve MatrixTriangularSolve
BesselI0e BesselI1e Betainc Igamma Igammac Zeta Polygamma NextAfter
"""
NN = """
Conv2D Conv3D DepthwiseConv2dNative Conv2DBackpropInput Conv3DBackpropInputV2
DepthwiseConv2dNativeBackpropInput MaxPool MaxPoolV2 MaxPool3D MaxPoolWithArgmax AvgPool AvgPool3D
FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3 BatchNormWithGlobalNormalization LRN Dilation2D
QuantizeAndDequantizeV2 QuantizeAndDequantizeV3 QuantizeAndDequantizeV4 FakeQuantWithMinMaxVars
FakeQuantWithMinMaxVarsPerChannel FakeQuantWithMinMaxArgs InTopKV2 CTCGreedyDecoder
"""
CONTROL_FLOW = """
If StatelessIf While StatelessWhile Case StatelessCase PartitionedCall StatefulPartitionedCall Switch Merge
Enter Exit NextIteration LoopCond ControlTrigger TensorListReserve TensorListFromTensor TensorListStack
TensorListGetItem TensorListSetItem TensorListLength TensorListElementShape TensorListPushBack
TensorListPopBack TensorListConcatV2 TensorListSplit TensorListGather TensorListScatterIntoExistingList
TensorArrayV3 TensorArrayReadV3 TensorArrayWriteV3 TensorArrayGatherV3 TensorArrayScatterV3
TensorArraySizeV3 TensorArrayConcatV3 TensorArraySplitV3 TensorArrayCloseV3
"""
VARIABLES = """
VarHandleOp ReadVariableOp AssignVariableOp AssignAddVariableOp AssignSubVariableOp VarIsInitializedOp
DestroyResourceOp DisableCopyOnRead VariableV2 Variable Assign AssignAdd AssignSub IsVariableInitialized ResourceGather
ResourceGatherNd HashTableV2 MutableHashTableV2 LookupTableFindV2 LookupTableImportV2 LookupTableSizeV2
InitializeTableV2
"""
RANDOM = """
RandomUniform RandomUniformInt RandomStandardNormal TruncatedNormal Multinomial RandomShuffle
StatelessRandomUniform StatelessRandomUniformV2 StatelessRandomUniformInt StatelessRandomUniformIntV2
StatelessRandomNormal StatelessRandomNormalV2 StatelessTruncatedNormal StatelessTruncatedNormalV2
StatelessRandomGetKeyCounter StatelessRandomGetKeyCounterAlg StatelessRandomGetAlg
StatelessRandomUniformFullIntV2 RngReadAndSkip RngSkip StatefulUniform StatefulUniformInt
StatefulStandardNormalV2 StatefulTruncatedNormal StatelessMultinomial
"""
RNN = """
CudnnRNN CudnnRNNV2 CudnnRNNV3 CudnnRNNBackprop CudnnRNNBackpropV2 CudnnRNNBackpropV3 CudnnRNNParamsSize
CudnnRNNParamsToCanonical CudnnRNNParamsToCanonicalV2 CudnnRNNCanonicalToParams CudnnRNNCanonicalToParamsV2
BlockLSTM BlockLSTMV2 LSTMBlockCell GRUBlockCell
"""
# tf_keras SavedModels keep the backward functions of layers with a GPU path (LSTM/GRU)
GRADIENTS = """
ConcatOffset ReluGrad Relu6Grad EluGrad SeluGrad LeakyReluGrad SoftplusGrad SoftsignGrad SigmoidGrad TanhGrad
RsqrtGrad SqrtGrad ReciprocalGrad InvGrad BiasAddGrad Conv2DBackpropFilter Conv3DBackpropFilterV2
DepthwiseConv2dNativeBackpropFilter MaxPoolGrad MaxPoolGradV2 MaxPoolGradGrad AvgPoolGrad FusedBatchNormGrad
FusedBatchNormGradV2 FusedBatchNormGradV3 ResizeBilinearGrad ResizeNearestNeighborGrad ResizeBicubicGrad
TileGrad CudnnRNNBackprop BlockLSTMGrad BlockLSTMGradV2 LSTMBlockCellGrad GRUBlockCellGrad
SoftmaxCrossEntropyWithLogits SparseSoftmaxCrossEntropyWithLogits Unpack ZerosLike
"""
SAVER = """
SaveV2 RestoreV2 MergeV2Checkpoints ShardedFilename ShardedFilespec StringJoin StaticRegexFullMatch Save
SaveSlices Restore RestoreSlice
"""

ALLOWED = set((ARRAY + MATH + NN + CONTROL_FLOW + VARIABLES + RANDOM + RNN + GRADIENTS).split())
SAVER_ONLY = set(SAVER.split())
