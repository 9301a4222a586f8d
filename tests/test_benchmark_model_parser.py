"""The benchmark_model output parser, on text in the tool's documented format (no phone here)."""
import pytest

from edgekit.targets.android.benchmark_model import BenchmarkOutputError, parse

# A 2025+ LiteRT build with --enable_op_profiling and --report_peak_memory_footprint (microseconds).
WITH_PROFILE = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Num threads: [4]
INFO: Graph: [/data/local/tmp/edgekit/model_int8.tflite]
INFO: Enable op profiling: [1]
INFO: Loaded model /data/local/tmp/edgekit/model_int8.tflite
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: Replacing 9 out of 10 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for the whole graph.
INFO: The input model file size (MB): 0.481712
INFO: Initialized session in 12.5ms.
INFO: Running benchmark for at least 20 iterations and at least 0 seconds but terminate if exceeding 600 seconds.
INFO: count=20 first=2210 curr=1402 min=1380 max=2210 avg=1490.5 std=180 p5=1380 median=1411 p95=2210

INFO: Running benchmark for at least 100 iterations and at least 0 seconds but terminate if exceeding 600 seconds.
INFO: count=100 first=1420 curr=1398 min=1350 max=1702 avg=1404.2 std=41 p5=1362 median=1399 p95=1480

INFO: [Init Phase] - Memory usage: max resident set size = 9.1 MB, total malloc-ed size = 3.2 MB
INFO: Inference timings in us: Init: 12500, First inference: 2210, Warmup (avg): 1490.5, Inference (avg): 1404.2
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=2.8125 overall=3.9609
INFO: Overall peak memory footprint (MB) via periodic monitoring: 11.6562
INFO: Profiling Info for Benchmark Initialization:
============================== Run Order ==============================
\t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t ModifyGraphWithDelegate\t    3.100\t    3.100\t 80.000%\t 80.000%\t   512.000\t        1\tModifyGraphWithDelegate/0
\t         AllocateTensors\t    0.775\t    0.775\t 20.000%\t100.000%\t    64.000\t        1\tAllocateTensors/0

INFO: Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
\t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t   TfLiteXNNPackDelegate\t    1.300\t    1.290\t 95.556%\t 95.556%\t     0.000\t        1\t[fashion_teacher/probs/MatMul;fashion_teacher/probs/BiasAdd]:10
\t                 SOFTMAX\t    0.070\t    0.060\t  4.444%\t100.000%\t     0.000\t        1\t[StatefulPartitionedCall:0]:9

============================== Top by Computation Time ==============================
\t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t   TfLiteXNNPackDelegate\t    1.300\t    1.290\t 95.556%\t 95.556%\t     0.000\t        1\t[fashion_teacher/probs/MatMul;fashion_teacher/probs/BiasAdd]:10

Number of nodes executed: 2
============================== Summary by node type ==============================
\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
\t   TfLiteXNNPackDelegate\t        1\t     1.290\t    95.556%\t    95.556%\t     0.000\t        1

Timings (microseconds): count=100 first=1370 curr=1345 min=1301 max=1650 avg=1350 std=40
Memory (bytes): count=0
2 nodes observed
"""

# An older build: no percentiles, "Average inference timings" line, README's Run Order layout with [start].
OLD_FORMAT = """\
Loaded model mobilenet_quant_v1_224.tflite
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=12 first=156677 curr=33205 min=32578 max=156677 avg=43268.1 std=34197

Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=33228 curr=33130 min=32687 max=33239 avg=33071.8 std=129

