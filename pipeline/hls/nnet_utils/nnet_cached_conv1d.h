// Causal dilated 1-D convolution with cached activations, folded: one sample per call, a
// fixed number of product units working through the layer's products over `passes` clocks.
//
// Registered with hls4ml by pipeline/hls/layers.py; each layer instance gets its own config
// struct (firmware/parameters.h), hence its own template instance and its own static state.
// docs/hls.md describes the schedule and why each directive is there.
//
// Products. A sample costs K * n_in * n_out products: rows n = i * K + j (input channel i,
// tap j = the input j * dilation samples ago, kernel index K-1-j) by output channels. The
// fold (pipeline/fixed/folding.py) puts `rows` row lanes by `outputs` output lanes of product
// units side by side. Row lane l takes the rows n = q * rows + l (q = 0 .. row_passes-1);
// output lanes sweep the output channels in `output_passes` groups of `outputs`. One pass of
// the pipelined loop (II 1) does every lane's product, so the loop takes `passes` =
// row_passes * output_passes clocks, hls4ml's ReuseFactor. Each output lane accumulates a
// group's rows from the bias; the group's last pass rounds the sums into the output.
//
// Cache. Row lane l keeps, in one memory of its own, a delay line of `dilation` words for each
// of its rows with tap j >= 1 (slot s at addresses s * dilation .. + dilation - 1). One head,
// advancing modulo the dilation, addresses every line; in the last output group, the pass
// that reads row (i, j) writes in the same word the word row (i, j-1) read (tap j-1: the
// sample itself for j = 1), so line (i, j) delays channel i by j * dilation samples. Row
// (i, j-1) is read in the same pass by row lane l-1, or, for l = 0, by the last row lane in
// the pass before, so every word written is at hand. No word is read after it is written
// within a sample: the loop carries no dependence through the memories. A start-of-stream
// flag clears the head and a fill counter; a tap older than the samples seen since then
// reads as zero (the Keras model's causal zero padding), with no clearing loop.
//
// Arithmetic. Products are exact and summed with the bias in accum_t, which pipeline/hls sizes
// for the worst case of the exported weights. A layer whose config says `relu` sets negative
// sums to 0 (by name: an unsigned result type would do it too, but a signed override must not
// undo the ReLU); the assignment to res_t then rounds half to even and saturates (AP_RND_CONV,
// AP_SAT), as QKeras's quantisers do.
#ifndef NNET_CACHED_CONV1D_H_
#define NNET_CACHED_CONV1D_H_

#include "nnet_common.h"
#include "nnet_cached_axis.h"

