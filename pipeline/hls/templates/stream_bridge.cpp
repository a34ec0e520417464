// The C simulation as a program, for Python (pipeline/hls/simulation.py). Reads samples from
// stdin until the end of the input, 1 + ${n_in} native-endian doubles each: the
// start-of-stream flag (TUSER), then the inputs, each quantised to input_t as the hardware
// port's word would be. Streams each sample through ${project}'s AXI4-Stream ports, one call
// of the top function per sample, and writes 1 + ${n_out} doubles per sample to stdout: the
// output's TUSER, then its outputs. Run as a process of its own, so that a crash of the
// design (an ap_types assertion, a segfault) ends this program, never the caller.
#include <cstdio>

#include "firmware/${project}.h"

typedef nnet::cached_lanes<input_t, ${n_in}, ${in_lane}> input_lanes;
typedef nnet::cached_lanes<result_t, ${n_out}, ${out_lane}> output_lanes;

int main() {
    static const size_t in_values = 1 + ${n_in}, out_values = 1 + ${n_out};
    static const size_t block = 4096;
    static double x[block * in_values];
    static double y[block * out_values];
    hls::stream<input_axis_t> s_axis("s_axis");
    hls::stream<output_axis_t> m_axis("m_axis");
    for (;;) {
        const size_t values = std::fread(x, sizeof(double), block * in_values, stdin);
        if (values % in_values != 0) {
            std::fprintf(stderr, "stdin: the input ends inside a sample (%zu values, %zu per sample)\n",
                         values, in_values);
            return 2;
        }
        const size_t samples = values / in_values;
        for (size_t s = 0; s < samples; s++) {
            const double *sample = x + s * in_values;
            input_t in[${n_in}];
            for (unsigned i = 0; i < ${n_in}; i++) {
                in[i] = sample[1 + i];
            }
            input_axis_t word;
            input_lanes::pack<${in_signed}>(in, word);
            word.user = sample[0] != 0 ? 1 : 0;
            word.keep = ~decltype(word.keep)(0);
            word.strb = ~decltype(word.strb)(0);
            word.last = 0;
            s_axis.write(word);
            ${project}(s_axis, m_axis);
            const output_axis_t out_word = m_axis.read();
            result_t out[${n_out}];
            output_lanes::unpack(out_word, out);
            double *result = y + s * out_values;
            result[0] = out_word.user == 1 ? 1.0 : 0.0;
            for (unsigned o = 0; o < ${n_out}; o++) {
                result[1 + o] = out[o].to_double();
            }
        }
        if (std::fwrite(y, sizeof(double), samples * out_values, stdout) != samples * out_values) {
            std::fprintf(stderr, "stdout: write failed\n");
            return 3;
        }
        if (values < block * in_values) {
            break;
        }
    }
    if (std::ferror(stdin)) {
        std::fprintf(stderr, "stdin: read failed\n");
        return 2;
    }
    return std::fflush(stdout) == 0 ? 0 : 3;
}
