// The C simulation as a program, for Python (pipeline/hls/simulation.py): reads samples from
// stdin, ${n_in} native-endian doubles each, until the end of the input; streams them through
// ${project}, one sample per call of the top function, with the caches reset at the first
// sample; writes ${n_out} doubles per sample to stdout. Each input is quantised to input_t as
// the hardware input port would be. Run as a process of its own, so that a crash of the
// design (an ap_types assertion, a segfault) ends this program, never the caller.
#include <cstdio>

#include "firmware/${project}.h"

int main() {
    static const size_t block = 4096;
    static double x[block * ${n_in}];
    static double y[block * ${n_out}];
    bool first = true;
    for (;;) {
        const size_t values = std::fread(x, sizeof(double), block * ${n_in}, stdin);
        if (values % ${n_in} != 0) {
            std::fprintf(stderr, "stdin: the input ends inside a sample (%zu values, %u per sample)\n",
                         values, ${n_in});
            return 2;
        }
        const size_t samples = values / ${n_in};
        for (size_t s = 0; s < samples; s++) {
            ${reset_t} reset[1];
            ${input_t} in[${n_in}];
            ${result_t} out[${n_out}];
            reset[0] = first ? 1 : 0;
            first = false;
            for (unsigned i = 0; i < ${n_in}; i++) {
                in[i] = x[s * ${n_in} + i];
            }
            ${project}(in, reset, out);
            for (unsigned o = 0; o < ${n_out}; o++) {
                y[s * ${n_out} + o] = out[o].to_double();
            }
        }
        if (std::fwrite(y, sizeof(double), samples * ${n_out}, stdout) != samples * ${n_out}) {
            std::fprintf(stderr, "stdout: write failed\n");
            return 3;
        }
        if (values < block * ${n_in}) {
            break;
        }
    }
    if (std::ferror(stdin)) {
        std::fprintf(stderr, "stdin: read failed\n");
        return 2;
    }
    return std::fflush(stdout) == 0 ? 0 : 3;
}
