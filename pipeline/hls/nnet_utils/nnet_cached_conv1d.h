// Causal dilated 1-D convolution with cached activations, one sample per call.
//
// Registered with hls4ml by pipeline/hls/layers.py; each layer instance gets its own config
// struct, hence its own template instance and its own static caches.
//
// The cache is K-1 delay lines of `dilation` input vectors each, in series: line j holds the
// input delayed by j*dilation samples. All lines share one head index that advances modulo
// `dilation`, so each line does one read and one write per sample at the same address (a
// dual-port RAM, or registers when small) and nothing is ever shifted. A reset clears the
// head and a fill counter; taps older than the samples seen since the reset read as zero,
// which is exactly the zero history of the Keras model, without a clearing loop.
//
// Products are exact and summed with the bias in accum_t, which pipeline/hls sizes for the
// worst case of the exported weights. A layer whose config says `relu` sets negative sums to
// 0 (by name: an unsigned result type would do it too, but a signed override must not undo
// the ReLU); the assignment to res_t then rounds half to even and saturates (AP_RND_CONV,
// AP_SAT), as QKeras's quantisers do.
#ifndef NNET_CACHED_CONV1D_H_
#define NNET_CACHED_CONV1D_H_

#include "nnet_common.h"

// HLS directives go through _Pragma so that only the synthesis tool sees them: g++ (the C
// simulation) would warn about every `#pragma HLS` under -Wall. __SYNTHESIS__ is defined by
// Vitis/Vivado HLS while it synthesises.
#ifdef __SYNTHESIS__
#define NNET_CACHED_HLS(directive) _Pragma(#directive)
#else
#define NNET_CACHED_HLS(directive)
#endif

namespace nnet {

struct cached_conv1d_config {
    static const unsigned n_in = 1;
    static const unsigned n_out = 1;
    static const unsigned kernel_size = 2;
    static const unsigned dilation = 1;
    static const unsigned reuse_factor = 1;
    static const unsigned multiplier_limit = 1;
    static const bool relu = false;
    typedef ap_uint<1> head_t;
    typedef ap_uint<1> fill_t;
    typedef float accum_t;
    typedef float weight_t;
    typedef float bias_t;
};

// A fixed-point weight: the full-width product, converted exactly to the accumulator.
template <class accum_T, class x_T, class w_T> struct cached_product_fixed {
    static accum_T product(x_T x, w_T w) {
        NNET_CACHED_HLS(HLS INLINE)
        return accum_T(x * w);
    }
};

// A power-of-two weight (hls4ml's exponent type: sign 1 is positive): a shift, no multiplier.
template <class accum_T, class x_T, class w_T> struct cached_product_po2 {
    static accum_T product(x_T x, w_T w) {
        NNET_CACHED_HLS(HLS INLINE)
        accum_T shifted = accum_T(x) << w.weight;
        return w.sign == 1 ? shifted : accum_T(-shifted);
    }
};

// A po2 kernel with exact zeros (QKeras flushes 2^shift below 2^-126 to 0): the shift
// zero_shift, outside the kernel's range, stands for a zero weight.
template <class accum_T, class x_T, class w_T, int zero_shift> struct cached_product_po2_or_zero {
    static accum_T product(x_T x, w_T w) {
        NNET_CACHED_HLS(HLS INLINE)
        if (w.weight == zero_shift) {
            return accum_T(0);
        }
        return cached_product_po2<accum_T, x_T, w_T>::product(x, w);
    }
};

template <class data_T, class res_T, typename CONFIG_T>
void cached_conv1d(const data_T x[CONFIG_T::n_in], const bool reset, res_T y[CONFIG_T::n_out],
                   const typename CONFIG_T::weight_t weights[CONFIG_T::kernel_size * CONFIG_T::n_in * CONFIG_T::n_out],
                   const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    static const unsigned n_lines = CONFIG_T::kernel_size > 1 ? CONFIG_T::kernel_size - 1 : 1;
    static const unsigned filled_max = (CONFIG_T::kernel_size - 1) * CONFIG_T::dilation;
    static data_T lines[n_lines][CONFIG_T::dilation][CONFIG_T::n_in];
    static typename CONFIG_T::head_t head = 0;
    static typename CONFIG_T::fill_t filled = 0;
    NNET_CACHED_HLS(HLS ARRAY_PARTITION variable=lines complete dim=1)
    NNET_CACHED_HLS(HLS ARRAY_PARTITION variable=lines complete dim=3)
    NNET_CACHED_HLS(HLS ALLOCATION operation instances=mul limit=CONFIG_T::multiplier_limit)

    if (reset) {
        head = 0;
        filled = 0;
    }

    // taps[j] is the input j*dilation samples ago; taps[0] is this sample.
    data_T taps[CONFIG_T::kernel_size][CONFIG_T::n_in];
    NNET_CACHED_HLS(HLS ARRAY_PARTITION variable=taps complete dim=0)
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        NNET_CACHED_HLS(HLS UNROLL)
        taps[0][i] = x[i];
    }
    for (unsigned j = 1; j < CONFIG_T::kernel_size; j++) {
        NNET_CACHED_HLS(HLS UNROLL)
        const bool seen = filled >= j * CONFIG_T::dilation;
        for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
            NNET_CACHED_HLS(HLS UNROLL)
            const data_T delayed = lines[j - 1][head][i];
            lines[j - 1][head][i] = taps[j - 1][i];
            taps[j][i] = seen ? delayed : data_T(0);
        }
    }
    head = (head == CONFIG_T::dilation - 1) ? typename CONFIG_T::head_t(0) : typename CONFIG_T::head_t(head + 1);
    if (filled < filled_max) {
        filled++;
    }

    typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
    NNET_CACHED_HLS(HLS ARRAY_PARTITION variable=acc complete)
    for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
        NNET_CACHED_HLS(HLS UNROLL)
        acc[o] = biases[o];
    }
    // Kernel tap k multiplies the input (K-1-k)*dilation samples ago (Keras's causal order).
    for (unsigned k = 0; k < CONFIG_T::kernel_size; k++) {
        NNET_CACHED_HLS(HLS UNROLL)
        for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
            NNET_CACHED_HLS(HLS UNROLL)
            for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
                NNET_CACHED_HLS(HLS UNROLL)
                const unsigned index = (k * CONFIG_T::n_in + i) * CONFIG_T::n_out + o;
                acc[o] += CONFIG_T::template product<typename CONFIG_T::accum_t, data_T,
                                                     typename CONFIG_T::weight_t>::product(
                    taps[CONFIG_T::kernel_size - 1 - k][i], weights[index]);
            }
        }
    }
    for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
        NNET_CACHED_HLS(HLS UNROLL)
        if (CONFIG_T::relu && acc[o] < 0) {
            acc[o] = 0;
        }
        y[o] = acc[o];
    }
}

} // namespace nnet

#endif
