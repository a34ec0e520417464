// Weight arrays for C simulation only (never included under __SYNTHESIS__): each word set
// from its bit pattern, given as an integer, in one loop at program start.
//
// hls4ml initialises a weight array with one literal per word (`weight_t w[N] = {0.25, ...}`),
// and each becomes an ap_fixed constructor call in a static initialiser that g++ optimises
// in time growing faster than the array. pipeline/hls/weights.py keeps that definition for
// synthesis and gives C simulation the integers instead: plain constant data, and the loops
// below, compiled once per type. A weight header's `static const bool w2_loaded =
// cached_load_fixed(w2, w2_words);` runs before main, so before the top level reads w2.
#ifndef NNET_CACHED_WEIGHTS_H_
#define NNET_CACHED_WEIGHTS_H_

#ifndef __SYNTHESIS__

namespace nnet {

// ap_(u)fixed words from their bit patterns (value x 2^fraction bits; a negative one in
// two's complement): range() = word keeps the low bits, exactly the word's pattern.
template <class T, class word_T, unsigned N>
bool cached_load_fixed(T (&weights)[N], const word_T (&words)[N]) {
    for (unsigned i = 0; i < N; i++) {
        weights[i].range() = words[i];
    }
    return true;
}

// Po2 weights (hls4ml's exponent type: sign 1 is positive, weight the shift).
template <class T, unsigned N>
bool cached_load_po2(T (&weights)[N], const int (&signs)[N], const int (&shifts)[N]) {
    for (unsigned i = 0; i < N; i++) {
        weights[i].sign = signs[i];
        weights[i].weight = shifts[i];
    }
    return true;
}

} // namespace nnet

#endif

#endif
