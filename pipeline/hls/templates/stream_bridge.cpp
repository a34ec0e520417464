// Whole-signal entry point of the C simulation for Python (pipeline.hls, via ctypes): one
// call streams n_samples through ${project}, one sample per call of the top function, with
// the caches reset at the first sample. x is (n_samples, ${n_in}), y is (n_samples, ${n_out}),
// both row-major doubles; x is quantised to input_t as the hardware input port would be.
#include "firmware/${project}.h"

extern "C" void ${project}_stream(const double *x, double *y, unsigned long n_samples) {
    for (unsigned long t = 0; t < n_samples; t++) {
        ${reset_t} reset[1];
        ${input_t} in[${n_in}];
        ${result_t} out[${n_out}];
        reset[0] = t == 0 ? 1 : 0;
        for (unsigned i = 0; i < ${n_in}; i++) {
            in[i] = x[t * ${n_in} + i];
        }
        ${project}(in, reset, out);
        for (unsigned o = 0; o < ${n_out}; o++) {
            y[t * ${n_out} + o] = out[o].to_double();
        }
    }
}
