// Top level of ${project}, written by pipeline/hls (docs/hls.md): one AXI4-Stream sample in,
// one out. Port table and timing: README.md.
#ifndef ${guard}
#define ${guard}

#include "ap_fixed.h"
#include "ap_int.h"
#include "hls_stream.h"

#include "defines.h"
#include "nnet_utils/nnet_cached_axis.h"

// TDATA lanes: a word per channel, each in a lane of whole bytes.
static const unsigned ${project}_input_channels = ${n_in};
static const unsigned ${project}_input_lane = ${in_lane};
static const unsigned ${project}_output_channels = ${n_out};
static const unsigned ${project}_output_lane = ${out_lane};
static const bool ${project}_input_signed = ${in_signed};
static const bool ${project}_output_signed = ${out_signed};

// TDATA, then TUSER: 1 bit, the start-of-stream flag (no TID, no TDEST).
typedef ap_axiu<${in_width}, 1, 0, 0> input_axis_t;
typedef ap_axiu<${out_width}, 1, 0, 0> output_axis_t;

void ${project}(hls::stream<input_axis_t> &s_axis, hls::stream<output_axis_t> &m_axis);

#endif