namespace nnet {

// Bits that hold every value 0 .. N.
template <unsigned long N> struct cached_bits {
    static const unsigned value = N < 2 ? 1 : 1 + cached_bits<N / 2>::value;
};
template <> struct cached_bits<0> {
    static const unsigned value = 1;
};

struct cached_conv1d_config {
    static const unsigned n_in = 1;
    static const unsigned n_out = 1;
    static const unsigned kernel_size = 2;
    static const unsigned dilation = 1;
    // The fold: outputs x rows product lanes, passes = row_passes x output_passes clocks.
    static const unsigned outputs = 1;
    static const unsigned rows = 1;
    static const unsigned row_passes = 2;
    static const unsigned output_passes = 1;
    static const unsigned passes = 2;
    static const unsigned lanes = 1;
    static const unsigned line_slots = 1; // delay lines per row lane (its rows with tap >= 1)
    static const bool relu = false;
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

// `weights`: lane-major, lane k = l * outputs + o at k * passes + pass (so that a block
// reshape by `lanes` puts each lane's weights in one bank, a pass's weights in one word);
// `biases`: output-lane-major, output g * outputs + o at o * output_passes + g. Padding
// (beyond the layer's rows or outputs) is never used.
template <class data_T, class res_T, typename CONFIG_T>
void cached_conv1d(hls::stream<cached_sample<data_T, CONFIG_T::n_in> > &input,
                   hls::stream<cached_sample<res_T, CONFIG_T::n_out> > &output,
                   const typename CONFIG_T::weight_t weights[CONFIG_T::lanes * CONFIG_T::passes],
                   const typename CONFIG_T::bias_t biases[CONFIG_T::outputs * CONFIG_T::output_passes]) {
    typedef typename CONFIG_T::accum_t accum_t;
    static const unsigned K = CONFIG_T::kernel_size;
    static const unsigned D = CONFIG_T::dilation;
    static const unsigned ROWS = CONFIG_T::rows;
    static const unsigned OUTPUTS = CONFIG_T::outputs;
    static const unsigned row_count = K * CONFIG_T::n_in;
    static const unsigned history = (K - 1) * D;
    static const unsigned line_words = CONFIG_T::line_slots * D > 0 ? CONFIG_T::line_slots * D : 1;
    typedef ap_uint<cached_bits<(CONFIG_T::row_passes * ROWS) / K + 1>::value> channel_t;
    typedef ap_uint<cached_bits<K>::value> tap_t;
    typedef ap_uint<cached_bits<line_words>::value> address_t;

    static data_T lines[ROWS][line_words];
    typedef ap_uint<cached_bits<D - 1>::value> head_t;
    static head_t head = 0;
    static ap_uint<cached_bits<history>::value> filled = 0;
    NNET_CACHED_HLS(HLS INLINE off)
    NNET_CACHED_HLS(HLS RESET variable=head)
    NNET_CACHED_HLS(HLS RESET variable=filled)
    NNET_CACHED_HLS(HLS ARRAY_PARTITION variable=lines complete dim=1)
    NNET_CACHED_HLS(HLS ARRAY_RESHAPE variable=weights block factor=CONFIG_T::lanes dim=1)
    NNET_CACHED_HLS(HLS ARRAY_RESHAPE variable=biases block factor=CONFIG_T::outputs dim=1)
    NNET_CACHED_HLS(HLS ALLOCATION operation instances=mul limit=CONFIG_T::lanes)

    const cached_sample<data_T, CONFIG_T::n_in> sample = input.read();
    if (sample.start) {
        head = 0;
        filled = 0;
    }
    // seen[j]: tap j holds a sample of this stream (else it reads as zero).
    bool seen[K];
    NNET_CACHED_HLS(HLS ARRAY_PARTITION variable=seen complete)
    for (unsigned j = 0; j < K; j++) {
        NNET_CACHED_HLS(HLS UNROLL)
        seen[j] = filled >= j * D;
    }

    // Each row lane's current row (channel, tap) and its delay-line slot (slot * D).
    channel_t channel[ROWS];
    tap_t tap[ROWS];
    address_t slot[ROWS];
    data_T words[ROWS];
    NNET_CACHED_HLS(HLS ARRAY_PARTITION variable=channel complete)
    NNET_CACHED_HLS(HLS ARRAY_PARTITION variable=tap complete)
    NNET_CACHED_HLS(HLS ARRAY_PARTITION variable=slot complete)
    NNET_CACHED_HLS(HLS ARRAY_PARTITION variable=words complete)
    accum_t acc[OUTPUTS];
    NNET_CACHED_HLS(HLS ARRAY_PARTITION variable=acc complete)
    res_T results[OUTPUTS][CONFIG_T::output_passes];
    NNET_CACHED_HLS(HLS ARRAY_PARTITION variable=results complete dim=0)
    data_T carried = 0; // the word the last row lane read in the pass before
    ap_uint<cached_bits<CONFIG_T::row_passes>::value> q = 0;
    ap_uint<cached_bits<CONFIG_T::output_passes>::value> group = 0;

    NNET_CACHED_LOOP(passes)
    for (unsigned pass = 0; pass < CONFIG_T::passes; pass++) {
        NNET_CACHED_HLS(HLS PIPELINE II=1)
        NNET_CACHED_HLS(HLS DEPENDENCE variable=lines inter false)
        const bool last_group = group == CONFIG_T::output_passes - 1;
        data_T operands[ROWS];
        NNET_CACHED_HLS(HLS ARRAY_PARTITION variable=operands complete)
        for (unsigned l = 0; l < ROWS; l++) {
            NNET_CACHED_HLS(HLS UNROLL)
            // Lane l has rows l, l + ROWS, ...: ceil((row_count - l) / ROWS) of them.
            const bool real = q < (row_count - l + ROWS - 1) / ROWS;
            const channel_t i = q == 0 ? channel_t(l / K) : channel[l];
            const tap_t j = q == 0 ? tap_t(l % K) : tap[l];
            const address_t s = q == 0 ? address_t(0) : slot[l];
            const address_t address = s + head;
            data_T word = 0;
            if (real) {
                word = j == 0 ? sample.data[i] : lines[l][address];
            }
            words[l] = word;
            operands[l] = real && seen[j] ? word : data_T(0);
            if (real && j != 0 && last_group) {
                lines[l][address] = l == 0 ? carried : words[l == 0 ? 0 : l - 1];
            }
            // The next row of this lane: ROWS rows on.
            const unsigned wrapped = j + ROWS % K;
            tap[l] = wrapped >= K ? tap_t(wrapped - K) : tap_t(wrapped);
            channel[l] = i + ROWS / K + (wrapped >= K ? 1 : 0);
            slot[l] = j != 0 ? address_t(s + D) : s;
        }
        carried = words[ROWS - 1];

        for (unsigned o = 0; o < OUTPUTS; o++) {
            NNET_CACHED_HLS(HLS UNROLL)
            accum_t sum = q == 0 ? accum_t(biases[o * CONFIG_T::output_passes + group]) : acc[o];
            for (unsigned l = 0; l < ROWS; l++) {
                NNET_CACHED_HLS(HLS UNROLL)
                sum += CONFIG_T::template product<accum_t, data_T, typename CONFIG_T::weight_t>::product(
                    operands[l], weights[(l * OUTPUTS + o) * CONFIG_T::passes + pass]);
            }
            acc[o] = sum;
            if (q == CONFIG_T::row_passes - 1) {
                if (CONFIG_T::relu && sum < 0) {
                    sum = 0;
                }
                results[o][group] = sum;
            }
        }
        if (q == CONFIG_T::row_passes - 1) {
            q = 0;
            group++;
        } else {
            q++;
        }
    }

    head = head == D - 1 ? head_t(0) : head_t(head + 1);
    if (filled < history) {
        filled++;
    }
    cached_sample<res_T, CONFIG_T::n_out> result;
    result.start = sample.start;
    for (unsigned g = 0; g < CONFIG_T::output_passes; g++) {
        NNET_CACHED_HLS(HLS UNROLL)
        for (unsigned o = 0; o < OUTPUTS; o++) {
            NNET_CACHED_HLS(HLS UNROLL)
            if (g * OUTPUTS + o < CONFIG_T::n_out) {
                result.data[g * OUTPUTS + o] = results[o][g];
            }
        }
    }
    output.write(result);
}

} // namespace nnet

#endif
