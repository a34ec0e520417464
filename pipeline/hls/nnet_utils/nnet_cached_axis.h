// The AXI4-Stream edge of the streaming WaveNet: the packed word on the top level's ports, the
// per-sample packet the layers pass each other, and the two processes that convert between
// them. Registered with hls4ml by pipeline/hls/layers.py.
//
// One AXI4-Stream transfer carries one sample: every channel's word in a lane of its own
// (channel c in the low bits of the lane at bit c * LANE, a lane being the word rounded up to
// whole bytes), and TUSER[0], the start-of-stream flag, which tells every layer to forget its
// history before this sample. The flag travels with the sample through the layers and comes
// out in TUSER of the output sample computed from it. TLAST is not used (an audio stream has
// no packets): the output drives it 0, and TKEEP and TSTRB all ones.
#ifndef NNET_CACHED_AXIS_H_
#define NNET_CACHED_AXIS_H_

#include "ap_int.h"
#include "hls_stream.h"

// HLS directives go through _Pragma so that only the synthesis tool sees them: g++ (the C
// simulation) would warn about every `#pragma HLS` under -Wall. __SYNTHESIS__ is defined by
// Vitis/Vivado HLS while it synthesises.
#ifndef NNET_CACHED_HLS
#ifdef __SYNTHESIS__
#define NNET_CACHED_HLS(directive) _Pragma(#directive)
#else
#define NNET_CACHED_HLS(directive)
#endif
#endif

// A loop's label names it in the synthesis reports and directives; g++ would warn that it is
// never jumped to.
#ifndef NNET_CACHED_LOOP
#ifdef __SYNTHESIS__
#define NNET_CACHED_LOOP(name) name:
#else
#define NNET_CACHED_LOOP(name)
#endif
#endif

// Vitis HLS's ap_axiu when its header is on the include path (vitis_hls csim, synthesis and
// cosim); otherwise (plain g++ against hls4ml's ap_types, which ship hls_stream.h but not
// ap_axi_sdata.h) a definition with the same fields for the widths used here, so that the
// testbench and the C simulation build either way.
#if defined(__has_include)
#if __has_include(<ap_axi_sdata.h>)
#include <ap_axi_sdata.h>
#define NNET_CACHED_VITIS_AXIS 1
#endif
#endif

#ifndef NNET_CACHED_VITIS_AXIS
template <int D, int U, int TI, int TD> struct ap_axiu {
    ap_uint<D> data;
    ap_uint<(D + 7) / 8> keep;
    ap_uint<(D + 7) / 8> strb;
    ap_uint<U> user;
    ap_uint<1> last;
};
#endif

namespace nnet {

// One sample between two layers: a word per channel and the start-of-stream flag.
template <class T, unsigned N> struct cached_sample {
    T data[N];
    bool start;
};

// Where the words of a sample sit in an AXI4-Stream word: channel c in the low bits of the
// lane at bit c * LANE. `pack` sign-extends (SIGNED) or zero-extends each word to its lane.
template <class T, unsigned N, unsigned LANE> struct cached_lanes {
    static const unsigned width = T::width;

    template <class axis_T> static void unpack(const axis_T &word, T data[N]) {
        NNET_CACHED_HLS(HLS INLINE)
        for (unsigned c = 0; c < N; c++) {
            NNET_CACHED_HLS(HLS UNROLL)
            data[c].range(width - 1, 0) = word.data.range(LANE * c + width - 1, LANE * c);
        }
    }

    template <bool SIGNED, class axis_T> static void pack(const T data[N], axis_T &word) {
        NNET_CACHED_HLS(HLS INLINE)
        word.data = 0;
        for (unsigned c = 0; c < N; c++) {
            NNET_CACHED_HLS(HLS UNROLL)
            const ap_uint<width> bits = data[c].range(width - 1, 0);
            const ap_int<LANE> lane = SIGNED ? ap_int<LANE>(ap_int<width>(bits)) : ap_int<LANE>(bits);
            word.data.range(LANE * c + LANE - 1, LANE * c) = lane.range(LANE - 1, 0);
        }
    }
};

// Input process: one AXI4-Stream word in, one sample to the first layer.
template <class data_T, unsigned N, unsigned LANE, class axis_T>
void cached_axis_in(hls::stream<axis_T> &s_axis, hls::stream<cached_sample<data_T, N> > &output) {
    NNET_CACHED_HLS(HLS INLINE off)
    const axis_T word = s_axis.read();
    cached_sample<data_T, N> sample;
    cached_lanes<data_T, N, LANE>::unpack(word, sample.data);
    sample.start = word.user[0] == 1;
    output.write(sample);
}

// Output process: one sample from the last layer, one AXI4-Stream word out.
template <class res_T, unsigned N, unsigned LANE, bool SIGNED, class axis_T>
void cached_axis_out(hls::stream<cached_sample<res_T, N> > &input, hls::stream<axis_T> &m_axis) {
    NNET_CACHED_HLS(HLS INLINE off)
    const cached_sample<res_T, N> sample = input.read();
    axis_T word;
    cached_lanes<res_T, N, LANE>::template pack<SIGNED>(sample.data, word);
    word.user = sample.start ? 1 : 0;
    word.keep = ~decltype(word.keep)(0);
    word.strb = ~decltype(word.strb)(0);
    word.last = 0;
    m_axis.write(word);
}

} // namespace nnet

#endif