Average inference timings in us: Warmup: 43268.1, Init: 3501, Inference: 33071.8
"""

OLD_OP_TABLE = """\
Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
\t             [node type]\t  [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t                 CONV_2D\t    0.000\t    4.269\t    4.269\t  0.107%\t  0.107%\t     0.000\t        0\t[MobilenetV1/Conv2d_0/Relu6]
\t       DEPTHWISE_CONV_2D\t    4.270\t    2.150\t    2.150\t  0.054%\t  0.161%\t     0.000\t        0\t[MobilenetV1/Conv2d_1_depthwise/Relu6]

"""

LOGCAT = """\
07-14 13:14:52.115 22838 22838 I tflite  : Replacing 539 out of 548 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 19 partitions for subgraph 0.
07-14 13:14:52.859 22838 22838 I tflite  : Running benchmark for at least 3 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
07-14 13:14:52.859 22838 22838 I tflite  : count=3 first=235158 curr=200386 min=199462 max=235158 avg=211669 std=16613 p5=199462 median=200386 p95=235158
07-14 13:14:52.860 22838 22838 I tflite  : Running benchmark for at least 25 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
07-14 13:14:56.520 22838 22838 I tflite  : count=25 first=187533 curr=140990 min=140071 max=195121 avg=145528 std=13583 p5=140545 median=141253 p95=187533
07-14 13:14:56.521 22838 22838 I tflite  : Inference timings in us: Init: 92318, First inference: 235158, Warmup (avg): 211669, Inference (avg): 145528
"""


def test_parse_reads_the_timed_runs_not_the_warm_up_and_converts_to_ms():
    r = parse(WITH_PROFILE)
    assert r["runs"] == 100
    assert r["mean_ms"] == 1.4042 and r["min_ms"] == 1.35 and r["max_ms"] == 1.702 and r["std_ms"] == 0.041
    assert r["p50_ms"] == 1.399 and r["p5_ms"] == 1.362 and r["p95_ms"] == 1.48
    assert r["init_ms"] == 12.5 and r["first_inference_ms"] == 2.21 and r["warmup_avg_ms"] == 1.4905


def test_parse_reads_peak_memory_delegation_and_the_regular_runs_op_table():
    r = parse(WITH_PROFILE)
    assert r["peak_memory_mb"] == 11.6562
    assert r["memory_delta_mb"] == {"init": 2.8125, "overall": 3.9609}
    assert r["delegation"] == [{"delegate": "TfLiteXNNPackDelegate", "replaced_nodes": 9, "total_nodes": 10,
                                "partitions": 1}]
    assert [op["node_type"] for op in r["ops"]] == ["TfLiteXNNPackDelegate", "SOFTMAX"]  # not the init table
    softmax = r["ops"][1]
    assert softmax["avg_ms"] == 0.06 and softmax["percent"] == 4.444 and softmax["name"].startswith("StatefulPartitionedCall")


def test_parse_older_builds_without_percentiles_leaves_p50_empty():
    r = parse(OLD_FORMAT + OLD_OP_TABLE)
    assert r["runs"] == 50 and r["mean_ms"] == 33.0718 and r["p50_ms"] is None
    assert r["init_ms"] == 3.501 and r["warmup_avg_ms"] == 43.2681 and r["peak_memory_mb"] is None
    assert [op["node_type"] for op in r["ops"]] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    assert r["ops"][0]["start_ms"] == 0.0 and r["ops"][1]["avg_ms"] == 2.15


def test_parse_reads_logcat_lines():
    r = parse(LOGCAT)
    assert r["runs"] == 25 and r["p50_ms"] == 141.253 and r["init_ms"] == 92.318
    assert r["delegation"][0]["replaced_nodes"] == 539 and r["delegation"][0]["partitions"] == 19


def test_parse_failed_run_raises_with_the_tool_s_reason():
    text = "INFO: Created TensorFlow Lite delegate for GPU.\nERROR: Failed to apply GPU delegate.\nBenchmarking failed.\n"
    with pytest.raises(BenchmarkOutputError, match="Failed to apply GPU delegate"):
        parse(text)


# TF >= 2.9.1 with XNNPACK: the delegate's own operators are rows of the table, their node types hold
# spaces; cells are tab-separated as tsl's StatsCalculator prints them.
XNNPACK_OPS = """\
Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
\t                     [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t   Convolution (NHWC, F32) IGEMM\t    0.412\t    0.398\t 61.230%\t 61.230%\t     0.000\t        1\tDelegate/Convolution (NHWC, F32) IGEMM:0
\t  Fully Connected (NC, F32) GEMM\t    0.230\t    0.212\t 32.615%\t 93.845%\t     0.000\t        1\tDelegate/Fully Connected (NC, F32) GEMM:3
\t                         SOFTMAX\t    0.041\t    0.040\t  6.154%\t100.000%\t     0.000\t        1\t[StatefulPartitionedCall:0]:4

"""


def test_parse_op_table_keeps_xnnpack_node_types_with_spaces_whole():
    r = parse(OLD_FORMAT + XNNPACK_OPS)
    assert [op["node_type"] for op in r["ops"]] == ["Convolution (NHWC, F32) IGEMM", "Fully Connected (NC, F32) GEMM",
                                                     "SOFTMAX"]
    conv = r["ops"][0]
    assert conv["first_ms"] == 0.412 and conv["avg_ms"] == 0.398 and conv["percent"] == 61.23
    assert conv["times_called"] == 1.0 and conv["name"] == "Delegate/Convolution (NHWC, F32) IGEMM:0"
    assert r["ops"][2]["name"] == "StatefulPartitionedCall:0"


def test_parse_op_table_without_tabs_still_reads_bracketed_names():
    r = parse(OLD_FORMAT + OLD_OP_TABLE.replace("\t", "  "))
    assert [op["node_type"] for op in r["ops"]] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    assert r["ops"][0]["name"] == "MobilenetV1/Conv2d_0/Relu6" and r["ops"][1]["avg_ms"] == 2.15


def test_parse_all_same_stats_line_gives_min_max_and_mean():
    text = ("Running benchmark for at least 5 iterations and at least 0 seconds but terminate if exceeding 300 seconds.\n"
            "count=5 curr=2000(all same)\n")
    r = parse(text)
    assert r["runs"] == 5 and r["mean_ms"] == r["min_ms"] == r["max_ms"] == 2.0 and r["std_ms"] == 0.0


def test_parse_no_finished_run_raises():
    text = ("Running benchmark for at least 50 iterations and at least 0 seconds but terminate if exceeding 1 seconds.\n"
            "count=0\n\nInference timings in us: Init: 5000, First inference: 900000, Warmup (avg): 900000, "
            "Inference (avg): nan\n")
    with pytest.raises(BenchmarkOutputError, match="no timed run"):
        parse(text)
