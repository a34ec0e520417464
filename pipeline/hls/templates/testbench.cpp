// Streaming testbench for ${project}, written by pipeline/hls (C simulation with g++ via
// csim.sh, or with vitis_hls via build_prj.tcl csim=1).
//
// tb_data/tb_input_features.dat: one sample per line, the reset flag (0 or 1) then the
// ${n_in} input values. tb_data/tb_output_predictions.dat: the expected ${n_out} output values
// per line, from the bit-exact fixed-point reference. Every output word must equal the
// expected one exactly; the outputs go to tb_data/csim_results.log (rtl_cosim_results.log
// under cosim, so that build_prj.tcl validation=1 can compare the two). Exit status 0 only if
// every word matched.
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

#include "firmware/${project}.h"

int main() {
    std::ifstream inputs("tb_data/tb_input_features.dat");
    std::ifstream expected("tb_data/tb_output_predictions.dat");
    if (!inputs || !expected) {
        std::cerr << "tb_data/tb_input_features.dat or tb_data/tb_output_predictions.dat: cannot open"
                  << " (run from the project folder)" << std::endl;
        return 2;
    }
#ifdef RTL_SIM
    std::ofstream results("tb_data/rtl_cosim_results.log");
#else
    std::ofstream results("tb_data/csim_results.log");
#endif
    results << std::setprecision(17);

    unsigned long samples = 0, mismatches = 0;
    std::string input_line, expected_line;
    while (std::getline(inputs, input_line)) {
        if (!std::getline(expected, expected_line)) {
            std::cerr << "tb_data/tb_output_predictions.dat: fewer lines than the inputs" << std::endl;
            return 2;
        }
        std::istringstream input_values(input_line), expected_values(expected_line);
        double value = 0;
        ${reset_t} reset[1];
        ${input_t} x[${n_in}];
        ${result_t} y[${n_out}];
        input_values >> value;
        reset[0] = value;
        for (unsigned i = 0; i < ${n_in}; i++) {
            input_values >> value;
            x[i] = value;
        }
        if (!input_values) {
            std::cerr << "tb_data/tb_input_features.dat: line " << samples + 1 << ": expected "
                      << 1 + ${n_in} << " numbers" << std::endl;
            return 2;
        }
        ${project}(x, reset, y);
        for (unsigned o = 0; o < ${n_out}; o++) {
            expected_values >> value;
            if (y[o] != ${result_t}(value)) {
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
    std::cout << samples << " samples, " << mismatches << " output words differ from tb_data"
              << std::endl;
    return samples > 0 && mismatches == 0 ? 0 : 1;
}
