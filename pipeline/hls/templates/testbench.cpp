// Streaming testbench for ${project}, written by pipeline/hls: C simulation with g++ (csim.sh)
// or with ${tool} (build_prj.tcl csim=1), and C/RTL co-simulation (build_prj.tcl cosim=1).
//
// Each line of the input file is one AXI4-Stream transfer: the start-of-stream flag (TUSER,
// 0 or 1), then the ${n_in} input values. The expected file holds the ${n_out} output values per
// line from the bit-exact fixed-point reference, each signal computed from its flag. Every
// output word must equal the expected one, and every output's TUSER its input's flag. C
// simulation streams all of tb_data/tb_*.dat; co-simulation (RTL_SIM) the short stimulus
// tb_data/cosim_*.dat (two pieces of test signals, each from a flag), or all of tb_data with
// COSIM_FULL. Outputs go to tb_data/csim_results.log (tb_data/rtl_cosim_results.log under
// co-simulation). Exit status 0 only if nothing differed.
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

#include "firmware/${project}.h"

#if defined(RTL_SIM) && !defined(COSIM_FULL)
static const char *const input_path = "tb_data/cosim_input_features.dat";
static const char *const expected_path = "tb_data/cosim_output_predictions.dat";
#else
static const char *const input_path = "tb_data/tb_input_features.dat";
static const char *const expected_path = "tb_data/tb_output_predictions.dat";
#endif
#ifdef RTL_SIM
static const char *const results_path = "tb_data/rtl_cosim_results.log";
#else
static const char *const results_path = "tb_data/csim_results.log";
#endif

typedef nnet::cached_lanes<input_t, ${n_in}, ${in_lane}> input_lanes;
typedef nnet::cached_lanes<result_t, ${n_out}, ${out_lane}> output_lanes;

int main() {
    std::ifstream inputs(input_path);
    std::ifstream expected(expected_path);
    if (!inputs || !expected) {
        std::cerr << input_path << " or " << expected_path << ": cannot open"
                  << " (run from the project folder)" << std::endl;
        return 2;
    }
    std::ofstream results(results_path);
    results << std::setprecision(17);

    hls::stream<input_axis_t> s_axis("s_axis");
    hls::stream<output_axis_t> m_axis("m_axis");
    unsigned long samples = 0, mismatches = 0, flag_mismatches = 0;
    std::string input_line, expected_line;
    while (std::getline(inputs, input_line)) {
        if (!std::getline(expected, expected_line)) {
            std::cerr << expected_path << ": fewer lines than " << input_path << std::endl;
            return 2;
        }
        std::istringstream input_values(input_line), expected_values(expected_line);
        double flag = 0, value = 0;
        input_t x[${n_in}];
        input_values >> flag;
        for (unsigned i = 0; i < ${n_in}; i++) {
            input_values >> value;
            x[i] = value;
        }
        if (!input_values) {
            std::cerr << input_path << ": line " << samples + 1 << ": expected " << 1 + ${n_in}
                      << " numbers" << std::endl;
            return 2;
        }
        input_axis_t word;
        input_lanes::pack<${in_signed}>(x, word);
        word.user = flag != 0 ? 1 : 0;
        word.keep = ~decltype(word.keep)(0);
        word.strb = ~decltype(word.strb)(0);
        word.last = 0;
        s_axis.write(word);
        ${project}(s_axis, m_axis);
        if (m_axis.empty()) {
            std::cerr << "sample " << samples << ": no output" << std::endl;
            return 2;
        }
        const output_axis_t out = m_axis.read();
        result_t y[${n_out}];
        output_lanes::unpack(out, y);
        if ((out.user == 1) != (flag != 0)) {
            if (flag_mismatches < 10) {
                std::cerr << "sample " << samples << ": TUSER " << out.user << ", expected "
                          << flag << std::endl;
            }
            flag_mismatches++;
        }
        for (unsigned o = 0; o < ${n_out}; o++) {
            expected_values >> value;
            if (y[o] != result_t(value)) {
                if (mismatches < 10) {
                    std::cerr << "sample " << samples << " output " << o << ": " << y[o].to_double()
                              << ", expected " << value << std::endl;
                }
                mismatches++;
            }
            results << y[o].to_double() << (o + 1 < ${n_out} ? " " : "\n");
        }
        samples++;
    }
    std::cout << samples << " samples, " << mismatches << " output words and " << flag_mismatches
              << " start-of-stream flags differ from tb_data" << std::endl;
    return samples > 0 && mismatches == 0 && flag_mismatches == 0 ? 0 : 1;
}
