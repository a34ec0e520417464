// Top level of ${project}, written by pipeline/hls (docs/hls.md).
//
// A DATAFLOW region of processes connected by streams: the AXI4-Stream input, one process per
// layer (each folded, with its own II), and the AXI4-Stream output. The processes work on
// successive samples side by side, so the design takes a sample every interval of its slowest
// layer. ap_ctrl_none: no start/done handshake; the streams' TVALID/TREADY pace everything.
#include "${project}.h"
#include "parameters.h"

void ${project}(hls::stream<input_axis_t> &s_axis, hls::stream<output_axis_t> &m_axis) {
    NNET_CACHED_HLS(HLS INTERFACE axis port=s_axis)
    NNET_CACHED_HLS(HLS INTERFACE axis port=m_axis)
    NNET_CACHED_HLS(HLS INTERFACE ap_ctrl_none port=return)
    NNET_CACHED_HLS(HLS DATAFLOW)

${streams}

    nnet::cached_axis_in<${input_t}, ${n_in}, ${in_lane}>(s_axis, ${input_var});
${layers}
    nnet::cached_axis_out<${result_t}, ${n_out}, ${out_lane}, ${out_signed}>(${output_var}, m_axis);
}
